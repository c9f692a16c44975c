package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// Verdict is where one user stands in one room, in the words of `!sync why` and `plan --why`.
type Verdict string

const (
	// VerdictMember: joined, and in one of the room's groups.
	VerdictMember Verdict = "member"
	// VerdictInvited: invited by the bot (or someone), the user has not accepted yet.
	VerdictInvited Verdict = "invited"
	// VerdictWillInvite and VerdictWillJoin: the next cycle adds the user.
	VerdictWillInvite Verdict = "will be invited"
	VerdictWillJoin   Verdict = "will be joined"
	// VerdictWillRemove: the next cycle kicks or bans the user (At zero), or starts the grace
	// period at whose end it will (At: the deadline).
	VerdictWillRemove Verdict = "will be removed"
	// VerdictPendingRemoval: out of the room's groups, removed at At unless back in time.
	VerdictPendingRemoval Verdict = "pending removal"
	// VerdictProtected: out of the room's groups, but protected_users covers the user.
	VerdictProtected Verdict = "protected"
	// VerdictExempt: out of the room's groups, but an admin exempted the user.
	VerdictExempt Verdict = "exempt"
	// VerdictKept: out of the room's groups, but a mapping of the room never removes.
	VerdictKept Verdict = "kept (remove: false)"
	// VerdictLeft: in a group of the room, but left or declined on their own: not added again.
	VerdictLeft Verdict = "left on their own"
	// VerdictNotAdded: in a group of the room, but the bot cannot add them (a reason says why).
	VerdictNotAdded Verdict = "not added"
	// VerdictNotManaged: in the room, never seen in its groups: the bot never touches them.
	VerdictNotManaged Verdict = "not managed"
	// VerdictNotMember: neither in the room nor in its groups.
	VerdictNotMember Verdict = "not a member"
	// VerdictUnknown: the room or its groups could not be read: nothing decided this cycle.
	VerdictUnknown Verdict = "unknown this cycle"
	// VerdictNotMapped: the room asked about is not one the bot manages.
	VerdictNotMapped Verdict = "not mapped"
	// VerdictBot: the bot itself, never added nor removed by its own plans.
	VerdictBot Verdict = "the bot itself"
)

// Why explains one user's place in the rooms the bot manages: what `!sync why` and
// `plan --why` show. Explain makes it.
type Why struct {
	User id.UserID
	// Protected is set when protected_users covers the user.
	Protected bool
	// Exemptions are the user's stored exemptions (every room, or one).
	Exemptions []Exemption
	Rooms      []RoomWhy
	// Account is what concerns the user's Matrix account rather than a room, in words: the
	// deactivation record, and the next cycle's locks, unlocks, logouts and profile writes and
	// the warnings about them. Empty when there is nothing to say.
	Account []string
	// LastAction is the newest audit log entry about the user; nil when there is none.
	LastAction *AuditEntry
}

// RoomWhy is the verdict on one user in one room and the chain of reasons behind it.
type RoomWhy struct {
	Room id.RoomID
	// Space is the space whose include_children mapping brought the room in; empty otherwise.
	Space id.RoomID
	// Released is set for a room no mapping covers any more (see ReleasedRoom).
	Released bool
	Verdict  Verdict
	// At is when the removal the verdict names happens: the deadline of a pending or newly
	// scheduled removal; zero otherwise (a removal in this plan happens in the next cycle).
	At time.Time
	// Membership is the user's membership in the room ("" for none, or when unreadable).
	Membership string
	// Groups are the room's groups the user is in, and how.
	Groups []GroupWhy
	// Reasons are the rest of the chain, in words: group state, removal, exemption,
	// protection, power levels, what the plan does and the warnings it gives.
	Reasons []string
}

// GroupWhy is one of a room's groups the user is an effective member of.
type GroupWhy struct {
	Group string
	// Via is the subgroup the user is a direct member of, when the membership is inherited.
	Via string
	// PowerLevel is the level the group's mapping gives in the room; 0 for none.
	PowerLevel int
}

