package plan

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
	"unique"

	"maunium.net/go/mautrix/id"
)

// Plan is what a cycle will do: the actions in the order they are applied, and the things an
// operator should know that need no action (a user the bot cannot outrank, an unreadable room…).
type Plan struct {
	Actions  []Action
	Warnings []Warning
	// Skipped holds what a cycle would skip of the planner's choices (see SkippedAction); only
	// Preview fills it.
	Skipped []SkippedAction
	// lifecycle is what Authentik says of accounts, while the plan is made (see lifecycle.go).
	lifecycle lifecycleView
	// Replaced holds, for each kick and ban, the membership it replaces, which the removal's
	// record keeps (see planUndone): the room states are dropped before the plan is applied.
	Replaced map[RoomUser]RoomMember
	// explain is the user whose verdicts the plan records, room by room, in decisions (see
	// decisionsFor); empty for a cycle's plan.
	explain   id.UserID
	decisions map[id.RoomID]decision
}

// Warning is something the planner chose not to do, and why.
type Warning struct {
	Room    id.RoomID
	User    id.UserID // empty when it concerns the whole room or group
	Message string
}

func (w Warning) String() string {
	switch {
	case w.User != "" && w.Room == "": // about the account, not a room (a lock, a logout)
		return fmt.Sprintf("%s: %s", w.User, w.Message)
	case w.User != "":
		return fmt.Sprintf("%s in %s: %s", w.User, w.Room, w.Message)
	case w.Room != "":
		return fmt.Sprintf("%s: %s", w.Room, w.Message)
	default:
		return w.Message
	}
}

// desire is why one user should be in one room.
type desire struct {
	groups []string
	method JoinMethod
	rejoin bool
}

// roomPolicy is the part of the policy about one room.
type roomPolicy struct {
	Room   id.RoomID
	Groups []string // every group mapped to the room, sorted
}

// MakePlan compares the desired membership (groups), the actual one (rooms) and the stored state,
// and returns the actions that bring the rooms in step. It reads no clock and does no I/O.
func MakePlan(policy Policy, obs Observed, state State, now time.Time) Plan {
	return makePlan(policy, obs, state, now, "")
}

// makePlan is MakePlan, recording the verdicts on explain (see decide) when it is set.
func makePlan(policy Policy, obs Observed, state State, now time.Time, explain id.UserID) Plan {
	p := Plan{Warnings: slices.Clone(obs.Notes), lifecycle: newLifecycleView(obs, state), explain: explain}
	var sc scratch
	for _, rp := range RoomsOf(policy) {
		p.planRoom(policy, rp, obs, state, now, &sc)
	}
	for _, rel := range policy.Released {
		p.planReleased(policy, rel, obs, state, now)
	}
	p.planSpaceRecords(policy, obs)
	p.planPower(policy, obs, state, now)
	p.planAccounts(policy, state, now)
	p.planProfiles(policy, obs, state)
	p.lifecycle = lifecycleView{}
	slices.SortStableFunc(p.Actions, func(a, b Action) int {
		if c := cmp.Compare(a.Phase(), b.Phase()); c != 0 {
			return c
		}
		ta, tb := a.Target(), b.Target()
		if c := cmp.Compare(ta.Room, tb.Room); c != 0 {
			return c
		}
		return cmp.Compare(ta.User, tb.User)
	})
	return p
}

func RoomsOf(policy Policy) []roomPolicy {
	byRoom := map[id.RoomID]*roomPolicy{}
	var order []id.RoomID
	for _, m := range policy.Mappings {
		rp, ok := byRoom[m.Room]
		if !ok {
			rp = &roomPolicy{Room: m.Room}
			byRoom[m.Room] = rp
			order = append(order, m.Room)
		}
		if !slices.Contains(rp.Groups, m.Group) {
			rp.Groups = append(rp.Groups, m.Group)
		}
	}
	slices.Sort(order)
	out := make([]roomPolicy, 0, len(order))
	for _, r := range order {
		rp := byRoom[r]
		slices.Sort(rp.Groups)
		out = append(out, *rp)
	}
	return out
}

func (p *Plan) warn(room id.RoomID, user id.UserID, format string, args ...any) {
	p.Warnings = append(p.Warnings, Warning{Room: room, User: user, Message: fmt.Sprintf(format, args...)})
}

// scratch is memory the planning of one room uses and the next one reuses: allocated afresh for
// each of hundreds of rooms, it was most of what a plan allocated.
type scratch struct {
	desired map[id.UserID]*desire
	desires []desire
	users   []id.UserID
}

