package reconcile

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Directory reads the desired membership: the effective, active members of Authentik groups,
// mapped to Matrix IDs. A group that could not be read completely comes back with Err set.
type Directory interface {
	Members(ctx context.Context, groups []string) map[string]plan.GroupMembers
}

// Rooms reads and changes Matrix rooms.
type Rooms interface {
	RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error)
	// UserExists reports whether a local account exists, without ever creating one.
	UserExists(ctx context.Context, user id.UserID) (bool, error)
	Invite(ctx context.Context, room id.RoomID, user id.UserID, reason string) error
	// ForceJoin joins the user without their consent. alreadyInvited lets a route skip its invite.
	ForceJoin(ctx context.Context, room id.RoomID, user id.UserID, alreadyInvited bool) error
	Unban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error
	Kick(ctx context.Context, room id.RoomID, user id.UserID, reason string) error
	Ban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error
}

// Store is the state store: everything the reconciler keeps between cycles. It is one contract,
// not a set of optional parts a store may or may not have: the store package implements all of it
// on SQLite and on Postgres, and its conformance suite (store/storetest) checks every part on
// both. The parts are named for what they keep.
type Store interface {
	MemberStore
	MemberBatchStore
	PowerStore
	ExemptionStore
	AccountStore
	ProfileStore
	StateCounter
}

// MemberStore remembers managed members and pending removals between cycles. Every method is
// one transaction.
type MemberStore interface {
	LoadState(ctx context.Context) (plan.State, error)
	PutMember(ctx context.Context, m plan.ManagedMember) error
	// ForgetMember deletes the member and any pending removal of theirs.
	ForgetMember(ctx context.Context, room id.RoomID, user id.UserID) error
	PutPending(ctx context.Context, p plan.PendingRemoval) error
	DeletePending(ctx context.Context, room id.RoomID, user id.UserID) error
	// RecordRemoval stores the removal in the history and deletes the member and their pending
	// removal, all at once.
	RecordRemoval(ctx context.Context, r plan.Removal) error
	// SettleRemovals stops watching the removals of user from room made up to upTo for an undo
	// (plan.SettleRemoval): the room showed another membership since.
	SettleRemovals(ctx context.Context, room id.RoomID, user id.UserID, upTo time.Time) error
	// MarkMissingAccount notes that a user has no Matrix account; first is true the first time
	// (so it is logged once). ClearMissingAccount forgets it once the account exists.
	MarkMissingAccount(ctx context.Context, user id.UserID) (first bool, err error)
	ClearMissingAccount(ctx context.Context, user id.UserID) error
}

// MemberBatchStore records many managed members in one transaction: a first cycle tracks every
// member of every room.
type MemberBatchStore interface {
	PutMembers(ctx context.Context, ms []plan.ManagedMember) error
}

// PowerStore remembers the power levels the bot gave.
type PowerStore interface {
	PowerGrants(ctx context.Context) (map[plan.RoomUser]plan.PowerGrant, error)
	// PutPowerGrant creates or replaces the grant of one user in one room.
	PutPowerGrant(ctx context.Context, g plan.PowerGrant) error
	DeletePowerGrant(ctx context.Context, room id.RoomID, user id.UserID) error
}

// ExemptionStore keeps the exemptions admins made. They are honoured even by a bot without an
// admin room (no Steering): taking the admin room out of the config must not make an exempted
// user removable.
type ExemptionStore interface {
	Exemptions(ctx context.Context) ([]plan.Exemption, error)
	DeleteExemption(ctx context.Context, room id.RoomID, user id.UserID) (bool, error)
}

// AccountStore keeps the records of accounts seen deactivated (see AccountRecord).
type AccountStore interface {
	AccountRecords(ctx context.Context) (map[id.UserID]plan.AccountRecord, error)
	// PutAccountRecord creates or replaces the record of one user.
	PutAccountRecord(ctx context.Context, r plan.AccountRecord) error
	DeleteAccountRecord(ctx context.Context, user id.UserID) error
}

// ProfileStore remembers the value last synced to each profile field.
type ProfileStore interface {
	SyncedProfiles(ctx context.Context) (map[plan.ProfileKey]string, error)
	PutSyncedProfile(ctx context.Context, user id.UserID, field plan.ProfileField, value string) error
}

// StateCounter counts the store's records per room without loading them: loading the whole state
// again only to count it doubled the memory a large installation needs at the end of each cycle.
type StateCounter interface {
	// CountState returns the number of managed members and of pending removals in each room that
	// has any.
	CountState(ctx context.Context) (members, pending map[id.RoomID]int, err error)
}

// Backuper takes a backup of the state before destructive actions and returns its path.
type Backuper interface {
	Backup(ctx context.Context) (string, error)
}

// Accounts acts on Matrix accounts rather than on room memberships: the account lifecycle of
// users deactivated in Authentik. Synapse's admin API implements it, and so does Matrix
// Authentication Service's when Synapse delegates its accounts to MAS.
type Accounts interface {
	// SetLocked locks (true) or unlocks (false) the account; an account already in that state
	// is no error.
	SetLocked(ctx context.Context, user id.UserID, locked bool) error
	// Logout ends every session of the user: their devices' access tokens stop working.
	Logout(ctx context.Context, user id.UserID) error
}

// Profiles reads and sets Matrix profiles, for profile sync.
type Profiles interface {
	DisplayName(ctx context.Context, user id.UserID) (string, error)
	SetDisplayName(ctx context.Context, user id.UserID, name string) error
}
