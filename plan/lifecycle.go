package plan

import (
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
// The safety rule (docs/how-it-works.md, "The safety rule") decides what counts as evidence.
// Nobody is treated as deactivated or deleted on the word of a listing: a listing read page by
// page can lose a row to a concurrent change without any check noticing. The listing of
// inactive users, and a managed user's absence from every group, only say whom to look up; the
// direct lookup of that one user (Authentik's core/users/{pk}/: "no such user", or is_active
// false) is the evidence, read again every cycle in which it could lead to an action.

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

// Acts reports whether deactivations change anything the bot does.
func (d DeactivationPolicy) Acts() bool { return !d.AfterGrace || d.LockAfter != nil || d.Logout }

// AccountStatus is what a direct lookup of one account said this cycle.
type AccountStatus int

const (
	// AccountUnknown: nothing read this cycle tells (no lookup, a failed one, or an account
	// that maps to another Matrix ID now, as a renamed user does).
	AccountUnknown AccountStatus = iota
	// AccountActive: seen active (in a group listing, or looked up).
	AccountActive
	// AccountInactive: looked up, and is_active is false.
	AccountInactive
	// AccountGone: looked up, and the directory answered that no such user exists: deleted.
	AccountGone
)

func (s AccountStatus) String() string {
	return [...]string{"unknown", "active", "inactive", "gone"}[s]
}

// DirectoryAccount names one account of the directory: the directory's own ID for it
// (Authentik's user pk), by which it is looked up, and its username for logs.
type DirectoryAccount struct {
	SourceID string
	Username string
}

// AccountsObserved is what a cycle learned of Authentik accounts besides group membership.
type AccountsObserved struct {
	// Listed are the users the listing of inactive users named: a hint of whom to look up, never
	// evidence. Nil when it was not read (ListErr says why).
	Listed  map[id.UserID]DirectoryAccount
	ListErr error
	// Confirmed holds what the direct lookup of each user looked up this cycle said (see
	// accountLookups), and SourceIDs the IDs they were looked up by; LookupErr sums up the
	// lookups that failed.
	Confirmed map[id.UserID]AccountStatus
	SourceIDs map[id.UserID]DirectoryAccount
	LookupErr error
}

// AccountRecord is what the store remembers of a managed user seen deactivated or deleted.
type AccountRecord struct {
	User id.UserID
	// SourceID is the directory's ID of the account (Authentik's user pk), by which it is looked
	// up again every cycle it matters; empty in records made before it was kept.
	SourceID string
	// Username is the account's username when the bot last saw it, by which a new account made
	// under it after a deletion is found; empty in records made before it was kept.
	Username string
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

// TrackDeactivation records (or updates) that a managed user's account is deactivated or gone
// in Authentik. It writes to the store only.
type TrackDeactivation struct {
	Record AccountRecord
	Reason string
}

// FollowAccount points a deactivation record at the account that holds its Matrix ID now (one
// made again under a deleted account's username), so that later cycles look that one up. It
// writes to the store only.
type FollowAccount struct {
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
func (a FollowAccount) Target() RoomUser      { return RoomUser{User: a.Record.User} }
func (a ForgetDeactivation) Target() RoomUser { return RoomUser{User: a.User} }
func (a LockAccount) Target() RoomUser        { return RoomUser{User: a.User} }
func (a UnlockAccount) Target() RoomUser      { return RoomUser{User: a.User} }
func (a EndSessions) Target() RoomUser        { return RoomUser{User: a.User} }

func (TrackDeactivation) Kind() string  { return "track_deactivation" }
func (FollowAccount) Kind() string      { return "follow_account" }
func (ForgetDeactivation) Kind() string { return "forget_deactivation" }
func (LockAccount) Kind() string        { return "lock_account" }
func (UnlockAccount) Kind() string      { return "unlock_account" }
func (EndSessions) Kind() string        { return "logout" }

func (a TrackDeactivation) Why() string  { return a.Reason }
func (a FollowAccount) Why() string      { return a.Reason }
func (a ForgetDeactivation) Why() string { return a.Reason }
func (a LockAccount) Why() string        { return a.Reason }
func (a UnlockAccount) Why() string      { return a.Reason }
func (a EndSessions) Why() string        { return a.Reason }

// phaseAccount holds the writes to accounts rather than rooms (locks, logouts, profiles): after
// the removals, so that a user is out of the rooms before their account is touched.
const phaseAccount = phaseRemove + 1

func (TrackDeactivation) Phase() int  { return PhaseState }
func (FollowAccount) Phase() int      { return PhaseState }
func (ForgetDeactivation) Phase() int { return PhaseState }
func (LockAccount) Phase() int        { return phaseAccount }
func (UnlockAccount) Phase() int      { return phaseAccount }
func (EndSessions) Phase() int        { return phaseAccount }

// LifecycleAction marks the actions applied by applyLifecycle.
type LifecycleAction interface {
	Action
	isLifecycle()
}

func (TrackDeactivation) isLifecycle()  {}
func (FollowAccount) isLifecycle()      {}
func (ForgetDeactivation) isLifecycle() {}
func (LockAccount) isLifecycle()        {}
func (UnlockAccount) isLifecycle()      {}
func (EndSessions) isLifecycle()        {}

// IsAccountWrite reports whether an action changes a Matrix account (a lock, a logout, a
// profile) rather than a room. Such writes do not count towards a homeserver outage: they fail
// for reasons of their own (the bot not a server admin) that say nothing about the rooms.
func IsAccountWrite(a Action) bool { return a.Phase() == phaseAccount }

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

// LaneOf is the key that serialises an action's writes when a phase runs concurrently: its
// room, or, for an account write, its user, so that accounts are worked on in parallel while
// one user's writes keep their order.
func LaneOf(act Action) id.RoomID {
	t := act.Target()
	if t.Room == "" && t.User != "" {
		return id.RoomID("\x00" + string(t.User))
	}
	return t.Room
}

// lifecycleView answers, during one plan, what Authentik says of an account: built once from
// the observation, for the users it concerns only (those looked up, or with a record), so that
// it stays small however many users the groups hold.
type lifecycleView struct {
	acc     AccountsObserved
	records map[id.UserID]AccountRecord
	// active holds the users of interest seen active in a group listing this cycle.
	active map[id.UserID]bool
	// reentered holds the users with a deletion record who entered a mapped group after it was
	// made (a member record desired since then): a live account holds their Matrix ID again.
	reentered map[id.UserID]bool
}

func newLifecycleView(obs Observed, state State) lifecycleView {
	v := lifecycleView{acc: obs.Accounts, records: state.Accounts}
	if len(v.acc.Confirmed)+len(v.records) == 0 {
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
	for u, rec := range v.records {
		if !rec.Deleted {
			continue
		}
		if anyRecordOf(state, u, func(m ManagedMember) bool { return m.DesiredSince.After(rec.DeactivatedAt) }) {
			if v.reentered == nil {
				v.reentered = map[id.UserID]bool{}
			}
			v.reentered[u] = true
		}
	}
	return v
}

func (v lifecycleView) concerns(u id.UserID) bool {
	if _, ok := v.acc.Confirmed[u]; ok {
		return true
	}
	_, ok := v.records[u]
	return ok
}

// status is what this cycle's reads say of u's account. An active listing anywhere wins (an
// inactive user is never an effective member, so it is the surest sign of a live account);
// otherwise only this cycle's direct lookup of the user counts. A record of an earlier
// deactivation is no evidence on its own: the account is looked up again (accountLookups).
//
// A deletion is no evidence either once the Matrix ID came back in a group after it (reentered):
// the account deleted is gone for good, but another one, made under the same username, holds the
// ID now, and a search by username that leaves it out is a listing like any other. The status is
// then unknown until a lookup or a listing shows the new account.
func (v lifecycleView) status(u id.UserID) AccountStatus {
	if v.active[u] {
		return AccountActive
	}
	if st := v.acc.Confirmed[u]; st != AccountGone || !v.reentered[u] {
		return st
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
			p.decide(room, u, VerdictWillRemove, now)
		} else {
			p.decide(room, u, VerdictPendingRemoval, pending.DueAt)
		}
		p.removeNow(policy, room, u, rule.Action, reason, rs)
		return true
	}
	if !isPending || !isLifecycleReason(pending.Reason) {
		return false
	}
	due := pending.CreatedAt.Add(rule.grace)
	if p.lifecycle.status(u) == AccountActive || policy.Deactivated.AfterGrace {
		// Active again (or the policy changed): an ordinary departure from the group.
		p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: due, Reason: groupReason})
		p.decide(room, u, VerdictWillRemove, due)
		return true
	}
	// Unknown this cycle: the grace path, without rewriting what may be true again next cycle.
	p.decide(room, u, VerdictPendingRemoval, pending.DueAt)
	if now.Before(due) {
		return true
	}
	p.removeNow(policy, room, u, rule.Action, pending.Reason, rs)
	return true
}

// planAccounts plans the account side of the lifecycle: records, logouts, locks and unlocks.
// Only the users looked up this cycle, and those with a record, can have any.
func (p *Plan) planAccounts(policy Policy, state State, now time.Time) {
	v := p.lifecycle
	users := map[id.UserID]bool{}
	for u := range v.records {
		users[u] = true
	}
	if policy.Deactivated.Acts() {
		for u, s := range v.acc.Confirmed {
			if (s == AccountInactive || s == AccountGone) && managedAnywhere(state, u) {
				users[u] = true
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
		p.planAccount(policy, u, now)
	}
}

// managedAnywhere reports whether u has a managed-member record in any room: only such a user's
// account is the bot's business, unless it keeps a record of it.
func managedAnywhere(state State, u id.UserID) bool {
	return anyRecordOf(state, u, func(ManagedMember) bool { return true })
}

// anyRecordOf reports whether one of u's managed member records, in any room, satisfies ok.
func anyRecordOf(state State, u id.UserID, ok func(ManagedMember) bool) bool {
	for _, room := range state.Members.Rooms() {
		if m, found := state.Members.Lookup(RoomUser{room, u}); found && ok(m) {
			return true
		}
	}
	return false
}

func (p *Plan) planAccount(policy Policy, u id.UserID, now time.Time) {
	rec, has := p.lifecycle.records[u]
	switch st := p.lifecycle.status(u); st {
	case AccountActive:
		if !has {
			return
		}
		if acc := p.lifecycle.acc.SourceIDs[u]; acc.SourceID != "" && acc.SourceID != rec.SourceID && p.lifecycle.acc.Confirmed[u] == AccountActive {
			// Another account holds the Matrix ID now (made again under a deleted one's
			// username): the record follows it, so that until the lock is lifted later cycles
			// look the live account up, not the deleted one.
			rec.SourceID, rec.Username = acc.SourceID, acc.Username
			p.Actions = append(p.Actions, FollowAccount{Record: rec, Reason: "the Matrix ID's account is now Authentik user " + acc.Username + " (pk " + acc.SourceID + "), made again under the deleted one's username"})
		}
		if rec.LockedByBot {
			p.Actions = append(p.Actions, UnlockAccount{User: u, Reason: "active again in Authentik; the bot had locked the account"})
			return
		}
		p.Actions = append(p.Actions, ForgetDeactivation{User: u, Reason: "active again in Authentik"})
	case AccountInactive, AccountGone:
		reason, _ := p.lifecycle.deactivated(u)
		deleted := st == AccountGone
		acc := p.lifecycle.acc.SourceIDs[u]
		switch {
		case !has:
			rec = AccountRecord{User: u, SourceID: acc.SourceID, Username: acc.Username, DeactivatedAt: now, Deleted: deleted}
			p.Actions = append(p.Actions, TrackDeactivation{Record: rec, Reason: reason})
		case rec.Deleted != deleted || (rec.SourceID == "" && acc.SourceID != "") || (rec.Username == "" && acc.Username != ""):
			rec.Deleted = deleted
			if rec.SourceID == "" {
				rec.SourceID = acc.SourceID
			}
			if rec.Username == "" {
				rec.Username = acc.Username
			}
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
	// AccountUnknown: nothing this cycle. A lock or logout waits for a lookup that confirms the
	// deactivation; a lock already made stays until one confirms the account active.
}

// AccountLookups lists the users whose account must be looked up directly this cycle, because
// an action could follow from what the lookup says, with the source ID to look each up by:
//   - managed users the listing of inactive users names;
//   - managed users whose removal is about to be scheduled (they were desired in a room until
//     now and are in none of its groups, all of them read completely): only a lookup tells a
//     deleted account from one that left its groups;
//   - users with a record, unless seen active in a group (then they are active) or still listed
//     inactive with nothing left to do (removed from every room, locked and logged out as the
//     policy asks): a record is re-checked, so that a user who is back is no longer treated as
//     gone and a lock the bot set is lifted.
//
// known holds the source IDs of the users the last full cycle saw in a group (a user who has
// just left every group is found there). A user with no source ID is not looked up: their
// status stays unknown, and they take the grace period.
func AccountLookups(policy Policy, obs Observed, state State, known map[id.UserID]DirectoryAccount) map[id.UserID]DirectoryAccount {
	acts := policy.Deactivated.Acts()
	if !acts && len(state.Accounts) == 0 {
		return nil
	}
	inGroup := map[id.UserID]bool{}
	for _, g := range obs.Groups {
		for _, m := range g.Members {
			inGroup[m.UserID] = true
		}
	}
	managed := func(u id.UserID) bool { return managedAnywhere(state, u) }
	account := func(u id.UserID) DirectoryAccount {
		if a, ok := obs.Accounts.Listed[u]; ok && a.SourceID != "" {
			return a
		}
		if rec, ok := state.Accounts[u]; ok && rec.SourceID != "" {
			if k := known[u]; k.SourceID != "" && k.SourceID != rec.SourceID {
				// Another account maps to this Matrix ID than the one the record is about: a
				// group listing showed it since (a user deleted and made again under the same
				// username). It is the ID's account now, and it is the one looked up: the old one
				// being gone says nothing of it, and a listing that leaves the new one out (by
				// username, or the inactive users) is no evidence that it does not exist.
				return k
			}
			a := DirectoryAccount{SourceID: rec.SourceID, Username: rec.Username}
			if a.Username == "" && known[u].SourceID == a.SourceID {
				a.Username = known[u].Username
			}
			return a
		}
		return known[u]
	}
	out := map[id.UserID]DirectoryAccount{}
	add := func(u id.UserID) {
		if u == policy.Bot || inGroup[u] {
			return
		}
		if a := account(u); a.SourceID != "" {
			out[u] = a
		}
	}
	if acts {
		for u := range obs.Accounts.Listed {
			if managed(u) {
				add(u)
			}
		}
		inRoom := map[id.UserID]bool{}
		for _, rp := range RoomsOf(policy) {
			clear(inRoom)
			complete := true
			for _, g := range rp.Groups {
				gm, ok := obs.Groups[g]
				complete = complete && ok && gm.Known()
				for _, m := range gm.Members {
					inRoom[m.UserID] = true
				}
			}
			if !complete {
				continue // nobody is removed from this room this cycle: nothing to look up for it
			}
			for u := range state.Members.Users(rp.Room) {
				if inRoom[u] || state.Members.Get(RoomUser{rp.Room, u}).DesiredSince.IsZero() {
					continue
				}
				if _, exempt := state.exemption(rp.Room, u); exempt {
					continue // never removed, so never scheduled: whether the account exists does not matter
				}
				add(u)
			}
		}
	}
	d := policy.Deactivated
	for u, rec := range state.Accounts {
		pending := (d.Logout && rec.LoggedOutAt.IsZero()) || (d.LockAfter != nil && rec.LockedAt.IsZero())
		_, listed := obs.Accounts.Listed[u]
		// An account listed inactive, or gone (Authentik never gives a pk again), with nothing
		// left to do about it, is not looked up. A deletion record of a lock the bot set is,
		// every cycle: a new account under that username (or a record of an older release, made
		// on weaker evidence) gets the lock lifted.
		if (listed || rec.Deleted && !rec.LockedByBot) && !pending && !managed(u) {
			continue
		}
		add(u)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// SourceIDsOf collects the source ID of every group member, for the next cycle's lookups of
// those who will have left (see accountLookups); into is cleared and reused.
func SourceIDsOf(groups map[string]GroupMembers, into map[id.UserID]DirectoryAccount) map[id.UserID]DirectoryAccount {
	if into == nil {
		into = map[id.UserID]DirectoryAccount{}
	}
	clear(into)
	for _, g := range groups {
		for _, m := range g.Members {
			if m.SourceID != "" {
				into[m.UserID] = DirectoryAccount{SourceID: m.SourceID, Username: m.Username}
			}
		}
	}
	return into
}
