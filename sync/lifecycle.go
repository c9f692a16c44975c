package sync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"maunium.net/go/mautrix/id"
)

// The account lifecycle of users deactivated in (or deleted from) Authentik. A disabled account
// is a security event: by default such a managed user leaves every managed room at the next
// cycle, without the grace period, still through the mass-removal guard and the backup like
// every removal. The bot may also lock their Matrix account after a while (and unlock it, if it
// locked it, when they are active again) and end their sessions once.
//
// Nobody is treated as deactivated on incomplete data: the listing of inactive users must have
// been read completely this cycle, and "deleted" is only concluded from a complete listing of
// every user, read only in the cycles where someone's removal is about to be scheduled.

// Reasons of lifecycle removals; a pending removal with one of them is a lifecycle removal.
const (
	ReasonDeactivated = "account deactivated in Authentik"
	ReasonDeleted     = "account deleted from Authentik"
)

// DeactivationPolicy is what happens to a managed user whose Authentik account is deactivated
// or deleted. The zero value removes them at the next cycle and neither locks nor logs out.
type DeactivationPolicy struct {
	// AfterGrace keeps the normal grace period for them instead of removing them at once.
	AfterGrace bool
	// LockAfter locks the Matrix account once the user has been deactivated that long; nil
	// never locks.
	LockAfter *time.Duration
	// Logout ends every session of the user once, when the deactivation is first seen.
	Logout bool
}

// acts reports whether deactivations change anything the bot does.
func (d DeactivationPolicy) acts() bool { return !d.AfterGrace || d.LockAfter != nil || d.Logout }

// AccountStatus is what Authentik says of one account this cycle.
type AccountStatus int

const (
	// AccountUnknown: nothing was read that tells.
	AccountUnknown AccountStatus = iota
	// AccountActive: seen active (in a group listing, or in the listing of every user).
	AccountActive
	// AccountInactive: listed with is_active false.
	AccountInactive
	// AccountGone: absent from a complete listing of every user: deleted.
	AccountGone
)

func (s AccountStatus) String() string {
	return [...]string{"unknown", "active", "inactive", "gone"}[s]
}

// AccountDirectory tells which Authentik accounts are deactivated or gone. usermap.Directory
// implements it with the same Matrix ID mapping as group members.
type AccountDirectory interface {
	// InactiveUsers lists the users Authentik holds as inactive, by Matrix ID (the value is the
	// Authentik username). An error means nobody's status is known.
	InactiveUsers(ctx context.Context) (map[id.UserID]string, error)
	// AccountStatuses reads the listing of every user and says of each of users whether
	// Authentik holds them active, inactive or not at all (AccountGone). An error, or a listing
	// that could not be mapped completely, leaves everyone unknown.
	AccountStatuses(ctx context.Context, users []id.UserID) (map[id.UserID]AccountStatus, error)
}

// AccountsObserved is what a cycle learned of Authentik accounts besides group membership.
type AccountsObserved struct {
	// Read is set when the listing of inactive users was read completely; without it nobody is
	// treated as deactivated this cycle.
	Read bool
	// Err says why the listing was not read; nil when it was, or was not needed.
	Err error
	// Inactive are the users listed as inactive, by Matrix ID, with their Authentik username.
	Inactive map[id.UserID]string
	// Lookup holds the statuses the listing of every user gave (see accountLookups); nil when
	// none was needed or the read failed (LookupErr).
	Lookup    map[id.UserID]AccountStatus
	LookupErr error
}

// AccountRecord is what the store remembers of a managed user seen deactivated or deleted.
type AccountRecord struct {
	User id.UserID
	// DeactivatedAt is when the bot first saw the account deactivated or deleted; lock_after
	// counts from it.
	DeactivatedAt time.Time
	// Deleted is set when the account was gone from Authentik rather than inactive.
	Deleted bool
	// LockedByBot is set just before the bot locks the account: only such accounts are
	// unlocked when the user is active again. LockedAt is when the lock was done (by the bot,
	// or found set by someone else, LockedByBot unset); zero while no lock is done.
	LockedByBot bool
	LockedAt    time.Time
	// LoggedOutAt is when the bot ended the user's sessions; zero if it has not.
	LoggedOutAt time.Time
}

// AccountStore keeps the account records. A store without it keeps no lifecycle: deactivated
// users are still removed, but never locked or logged out.
type AccountStore interface {
	AccountRecords(ctx context.Context) (map[id.UserID]AccountRecord, error)
	// PutAccountRecord creates or replaces the record of one user.
	PutAccountRecord(ctx context.Context, r AccountRecord) error
	DeleteAccountRecord(ctx context.Context, user id.UserID) error
}

