package plan

import (
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// ReleasedRoom is a room the bot managed that no mapping covers any more: a child that left its
// space, or the room of a mapping removed from the configuration. The bot stops adding people to
// it and schedules no new removals there, because reorganising a space or the configuration must
// not empty rooms. Removals that were already pending run at their deadline like any other,
// unless the user is back in one of Groups; then the bot forgets the room.
type ReleasedRoom struct {
	Room id.RoomID
	// Groups were mapped to the room when it was last managed; empty when that is unknown (state
	// older than the record), in which case pending removals are kept but never run.
	Groups []string
	// RemoveAction is how the room's mappings removed people.
	RemoveAction RemoveAction
}

// ReleasedRooms lists the rooms with stored state that no mapping of policy covers, with what
// was last known of their mappings.
func ReleasedRooms(policy Policy, state State, known map[id.RoomID]RoomRecord) []ReleasedRoom {
	mapped := map[id.RoomID]bool{}
	for _, m := range policy.Mappings {
		mapped[m.Room] = true
	}
	seen := map[id.RoomID]bool{}
	var out []ReleasedRoom
	add := func(room id.RoomID) {
		if mapped[room] || seen[room] {
			return
		}
		seen[room] = true
		rec := known[room]
		out = append(out, ReleasedRoom{Room: room, Groups: rec.Groups, RemoveAction: rec.RemoveAction})
	}
	for _, room := range state.Members.Rooms() {
		add(room)
	}
	for k := range state.Pending {
		add(k.Room)
	}
	slices.SortFunc(out, func(a, b ReleasedRoom) int { return strings.Compare(string(a.Room), string(b.Room)) })
	return out
}

// planReleased winds a released room down: due pending removals run (unless the user is back in
// one of the room's groups), every other record is dropped.
func (p *Plan) planReleased(policy Policy, rel ReleasedRoom, obs Observed, state State, now time.Time) {
	room := rel.Room
	users := slices.Collect(state.Members.Users(room))
	for k := range state.Pending {
		if k.Room == room && !slices.Contains(users, k.User) {
			users = append(users, k.User)
		}
	}
	slices.Sort(users)
	const released = "room released: no mapping covers it any more"
	p.decide(room, policy.Bot, VerdictBot, time.Time{})
	ro, readable := obs.Rooms[room]
	readable = readable && ro.Err == nil
	// settled is the verdict on a user whose removal nothing holds here any more: the bot no
	// longer manages anyone in a released room.
	settled := func(u id.UserID) Verdict {
		switch m := ro.State.Members.Get(u).Membership; {
		case !readable:
			return VerdictUnknown
		case m != MembershipJoin && m != MembershipInvite:
			return VerdictNotMember
		}
		if _, managed := state.Members.Lookup(RoomUser{room, u}); !managed {
			return VerdictNotManaged
		}
		if _, exempt := state.exemption(room, u); exempt {
			return VerdictExempt
		}
		if policy.Protected.Protects(u) {
			return VerdictProtected
		}
		return VerdictNotManaged
	}
	// held is the verdict on a user whose pending removal waits.
	held := func(pending PendingRemoval) (Verdict, time.Time) {
		if !readable {
			return VerdictUnknown, time.Time{}
		}
		return VerdictPendingRemoval, pending.DueAt
	}
	for _, u := range users {
		key := RoomUser{room, u}
		pending, isPending := state.Pending[key]
		if !isPending {
			p.Actions = append(p.Actions, ForgetMember{Room: room, User: u, Reason: released})
			p.decide(room, u, settled(u), time.Time{})
			continue
		}
		if _, exempt := state.exemption(room, u); exempt {
			p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: "exempted by an admin"})
			p.decide(room, u, settled(u), time.Time{})
			continue
		}
		if p.spare(policy, room, u, "removed") {
			p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: ProtectedReason})
			p.decide(room, u, settled(u), time.Time{})
			continue
		}
		v, at := held(pending)
		p.decide(room, u, v, at)
		if len(rel.Groups) == 0 {
			p.warn(room, u, "pending removal kept but not run: the room is no longer mapped and its groups are unknown; exempt the user to drop it")
			continue
		}
		back, known := inAnyGroup(obs, rel.Groups, u)
		if back {
			p.Actions = append(p.Actions, ForgetMember{Room: room, User: u, Reason: "back in Authentik group " + strings.Join(rel.Groups, ", ") + "; " + released})
			continue
		}
		grace := RuleFor(policy, room).grace
		if !known {
			// As in a mapped room: a cycle that cannot see the groups breaks the whole grace
			// period, which starts over at the next complete read (see restartGrace).
			if !pending.AwaitingRead && !isLifecycleReason(pending.Reason) {
				p.Actions = append(p.Actions, RestartGrace{Room: room, User: u, DueAt: now.Add(grace), Reason: pending.Reason})
				p.decide(room, u, VerdictWillRemove, now.Add(grace))
			}
			if !now.Before(pending.DueAt) {
				p.warn(room, u, "pending removal not run: membership of Authentik group(s) %s unknown this cycle", strings.Join(rel.Groups, ", "))
			}
			continue
		}
		if pending.AwaitingRead {
			p.Actions = append(p.Actions, ScheduleRemoval{Room: room, User: u, DueAt: now.Add(grace), Reason: pending.Reason})
			p.decide(room, u, VerdictWillRemove, now.Add(grace))
			continue
		}
		if now.Before(pending.DueAt) {
			continue
		}
		if !readable {
			p.warn(room, u, "pending removal not run: the released room's state is unreadable this cycle")
			continue
		}
		rs := ro.State
		mem := rs.Members.Get(u)
		if mem.Membership != MembershipJoin && mem.Membership != MembershipInvite {
			p.Actions = append(p.Actions, ForgetMember{Room: room, User: u, Reason: "no longer in the room; " + released})
			continue
		}
		action := rel.RemoveAction
		if action == "" {
			action = policy.RemoveAction
		}
		p.removeNow(policy, room, u, action, pending.Reason, rs)
	}
	if u := p.explain; u != "" && !slices.Contains(users, u) {
		p.decideIfOpen(room, u, settled(u), time.Time{})
	}
}

