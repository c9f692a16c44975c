package plan

import (
	"time"

	"maunium.net/go/mautrix/id"
)

// JoinMethod says how a group member is brought into a room.
type JoinMethod string

const (
	// MethodInvite sends an invite the user may accept or decline.
	MethodInvite JoinMethod = "invite"
	// MethodForce joins the user without asking (admin join API or appservice puppet join).
	MethodForce JoinMethod = "force"
)

// RemoveAction says what happens to a user whose grace period has run out.
type RemoveAction string

const (
	RemoveKick RemoveAction = "kick"
	RemoveBan  RemoveAction = "ban"
)

// Mapping ties one Authentik group to one Matrix room or space.
type Mapping struct {
	Group  string
	Room   id.RoomID
	Method JoinMethod
	// Rejoin makes a force mapping join users back who left the room on their own.
	Rejoin bool
	// PowerLevel is the level the group's members get in the room (see powerlevels.go); 0 sets
	// none.
	PowerLevel int
	MappingOverrides
	SpaceOptions
}

// Policy is what the operator configured: the mappings and the removal rules.
type Policy struct {
	Mappings     []Mapping
	GracePeriod  time.Duration
	RemoveAction RemoveAction
	// Bot is the bot's own user ID: never removed, and the sender that marks its own kicks and bans.
	Bot id.UserID
	// Released are rooms the bot managed but no mapping covers any more (see ReleasedRoom).
	Released []ReleasedRoom
	// Protected are users never kicked, banned, demoted or locked (protected_users); nil
	// protects nobody.
	Protected *Protection
	// Deactivated says what happens to users deactivated in Authentik (see lifecycle.go);
	// Profiles which profile fields follow Authentik (see profile.go).
	Deactivated DeactivationPolicy
	Profiles    ProfilePolicy
}

// Member is one effective member of a group, already mapped to a Matrix ID.
type Member struct {
	UserID id.UserID
	// Username is the Authentik username, for logs and reasons.
	Username string
	// SourceID is the directory's own ID of the user (Authentik's pk), by which the account is
	// looked up directly once the user has left every group (see accountLookups); may be empty.
	SourceID string
}

// GroupMembers is what the directory knows of one group in this cycle.
type GroupMembers struct {
	Group   string
	Members []Member
	// Via names the subgroup through which each member is in the group, when it is not a
	// direct member (the nearest such subgroup); empty when every member is direct, as in a
	// group without subgroups, which then costs nothing. Only Explain reads it.
	Via Provenance
	// Profiles holds, with profile sync on, what Authentik says each member's Matrix profile
	// should be; nil otherwise.
	Profiles map[id.UserID]Profile
	// Err is set when the membership could not be read completely: nothing may then be removed on
	// its account. Members may still hold the members that were read (a user whose Matrix ID
	// could not be worked out is left out, and the group is marked incomplete this way).
	Err error
}

// Known reports whether the group's membership was read completely.
func (g GroupMembers) Known() bool { return g.Err == nil }

// Membership values as the Matrix spec spells them.
const (
	MembershipJoin   = "join"
	MembershipInvite = "invite"
	MembershipLeave  = "leave"
	MembershipBan    = "ban"
	MembershipKnock  = "knock"
)

// RoomMember is one user's current membership event in a room.
type RoomMember struct {
	Membership string
	// Sender set this membership: the user themself for a join or leave, someone else for an
	// invite, kick or ban.
	Sender id.UserID
	// Since is the membership event's origin_server_ts.
	Since time.Time
}

// PowerLevels is the part of m.room.power_levels the planner needs.
type PowerLevels struct {
	Users        map[id.UserID]int
	UsersDefault int
	Invite       int
	Kick         int
	Ban          int
	// ChangePowerLevels is the level needed to send m.room.power_levels.
	ChangePowerLevels int
	// Creators have unlimited power (room version 12 and later).
	Creators map[id.UserID]bool
}

// Unlimited is the level of a room creator in room versions that give creators infinite power.
const Unlimited = int(^uint(0) >> 1)