// LockReader is an Accounts that can tell whether an account is locked, so that the bot never
// takes for its own a lock someone else set, and unlocks only what it locked.
type LockReader interface {
	Locked(ctx context.Context, user id.UserID) (bool, error)
}

// TrackDeactivation records (or updates) that a managed user's account is deactivated or gone
// in Authentik. It writes to the store only.
type TrackDeactivation struct {
	Record AccountRecord
	Reason string
}

// ForgetDeactivation drops the record of a user active again in Authentik whose account the bot
// did not lock.
type ForgetDeactivation struct {
	User   id.UserID
	Reason string
}

// LockAccount locks the Matrix account of a user deactivated for lock_after.
type LockAccount struct {
	User   id.UserID
	Reason string
}

// UnlockAccount unlocks an account the bot locked, once the user is active again in Authentik,
// and then drops their record.
type UnlockAccount struct {
	User   id.UserID
	Reason string
}

// EndSessions logs the user out of every device, once, when their deactivation is first seen.
type EndSessions struct {
	User   id.UserID
	Reason string
}

func (a TrackDeactivation) Target() RoomUser  { return RoomUser{User: a.Record.User} }
func (a ForgetDeactivation) Target() RoomUser { return RoomUser{User: a.User} }
func (a LockAccount) Target() RoomUser        { return RoomUser{User: a.User} }
func (a UnlockAccount) Target() RoomUser      { return RoomUser{User: a.User} }
func (a EndSessions) Target() RoomUser        { return RoomUser{User: a.User} }

func (TrackDeactivation) Kind() string  { return "track_deactivation" }
func (ForgetDeactivation) Kind() string { return "forget_deactivation" }
func (LockAccount) Kind() string        { return "lock_account" }
func (UnlockAccount) Kind() string      { return "unlock_account" }
func (EndSessions) Kind() string        { return "logout" }

func (a TrackDeactivation) Why() string  { return a.Reason }
func (a ForgetDeactivation) Why() string { return a.Reason }
func (a LockAccount) Why() string        { return a.Reason }
func (a UnlockAccount) Why() string      { return a.Reason }
func (a EndSessions) Why() string        { return a.Reason }

// phaseAccount holds the writes to accounts rather than rooms (locks, logouts, profiles): after
// the removals, so that a user is out of the rooms before their account is touched.
const phaseAccount = phaseRemove + 1

func (TrackDeactivation) phase() int  { return phaseState }
func (ForgetDeactivation) phase() int { return phaseState }
func (LockAccount) phase() int        { return phaseAccount }
func (UnlockAccount) phase() int      { return phaseAccount }
func (EndSessions) phase() int        { return phaseAccount }

// lifecycleAction marks the actions applied by applyLifecycle.
type lifecycleAction interface {
	Action
	isLifecycle()
}

func (TrackDeactivation) isLifecycle()  {}
func (ForgetDeactivation) isLifecycle() {}
func (LockAccount) isLifecycle()        {}
func (UnlockAccount) isLifecycle()      {}
func (EndSessions) isLifecycle()        {}

// IsAccountWrite reports whether an action changes a Matrix account (a lock, a logout, a
// profile) rather than a room. Such writes do not count towards a homeserver outage: they fail
// for reasons of their own (the bot not a server admin) that say nothing about the rooms.
func IsAccountWrite(a Action) bool { return a.phase() == phaseAccount }

// heldWithRemovals reports whether an action waits, like the removals, when the mass-removal
// guard holds a cycle: if Authentik suddenly showed most users deactivated, neither their
// rooms nor their sessions and accounts should go before an admin confirms.
func heldWithRemovals(a Action) bool {
	switch a.(type) {
	case LockAccount, EndSessions:
		return true
	}
	return false
}

// laneOf is the key that serialises an action's writes when a phase runs concurrently: its
// room, or, for an account write, its user, so that accounts are worked on in parallel while
// one user's writes keep their order.
func laneOf(act Action) id.RoomID {
	t := act.Target()
	if t.Room == "" && t.User != "" {
		return id.RoomID("\x00" + string(t.User))
	}
	return t.Room
}

// lifecycleView answers, during one plan, what Authentik says of an account: built once from
// the observation, for the users it concerns only (those listed inactive, looked up, or with a
// record), so that it stays small however many users the groups hold.
type lifecycleView struct {
	acc     AccountsObserved
	records map[id.UserID]AccountRecord
	// active holds the users of interest seen active in a group listing this cycle.
	active map[id.UserID]bool
}