func (g GroupWhy) String() string {
	s := "in Authentik group " + g.Group
	if g.Via != "" {
		s = "in " + g.Via + ", a subgroup of Authentik group " + g.Group
	}
	if g.PowerLevel > 0 {
		s += fmt.Sprintf(" (gives power level %d)", g.PowerLevel)
	}
	return s
}

// Headline is the verdict with its time, as one line: "will be removed at 2026-11-28 10:15 UTC
// (in 23h59m)".
func (r RoomWhy) Headline(now time.Time) string {
	s := string(r.Verdict)
	switch {
	case r.Verdict == VerdictWillRemove && r.At.IsZero():
		return s + " by the next cycle"
	case r.At.IsZero():
		return s
	case r.Verdict == VerdictWillRemove && r.At.After(now):
		return s + " at " + WhyTime(r.At) + " (in " + r.At.Sub(now).Round(time.Minute).String() + ")"
	case r.Verdict == VerdictWillRemove: // a grace period of 0: the cycle after the next
		return s + " at " + WhyTime(r.At)
	case r.At.After(now):
		return s + " due " + WhyTime(r.At) + " (in " + r.At.Sub(now).Round(time.Minute).String() + ")"
	default:
		return s + " due " + WhyTime(r.At) + " (overdue)"
	}
}

func WhyTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// WhyInput is what Explain works from: the plan the next cycle would carry out and everything it
// was made from.
type WhyInput struct {
	// Policy is the policy the plan was made with: Observed.Policy for a reconciler's plans,
	// with its spaces expanded.
	Policy   Policy
	Observed Observed
	State    State
	Plan     Plan
	User     id.UserID
	// Room limits the answer to one room; empty explains every mapped room.
	Room id.RoomID
	Now  time.Time
	// Audit holds the user's audit log entries, newest first (Store.Audit's order).
	Audit []AuditEntry
	// decisions are the planner's verdicts on User, room by room (see decisionsFor).
	decisions map[id.RoomID]decision
}

// Explain says, for one user, in every mapped room (or the one asked for), where they stand and
// why: the groups that give membership (and the subgroup, when inherited), pending removals and
// their deadline, exemptions, protection, power levels, and what the plan does about them. The
// verdict in each room is the planner's own, recorded by the rule that decided it (see decide)
// while it plans the same inputs again for this user: planning is pure, so that is the verdict of
// the plan being explained, and no rule is written twice. The reasons read that plan's actions
// and warnings.
func Explain(in WhyInput) Why {
	u := in.User
	w := Why{User: u, Protected: in.Policy.Protected.Protects(u)}
	for k, e := range in.State.Exempt {
		if k.User == u {
			w.Exemptions = append(w.Exemptions, e)
		}
	}
	slices.SortFunc(w.Exemptions, func(a, b Exemption) int { return strings.Compare(string(a.Room), string(b.Room)) })
	for i := range in.Audit {
		if in.Audit[i].Target == u {
			e := in.Audit[i]
			w.LastAction = &e
			break
		}
	}
	in.decisions = decisionsFor(in.Policy, in.Observed, in.State, in.Now, u)
	acts, warns := planAbout(in.Plan, u)
	rooms := RoomsOf(in.Policy)
	for _, rp := range rooms {
		if in.Room == "" || rp.Room == in.Room {
			w.Rooms = append(w.Rooms, explainRoom(in, rp, false, acts[rp.Room], warns[rp.Room]))
		}
	}
	for _, rel := range in.Policy.Released {
		_, pending := in.State.Pending[RoomUser{rel.Room, u}]
		_, tracked := in.State.Members.Lookup(RoomUser{rel.Room, u})
		if (in.Room == "" && (pending || tracked)) || rel.Room == in.Room {
			w.Rooms = append(w.Rooms, explainRoom(in, roomPolicy{Room: rel.Room, Groups: rel.Groups}, true, acts[rel.Room], warns[rel.Room]))
		}
	}
	w.Account = explainAccount(in, acts[""], warns[""])
	if in.Room != "" && len(w.Rooms) == 0 {
		w.Rooms = append(w.Rooms, RoomWhy{Room: in.Room, Verdict: VerdictNotMapped,
			Reasons: []string{"no mapping covers this room (nor a space mapping with include_children): the bot never changes it"}})
	}
	return w
}