// reset empties the scratch for a room whose groups have n members in all.
func (sc *scratch) reset(n int) {
	if sc.desired == nil {
		sc.desired = make(map[id.UserID]*desire, n)
	}
	clear(sc.desired)
	if cap(sc.desires) < n {
		sc.desires = make([]desire, 0, n)
	}
	// The desired map points into desires: it must never grow past n, which would move them.
	sc.desires = sc.desires[:0]
	sc.users = sc.users[:0]
}

func (p *Plan) planRoom(policy Policy, rp roomPolicy, obs Observed, state State, now time.Time, sc *scratch) {
	room := rp.Room
	n := 0
	for _, m := range policy.Mappings {
		if m.Room == room {
			n += len(obs.Groups[m.Group].Members)
		}
	}
	sc.reset(n)
	desired := sc.desired
	var unknown []string
	for _, m := range policy.Mappings {
		if m.Room != room {
			continue
		}
		g, ok := obs.Groups[m.Group]
		if (!ok || !g.Known()) && !slices.Contains(unknown, m.Group) {
			unknown = append(unknown, m.Group)
		}
		// Most users are in one group of the room: they share one slice naming it.
		only := []string{m.Group}
		// A partly read group still adds the members it could read; only removals need it whole.
		for _, mem := range g.Members {
			d := desired[mem.UserID]
			if d == nil {
				sc.desires = append(sc.desires, desire{method: MethodInvite})
				d = &sc.desires[len(sc.desires)-1]
				desired[mem.UserID] = d
			}
			switch {
			case d.groups == nil:
				d.groups = only[:1:1] // capacity 1: an append below copies instead of writing into it
			case !slices.Contains(d.groups, m.Group):
				d.groups = append(d.groups, m.Group)
				slices.Sort(d.groups)
			}
			if m.Method == MethodForce {
				d.method = MethodForce
				d.rejoin = d.rejoin || m.Rejoin
			}
		}
	}
	p.decide(room, policy.Bot, VerdictBot, time.Time{})
	ro, ok := obs.Rooms[room]
	if !ok || ro.Err != nil {
		err := "not read"
		if ro.Err != nil {
			err = ro.Err.Error()
		}
		p.warn(room, "", "room state unreadable, nothing done in this room this cycle: %s", err)
		p.cancelReturned(room, desired, state)
		if len(unknown) > 0 {
			// The room's state is not needed to know that its groups could not be read: the
			// absence of its pending removals counts again from the next complete read.
			p.restartGrace(policy, room, desired, state, now)
		}
		p.decide(room, p.explain, VerdictUnknown, time.Time{})
		return
	}
	rs := ro.State
	botLevel := rs.PowerLevels.Level(policy.Bot)

	users := sc.users
	for u := range desired {
		users = append(users, u)
	}
	slices.Sort(users)
	sc.users = users
	for _, u := range users {
		if u == policy.Bot {
			continue
		}
		p.planDesired(policy, room, u, desired[u], rs, botLevel, state, now)
	}

	if len(unknown) > 0 {
		slices.Sort(unknown)
		// The safety rule: nobody is removed from a room any of whose groups is unknown, not
		// even a user whose account is confirmed deactivated (their account may still be locked
		// or logged out; that needs no room).
		p.warn(room, "", "membership of Authentik group(s) %s unknown this cycle: no removals in this room", strings.Join(unknown, ", "))
		p.restartGrace(policy, room, desired, state, now)
		if _, decided := p.decisions[room]; p.explain != "" && desired[p.explain] == nil && !decided {
			p.decideHeld(policy, room, p.explain, rs, state)
		}
		return
	}
	var managed []id.UserID
	for u := range state.Members.Users(room) {
		if desired[u] == nil {
			managed = append(managed, u)
		}
	}
	slices.Sort(managed)
	for _, u := range managed {
		p.planUndesired(policy, rp, u, rs, botLevel, state, now)
	}
	p.planUndone(policy, rp, desired, rs, state)
	if u := p.explain; u != "" && desired[u] == nil {
		// Nobody the bot does not manage is planned for: in the room on their own, or not in it.
		p.decideIfOpen(room, u, unmanagedVerdict(rs.Members.Get(u)), time.Time{})
	}
}

// unmanagedVerdict is the verdict on a user the bot does not manage in a room, out of its groups.
func unmanagedVerdict(mem RoomMember) Verdict {
	if mem.Membership == MembershipJoin || mem.Membership == MembershipInvite {
		return VerdictNotManaged
	}
	return VerdictNotMember
}