func newLifecycleView(obs Observed, state State) lifecycleView {
	v := lifecycleView{acc: obs.Accounts, records: state.Accounts}
	if len(v.acc.Inactive)+len(v.acc.Lookup)+len(v.records) == 0 {
		return v
	}
	v.active = map[id.UserID]bool{}
	for _, g := range obs.Groups {
		for _, m := range g.Members {
			if v.concerns(m.UserID) {
				v.active[m.UserID] = true
			}
		}
	}
	return v
}

func (v lifecycleView) concerns(u id.UserID) bool {
	if _, ok := v.acc.Inactive[u]; ok {
		return true
	}
	if _, ok := v.acc.Lookup[u]; ok {
		return true
	}
	_, ok := v.records[u]
	return ok
}

// status is what this cycle's reads say of u's account. An active listing anywhere wins (it is
// the only positive proof of a live account: an inactive user is never an effective member);
// a record of a deletion stands until then, as long as Authentik answered this cycle.
func (v lifecycleView) status(u id.UserID) AccountStatus {
	switch {
	case v.active[u]:
		return AccountActive
	case !v.acc.Read:
		return AccountUnknown
	}
	if _, ok := v.acc.Inactive[u]; ok {
		return AccountInactive
	}
	if s, ok := v.acc.Lookup[u]; ok {
		return s
	}
	if rec, ok := v.records[u]; ok && rec.Deleted {
		return AccountGone
	}
	return AccountUnknown
}

// deactivated reports whether u's account is deactivated or gone, with the reason to give.
func (v lifecycleView) deactivated(u id.UserID) (string, bool) {
	switch v.status(u) {
	case AccountInactive:
		return ReasonDeactivated, true
	case AccountGone:
		return ReasonDeleted, true
	}
	return "", false
}

// isLifecycleReason tells a lifecycle removal from one for leaving a group.
func isLifecycleReason(reason string) bool {
	return reason == ReasonDeactivated || reason == ReasonDeleted
}

// planLifecycleRemoval decides the removal of a managed user who is in none of the room's groups
// when their account's status changes it; planUndesired calls it once exemptions, invite-only
// mappings and protection have had their say. It reports whether it decided; otherwise the
// normal grace path goes on. groupReason is the reason that path gives.
//
// A deactivated or deleted user is removed now: the pending removal is (re)written due now
// first, so that a removal the guard or a failed backup holds stays due, and a crash between the
// kick and its record is recognised (removalAlreadyDone). A lifecycle removal whose user is no
// longer known to be deactivated goes back to the grace path, counted from when it was made.
func (p *Plan) planLifecycleRemoval(policy Policy, room id.RoomID, u id.UserID, rule removalRule, groupReason string, state State, rs RoomState, now time.Time) bool {
	key := RoomUser{room, u}
	pending, isPending := state.Pending[key]
	if reason, gone := p.lifecycle.deactivated(u); gone && !policy.Deactivated.AfterGrace {
		if !isPending || pending.Reason != reason || pending.DueAt.After(now) {
			p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: now, Reason: reason})
		}
		p.removeNow(policy, room, u, rule.action, reason, rs)
		return true
	}
	if !isPending || !isLifecycleReason(pending.Reason) {
		return false
	}
	due := pending.CreatedAt.Add(rule.grace)
	if p.lifecycle.status(u) == AccountActive || policy.Deactivated.AfterGrace {
		// Active again (or the policy changed): an ordinary departure from the group.
		p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: due, Reason: groupReason})
		return true
	}
	// Unknown this cycle: the grace path, without rewriting what may be true again next cycle.
	if now.Before(due) {
		return true
	}
	p.removeNow(policy, room, u, rule.action, pending.Reason, rs)
	return true
}

// planAccounts plans the account side of the lifecycle: records, logouts, locks and unlocks.
func (p *Plan) planAccounts(policy Policy, state State, now time.Time) {
	v := p.lifecycle
	if !v.acc.Read && len(v.records) == 0 {
		return
	}
	// Users deactivated or gone who are managed somewhere, plus everyone with a record.
	users := map[id.UserID]bool{}
	for u := range v.records {
		users[u] = true
	}
	if v.acc.Read && policy.Deactivated.acts() && len(v.acc.Inactive)+len(v.acc.Lookup) > 0 {
		for _, room := range state.Members.Rooms() {
			for u := range state.Members.Users(room) {
				// Most managed users are in neither listing: two lookups tell, before status.
				_, listed := v.acc.Inactive[u]
				if s, looked := v.acc.Lookup[u]; !listed && (!looked || s != AccountGone) {
					continue
				}
				if _, gone := v.deactivated(u); gone {
					users[u] = true
				}
			}
		}
	}
	order := make([]id.UserID, 0, len(users))
	for u := range users {
		if u != policy.Bot {
			order = append(order, u)
		}
	}
	slices.Sort(order)
	for _, u := range order {
		p.planAccount(policy, u, state, now)
	}
}