// planAbout sorts out, by room, the plan's actions on user and the warnings about them or about
// their whole room.
func planAbout(plan Plan, u id.UserID) (map[id.RoomID][]Action, map[id.RoomID][]Warning) {
	acts := map[id.RoomID][]Action{}
	for _, a := range plan.Actions {
		t := a.Target()
		switch {
		case t.User == u:
			acts[t.Room] = append(acts[t.Room], a)
		case t.User == "":
			if sp, ok := a.(SetPowerLevels); ok && slices.ContainsFunc(sp.Changes, func(c LevelChange) bool { return c.User == u }) {
				acts[t.Room] = append(acts[t.Room], a)
			}
		}
	}
	warns := map[id.RoomID][]Warning{}
	for _, w := range plan.Warnings {
		if w.User == u || (w.User == "" && w.Room != "") {
			warns[w.Room] = append(warns[w.Room], w)
		}
	}
	// What a cycle would skip is said as such, never promised.
	for _, s := range plan.Skipped {
		t := s.Action.Target()
		sp, isPower := s.Action.(SetPowerLevels)
		if t.User == u || (isPower && slices.ContainsFunc(sp.Changes, func(c LevelChange) bool { return c.User == u })) {
			warns[t.Room] = append(warns[t.Room], Warning{Room: t.Room, User: u, Message: "next cycle skips " + s.Action.Kind() + ": " + s.Reason})
		}
	}
	return acts, warns
}