// Level returns a user's power level.
func (p PowerLevels) Level(user id.UserID) int {
	if p.Creators[user] {
		return Unlimited
	}
	if l, ok := p.Users[user]; ok {
		return l
	}
	return p.UsersDefault
}

// RoomState is what the homeserver says of one room in this cycle.
type RoomState struct {
	Members     *RoomMembers
	PowerLevels PowerLevels
}

// RoomObservation is a room's state, or why it could not be read.
type RoomObservation struct {
	State RoomState
	Err   error
	// NotJoined is set when the read failed because the bot is not in the room: with
	// Observed.CanJoin the cycle tries to accept an invite the bot may have (JoinRoom).
	NotJoined bool
}

// Observed is everything a cycle read from the outside world.
type Observed struct {
	// Policy is the policy the cycle plans with: the configured one with its spaces expanded
	// and its released rooms listed.
	Policy Policy
	// Notes are problems met while working Policy out (an unreadable space…), shown as warnings.
	Notes  []Warning
	Groups map[string]GroupMembers
	Rooms  map[id.RoomID]RoomObservation
	// Accounts is what Authentik says of deactivated and deleted accounts (see lifecycle.go).
	Accounts AccountsObserved
	// Spaces is what the cycle read of spaces and what the store keeps of them and of the mapped
	// rooms, for the records a cycle keeps up to date (see planSpaceRecords).
	Spaces SpacesObserved
	// CanJoin says the bot can accept its invites to rooms: JoinRoom is planned for a mapped room
	// it is not in.
	CanJoin bool
}

// RoomUser names one user in one room.
type RoomUser struct {
	Room id.RoomID
	User id.UserID
}

// ManagedMember is a user the bot manages in a room: it saw them in a mapped group. Only managed
// users are ever removed.
type ManagedMember struct {
	Room id.RoomID
	User id.UserID
	// DesiredSince is when the user was last seen entering one of the room's groups; zero while
	// they are out of every group. A leave newer than this means the user left or declined on
	// their own and is not invited again.
	DesiredSince time.Time
	// AddedAt is when the bot last invited or joined the user; zero if it never did.
	AddedAt time.Time
}

// PendingRemoval is a removal waiting for its grace period to end.
type PendingRemoval struct {
	Room      id.RoomID
	User      id.UserID
	DueAt     time.Time
	Reason    string
	CreatedAt time.Time
	// AwaitingRead is set while the room's groups were unknown in a cycle since the removal was
	// scheduled: the grace period starts over (DueAt a full grace period from then) at the next
	// complete read. See RestartGrace.
	AwaitingRead bool
}

// Removal is a removal the bot carried out, kept as history.
type Removal struct {
	Room   id.RoomID
	User   id.UserID
	Action RemoveAction
	Reason string
	At     time.Time
	// Replaced is the membership event the removal replaced, as the cycle that planned it read
	// it; zero when unknown (a removal found done after a restart). See planUndone.
	Replaced RoomMember
}

// State is what the store remembers between cycles.
type State struct {
	Members *MemberRecords
	Pending map[RoomUser]PendingRemoval
	// Exempt holds the users the bot must not remove; a key with an empty Room covers every room.
	Exempt map[RoomUser]Exemption
	// Grants holds the power levels the bot gave (see PowerGrant); nil when none was loaded.
	Grants map[RoomUser]PowerGrant
	// Accounts holds the records of users seen deactivated (see AccountRecord); Profiles the
	// profile values last synced. Each is nil when none was loaded.
	Accounts map[id.UserID]AccountRecord
	Profiles map[ProfileKey]string
	// Removals holds the recent removals (see RecentRemovals) whose replaced membership is
	// known, the newest per room and user; nil when none was loaded.
	Removals map[RoomUser]Removal
}

// RecentRemovals is how far back State.Removals reaches: a removal the homeserver undid shows at
// the next read of the room, and a bot stopped for longer than this no longer repeats it.
const RecentRemovals = 24 * time.Hour

// NewState returns an empty state.
func NewState() State {
	return State{Members: NewMemberRecords(), Pending: map[RoomUser]PendingRemoval{}, Exempt: map[RoomUser]Exemption{}}
}