func (p *Plan) planAccount(policy Policy, u id.UserID, state State, now time.Time) {
	rec, has := p.lifecycle.records[u]
	switch st := p.lifecycle.status(u); st {
	case AccountActive:
		if !has {
			return
		}
		if rec.LockedByBot {
			p.Actions = append(p.Actions, UnlockAccount{User: u, Reason: "active again in Authentik; the bot had locked the account"})
			return
		}
		p.Actions = append(p.Actions, ForgetDeactivation{User: u, Reason: "active again in Authentik"})
	case AccountInactive, AccountGone:
		reason, _ := p.lifecycle.deactivated(u)
		deleted := st == AccountGone
		switch {
		case !has:
			rec = AccountRecord{User: u, DeactivatedAt: now, Deleted: deleted}
			p.Actions = append(p.Actions, TrackDeactivation{Record: rec, Reason: reason})
		case rec.Deleted != deleted:
			rec.Deleted = deleted
			p.Actions = append(p.Actions, TrackDeactivation{Record: rec, Reason: reason})
		}
		d := policy.Deactivated
		if d.Logout && rec.LoggedOutAt.IsZero() && !p.spare(policy, "", u, "logged out") {
			p.Actions = append(p.Actions, EndSessions{User: u, Reason: reason + "; every session ends (deactivated.logout)"})
		}
		if d.LockAfter != nil && rec.LockedAt.IsZero() && !now.Before(rec.DeactivatedAt.Add(*d.LockAfter)) && !p.spare(policy, "", u, "locked") {
			p.Actions = append(p.Actions, LockAccount{User: u, Reason: fmt.Sprintf("%s since %s (deactivated.lock_after %s)",
				reason, rec.DeactivatedAt.UTC().Format(time.RFC3339), *d.LockAfter)})
		}
	}
}

// accountLookups lists the users for whom the listing of every Authentik user must be read this
// cycle, because only it tells a deleted account from one that left its groups:
//   - managed users whose removal is about to be scheduled (they were desired in a room until
//     now) and who are in no group and not listed inactive;
//   - users with a record of a deactivation who are no longer listed inactive nor seen in a
//     group: reactivated, or deleted meanwhile.
//
// A room where someone new appears in the same cycle as a member vanishes is left out: under a
// username template that is what a rename in Authentik looks like, and a renamed user must take
// the grace path, not be taken for deleted. Nil when the listing of inactive users was not read.
func accountLookups(policy Policy, obs Observed, state State) []id.UserID {
	if !obs.Accounts.Read || !policy.Deactivated.acts() {
		return nil
	}
	inactive := obs.Accounts.Inactive
	candidates := map[id.UserID]bool{}
	inRoom := map[id.UserID]bool{}
	for _, rp := range roomsOf(policy) {
		clear(inRoom)
		arrival := false
		for _, g := range rp.groups {
			for _, m := range obs.Groups[g].Members {
				inRoom[m.UserID] = true
				if _, tracked := state.Members.Lookup(RoomUser{rp.room, m.UserID}); !tracked {
					arrival = true
				}
			}
		}
		if arrival {
			continue
		}
		for u := range state.Members.Users(rp.room) {
			_, isInactive := inactive[u]
			if u == policy.Bot || inRoom[u] || isInactive || state.Members.Get(RoomUser{rp.room, u}).DesiredSince.IsZero() {
				continue
			}
			if _, exempt := state.exemption(rp.room, u); exempt {
				continue // never removed, so never scheduled: whether the account exists does not matter
			}
			candidates[u] = true
		}
	}
	for u, rec := range state.Accounts {
		if _, isInactive := inactive[u]; !rec.Deleted && !isInactive {
			candidates[u] = true
		}
	}
	if len(candidates) == 0 {
		return nil
	}
	for _, g := range obs.Groups {
		for _, m := range g.Members {
			delete(candidates, m.UserID) // active somewhere: no listing needed to know it exists
		}
	}
	var out []id.UserID
	for u := range candidates {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}