// decideHeld is the verdict on a user out of the groups of a room some of whose groups are
// unknown this cycle: no removal is decided, so it is the one the user already has.
func (p *Plan) decideHeld(policy Policy, room id.RoomID, u id.UserID, rs RoomState, state State) {
	key := RoomUser{room, u}
	mem := rs.Members.Get(u)
	pending, isPending := state.Pending[key]
	_, managed := state.Members.Lookup(key)
	_, exempt := state.exemption(room, u)
	switch {
	case isPending:
		p.decide(room, u, VerdictPendingRemoval, pending.DueAt)
	case mem.Membership != MembershipJoin && mem.Membership != MembershipInvite:
		p.decide(room, u, VerdictNotMember, time.Time{})
	case !managed:
		p.decide(room, u, VerdictNotManaged, time.Time{})
	case exempt:
		p.decide(room, u, VerdictExempt, time.Time{})
	case policy.Protected.Protects(u):
		p.decide(room, u, VerdictProtected, time.Time{})
	default:
		p.decide(room, u, VerdictUnknown, time.Time{})
	}
}

func (p *Plan) planDesired(policy Policy, room id.RoomID, u id.UserID, d *desire, rs RoomState, botLevel int, state State, now time.Time) {
	key := RoomUser{room, u}
	// Most users need no action, and so no reason: the strings are made only when one does.
	var joined string
	groups := func() string {
		if joined == "" {
			joined = strings.Join(d.groups, ", ")
		}
		return joined
	}
	rec, tracked := state.Members.Lookup(key)
	if !tracked || rec.DesiredSince.IsZero() {
		rec.Room, rec.User, rec.DesiredSince = room, u, now
		// One copy of each reason: a first cycle tracks every member of every room.
		p.Actions = append(p.Actions, NewTrackMember(rec, unique.Make("in Authentik group "+groups()).Value()))
	}
	if _, pending := state.Pending[key]; pending {
		p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: "back in Authentik group " + groups()})
	}
	if ex, ok := state.exemption(room, u); ok && ex.UntilBack {
		p.Actions = append(p.Actions, EndExemption{Room: ex.Room, User: u, Reason: "back in Authentik group " + groups()})
	}

	mem, present := rs.Members.Lookup(u)
	add := func(alreadyInvited bool) {
		if botLevel < rs.PowerLevels.Invite {
			p.warn(room, u, "not added: the bot's power level %d is below the invite level %d", botLevel, rs.PowerLevels.Invite)
			p.decide(room, u, VerdictNotAdded, time.Time{})
			return
		}
		reason := unique.Make("member of Authentik group " + groups()).Value()
		if d.method == MethodForce {
			p.Actions = append(p.Actions, ForceJoin{Room: room, User: u, AlreadyInvited: alreadyInvited, Reason: reason})
			p.decide(room, u, VerdictWillJoin, time.Time{})
			return
		}
		p.Actions = append(p.Actions, Invite{Room: room, User: u, Reason: reason})
		p.decide(room, u, VerdictWillInvite, time.Time{})
	}
	switch {
	case !present:
		add(false)
	case mem.Membership == MembershipJoin:
		p.decide(room, u, VerdictMember, time.Time{})
	case mem.Membership == MembershipInvite:
		p.decide(room, u, VerdictInvited, time.Time{})
		if d.method == MethodForce {
			add(true)
		}
	case mem.Membership == MembershipBan:
		p.decide(room, u, VerdictNotAdded, time.Time{})
		if mem.Sender != policy.Bot {
			p.warn(room, u, "not added: banned by %s, not by the bot; unban them by hand if they should be in", mem.Sender)
			return
		}
		if botLevel < rs.PowerLevels.Ban {
			p.warn(room, u, "not unbanned: the bot's power level %d is below the ban level %d", botLevel, rs.PowerLevels.Ban)
			return
		}
		p.Actions = append(p.Actions, Unban{Room: room, User: u, Reason: "back in Authentik group " + groups()})
		add(false)
	case mem.Membership == MembershipLeave:
		desiredSince := rec.DesiredSince
		if !tracked || desiredSince.IsZero() {
			desiredSince = now
		}
		// A leave after the user entered the group is their own choice (left, declined, or was
		// kicked by a moderator): inviting again would loop. Re-entering the group resets it. A
		// leave the bot itself sent (an unban whose addition a crash cut off) is nobody's choice.
		if mem.Since.After(desiredSince) && mem.Sender != policy.Bot && !(d.method == MethodForce && d.rejoin) {
			p.decide(room, u, VerdictLeft, time.Time{})
			return
		}
		add(false)
	default: // knock, or a membership this version does not know
		add(false)
	}
}