// inAnyGroup reports whether the user is in one of groups, and whether every one of them was read
// completely (without that, "not in any" cannot be trusted).
func inAnyGroup(obs Observed, groups []string, u id.UserID) (in, known bool) {
	known = true
	for _, g := range groups {
		gm, ok := obs.Groups[g]
		if !ok || !gm.Known() {
			known = false
		}
		for _, m := range gm.Members {
			if m.UserID == u {
				return true, known
			}
		}
	}
	return false, known
}

// removeNow adds the kick or ban of a user whose grace period is over, if the bot can do it.
// Every kick and ban of a plan is decided here, so this is where protected_users holds.
func (p *Plan) removeNow(policy Policy, room id.RoomID, u id.UserID, action RemoveAction, reason string, rs RoomState) {
	if p.spare(policy, room, u, "removed") {
		return
	}
	botLevel := rs.PowerLevels.Level(policy.Bot)
	needed := rs.PowerLevels.Kick
	if action == RemoveBan {
		needed = rs.PowerLevels.Ban
	}
	if level := rs.PowerLevels.Level(u); level >= botLevel {
		p.warn(room, u, "not removed: their power level %d is not below the bot's %d", level, botLevel)
		return
	}
	if botLevel < needed {
		p.warn(room, u, "not removed: the bot's power level %d is below the %s level %d", botLevel, action, needed)
		return
	}
	if p.Replaced == nil {
		p.Replaced = map[RoomUser]RoomMember{}
	}
	p.Replaced[RoomUser{room, u}] = rs.Members.Get(u)
	p.decide(room, u, VerdictWillRemove, time.Time{})
	if action == RemoveBan {
		p.Actions = append(p.Actions, Ban{Room: room, User: u, Reason: reason})
		return
	}
	p.Actions = append(p.Actions, Kick{Room: room, User: u, Reason: reason})
}