func explainRoom(in WhyInput, rp roomPolicy, released bool, acts []Action, warns []Warning) RoomWhy {
	u, room, policy := in.User, rp.Room, in.Policy
	key := RoomUser{room, u}
	rw := RoomWhy{Room: room, Released: released}
	var reasons []string
	add := func(format string, args ...any) { reasons = append(reasons, fmt.Sprintf(format, args...)) }

	// Desired membership: the room's groups the user is in, and through which subgroup.
	var unknown, notIn []string
	for _, m := range policy.Mappings {
		if m.Room != room {
			continue
		}
		if rw.Space == "" {
			rw.Space = m.Space
		}
		if i := slices.IndexFunc(rw.Groups, func(g GroupWhy) bool { return g.Group == m.Group }); i >= 0 {
			rw.Groups[i].PowerLevel = max(rw.Groups[i].PowerLevel, m.PowerLevel)
			continue
		}
		g, ok := in.Observed.Groups[m.Group]
		if !ok || !g.Known() {
			if !slices.Contains(unknown, m.Group) {
				unknown = append(unknown, m.Group)
			}
		}
		if i := slices.IndexFunc(g.Members, func(mem Member) bool { return mem.UserID == u }); i >= 0 {
			rw.Groups = append(rw.Groups, GroupWhy{Group: m.Group, Via: g.Via.Of(i), PowerLevel: m.PowerLevel})
		} else if !slices.Contains(notIn, m.Group) {
			notIn = append(notIn, m.Group)
		}
	}
	slices.SortFunc(rw.Groups, func(a, b GroupWhy) int { return strings.Compare(a.Group, b.Group) })
	if released {
		add("released: no mapping covers the room any more; nobody is added or newly scheduled for removal here")
		if back, _ := inAnyGroup(in.Observed, rp.Groups, u); back {
			add("back in Authentik group %s, a group of the room when it was mapped", strings.Join(rp.Groups, ", "))
		}
	} else if len(rw.Groups) == 0 && len(notIn) > 0 {
		slices.Sort(notIn)
		add("in none of the room's Authentik groups (%s)", strings.Join(notIn, ", "))
	}
	for _, g := range unknown {
		add("membership of Authentik group %s unknown this cycle", g)
	}

	// The room as it is, and what the store remembers.
	ro, readable := in.Observed.Rooms[room]
	readable = readable && ro.Err == nil
	var mem RoomMember
	present := false
	if readable {
		mem, present = ro.State.Members.Lookup(u)
		rw.Membership = mem.Membership
	}
	rec, managed := in.State.Members.Lookup(key)
	pending, isPending := in.State.Pending[key]
	exemption, exempt := in.State.exemption(room, u)
	rule := RuleFor(policy, room)
	if len(rw.Groups) == 0 && present && (mem.Membership == MembershipJoin || mem.Membership == MembershipInvite) {
		if managed {
			add("managed: the bot saw them in the room's groups before, so it removes them once they are out")
		} else {
			add("never seen in the room's groups: in the room on their own, the bot never removes them")
		}
	}
	if managed && !rec.AddedAt.IsZero() {
		add("added by the bot at %s", WhyTime(rec.AddedAt))
	}
	if isPending {
		add("pending removal due %s: %s", WhyTime(pending.DueAt), pending.Reason)
	}
	if exempt {
		scope := "in every room"
		if exemption.Room != "" {
			scope = "in this room"
		}
		until := ""
		if exemption.UntilBack {
			until = " until back in a group"
		}
		add("exempt %s%s (%s by %s)", scope, until, exemption.Reason, exemption.By)
	}
	if policy.Protected.Protects(u) {
		add("%s: never removed, banned, demoted or locked", ProtectedReason)
	}
	if rule.never && !released {
		add("the mapping of Authentik group %s never removes (remove: false)", rule.neverBecause)
	}
	reasons = append(reasons, powerReasons(in, room, rw.Groups, ro, readable)...)

	// What the next cycle does.
	adding := false
	for _, a := range acts {
		switch a := a.(type) {
		case Invite, ForceJoin:
			adding = true
		case TrackMember:
			continue // bookkeeping an operator need not read about
		case SetPowerLevels:
			for _, c := range a.Changes {
				if c.User == u {
					add("next cycle: power level %d → %d", c.From, c.To)
				}
			}
			continue
		}
		add("next cycle: %s: %s", a.Kind(), a.Why())
	}
	for _, wn := range warns {
		add("warning: %s", wn.Message)
	}
	rw.Reasons = reasons

	// The verdict is the planner's, recorded by the rule that decided it (see decide).
	d, decided := in.decisions[room]
	switch {
	case !decided:
		rw.Verdict = VerdictUnknown
	case (d.verdict == VerdictWillInvite || d.verdict == VerdictWillJoin) && !adding:
		// The preview skips the addition (no Matrix account yet): nothing is promised.
		rw.Verdict = VerdictNotAdded
	default:
		rw.Verdict, rw.At = d.verdict, d.at
	}
	return rw
}

// explainAccount says what the store remembers of the user's account and what the next cycle
// does to it: acts and warns are the plan's actions and warnings about the user without a room.
func explainAccount(in WhyInput, acts []Action, warns []Warning) []string {
	var out []string
	if rec, ok := in.State.Accounts[in.User]; ok {
		what := "deactivated"
		if rec.Deleted {
			what = "deleted"
		}
		out = append(out, fmt.Sprintf("seen %s in Authentik since %s", what, WhyTime(rec.DeactivatedAt)))
		switch {
		case !rec.LockedAt.IsZero() && rec.LockedByBot:
			out = append(out, "locked by the bot at "+WhyTime(rec.LockedAt)+"; unlocked when active again")
		case !rec.LockedAt.IsZero():
			out = append(out, "found locked by someone else at "+WhyTime(rec.LockedAt)+"; the bot never unlocks it")
		case rec.LockedByBot:
			out = append(out, "a lock by the bot was started but not confirmed done")
		}
		if !rec.LoggedOutAt.IsZero() {
			out = append(out, "every session ended by the bot at "+WhyTime(rec.LoggedOutAt))
		}
	}
	for _, a := range acts {
		out = append(out, fmt.Sprintf("next cycle: %s: %s", a.Kind(), a.Why()))
	}
	for _, wn := range warns {
		out = append(out, "warning: "+wn.Message)
	}
	return out
}