func (p *Plan) planUndesired(policy Policy, rp roomPolicy, u id.UserID, rs RoomState, botLevel int, state State, now time.Time) {
	room := rp.Room
	key := RoomUser{room, u}
	mem := rs.Members.Get(u)
	if u == policy.Bot || (mem.Membership != MembershipJoin && mem.Membership != MembershipInvite) {
		if pending, ok := state.Pending[key]; ok {
			p.decide(room, u, VerdictPendingRemoval, pending.DueAt)
		} else {
			p.decide(room, u, VerdictNotMember, time.Time{})
		}
		if done, ok := RemovalAlreadyDone(policy, key, mem, state, now); ok {
			p.Actions = append(p.Actions, done)
			return
		}
		p.Actions = append(p.Actions, ForgetMember{Room: room, User: u, Reason: "no longer in the room nor in its groups"})
		return
	}
	if _, exempt := state.exemption(room, u); exempt {
		if _, ok := state.Pending[key]; ok {
			p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: "exempted by an admin"})
		}
		p.decide(room, u, VerdictExempt, time.Time{})
		return
	}
	groups := strings.Join(rp.Groups, ", ")
	reason := "no longer in Authentik group " + groups
	if len(rp.Groups) > 1 {
		reason = "no longer in any of the Authentik groups " + groups
	}
	rec := state.Members.Get(key)
	if !rec.DesiredSince.IsZero() {
		rec.DesiredSince = time.Time{}
		p.Actions = append(p.Actions, NewTrackMember(rec, reason))
	}
	rule := RuleFor(policy, room)
	pending, ok := state.Pending[key]
	if rule.never {
		if ok {
			p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: "the mapping of Authentik group " + rule.neverBecause + " never removes (remove: false)"})
		}
		if policy.Protected.Protects(u) {
			p.decide(room, u, VerdictProtected, time.Time{}) // the stronger word, said first
		} else {
			p.decide(room, u, VerdictKept, time.Time{})
		}
		return
	}
	// A protected user's removal is not even scheduled (one pending from before the protection
	// is dropped); removeNow checks again for every other path to a kick.
	if p.spare(policy, room, u, "removed") {
		if ok {
			p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: ProtectedReason})
		}
		p.decide(room, u, VerdictProtected, time.Time{})
		return
	}
	if p.planLifecycleRemoval(policy, room, u, rule, reason, state, rs, now) {
		return
	}
	if !ok {
		p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: now.Add(rule.grace), Reason: reason})
		p.decide(room, u, VerdictWillRemove, now.Add(rule.grace))
		return
	}
	if pending.AwaitingRead {
		// The first complete read since a cycle that could not see the room's groups: the
		// absence is confirmed from now on, for a whole grace period.
		p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: now.Add(rule.grace), Reason: pending.Reason})
		p.decide(room, u, VerdictWillRemove, now.Add(rule.grace))
		return
	}
	p.decide(room, u, VerdictPendingRemoval, pending.DueAt)
	if now.Before(pending.DueAt) {
		return
	}
	p.removeNow(policy, room, u, rule.Action, pending.Reason, rs)
}

// restartGrace restarts the grace period of the room's pending removals for leaving a group
// (see RestartGrace): the safety rule counts an absence only over complete reads, and this
// cycle's read of the room's groups is not complete. A user found in a group was handled by
// planDesired; a lifecycle removal rests on a direct lookup of the account, not on the groups;
// a removal already awaiting a read is written once, not once a cycle of an outage.
func (p *Plan) restartGrace(policy Policy, room id.RoomID, desired map[id.UserID]*desire, state State, now time.Time) {
	due := now.Add(RuleFor(policy, room).grace)
	var users []id.UserID
	for key, pending := range state.Pending {
		if key.Room == room && desired[key.User] == nil && !isLifecycleReason(pending.Reason) && !pending.AwaitingRead {
			users = append(users, key.User)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		p.Actions = append(p.Actions, RestartGrace{Room: room, User: u, DueAt: due, Reason: state.Pending[RoomUser{room, u}].Reason})
		p.decide(room, u, VerdictWillRemove, due)
	}
}