// powerReasons explains the user's power level in the room: the level their groups' mappings
// give, the level they have, and what the bot recorded of the levels it set.
func powerReasons(in WhyInput, room id.RoomID, groups []GroupWhy, ro RoomObservation, readable bool) []string {
	var out []string
	want, from := 0, ""
	for _, g := range groups {
		if g.PowerLevel > want {
			want, from = g.PowerLevel, g.Group
		}
	}
	cur := -1
	if readable {
		cur = ro.State.PowerLevels.Level(in.User)
	}
	if want > 0 {
		s := fmt.Sprintf("power level %d from the mapping of Authentik group %s", want, from)
		switch {
		case cur == Unlimited:
			s += "; a room creator, whose power has no limit"
		case cur >= 0:
			s += fmt.Sprintf("; has %d", cur)
		}
		out = append(out, s)
	}
	if g, ok := in.State.Grants[RoomUser{room, in.User}]; ok {
		s := fmt.Sprintf("power level %d set by the bot at %s", g.Level, WhyTime(g.GrantedAt))
		if !g.DemoteAt.IsZero() {
			s += fmt.Sprintf("; back to the room default due %s (out of every group that gives it)", WhyTime(g.DemoteAt))
		}
		out = append(out, s)
	}
	return out
}

// WhySummary is an explanation laid out for reading, the form both `!sync why` and
// `plan --why` print.
type WhySummary struct {
	Head  string
	Rooms []WhyBlock
	// Folded sums up the rooms where the user simply is not a member; empty when there are
	// none, or when one room was asked for.
	Folded string
	// Account is the block about the user's Matrix account (Why.Account); no Lines when there
	// is nothing to say.
	Account WhyBlock
	// LastAction describes the newest audit entry about the user; empty when there is none.
	LastAction string
}

// WhyBlock is one room: its title (room, space, verdict) and its chain of reasons.
type WhyBlock struct {
	// Room is the block's room; empty for the account's block.
	Room  id.RoomID
	Title string
	Lines []string
}

// Summary lays the explanation out: a head line, a block per room (its groups first, then the
// other reasons), the rooms where the user is simply not a member folded into one line.
func (w Why) Summary(now time.Time) WhySummary {
	s := WhySummary{Head: "Why " + string(w.User)}
	if w.Protected {
		s.Head += " (" + ProtectedReason + ": never removed, banned, demoted or locked)"
	}
	fold := len(w.Rooms) > 1
	folded := 0
	for _, r := range w.Rooms {
		if fold && r.Verdict == VerdictNotMember && len(r.Groups) == 0 && len(r.Reasons) <= 1 {
			folded++
			continue
		}
		title := string(r.Room)
		switch {
		case r.Space != "":
			title += " (child room of space " + string(r.Space) + ")"
		case r.Released:
			title += " (released)"
		}
		b := WhyBlock{Room: r.Room, Title: title + ": " + r.Headline(now)}
		for _, g := range r.Groups {
			b.Lines = append(b.Lines, g.String())
		}
		b.Lines = append(b.Lines, r.Reasons...)
		s.Rooms = append(s.Rooms, b)
	}
	if folded > 0 {
		what := "mapped rooms"
		if folded == 1 {
			what = "mapped room"
		}
		other := ""
		if len(s.Rooms) > 0 {
			other = " other"
		}
		s.Folded = fmt.Sprintf("Not a member of %d%s %s, and in none of their groups", folded, other, what)
	}
	if len(w.Account) > 0 {
		s.Account = WhyBlock{Title: "Matrix account:", Lines: w.Account}
	}
	if e := w.LastAction; e != nil {
		line := "Last action: " + WhyTime(e.At) + " " + e.Actor + ": " + e.Command
		if e.Room != "" {
			line += " in " + string(e.Room)
		}
		s.LastAction = line + " → " + e.Result
	}
	return s
}
