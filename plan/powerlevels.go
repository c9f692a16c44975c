package plan

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// PowerGrant is a power level the bot gave a user in a room. The bot only ever lowers the levels
// it recorded here, and only while the room still shows the level it set: a level someone else
// changed is theirs.
type PowerGrant struct {
	Room      id.RoomID
	User      id.UserID
	Level     int
	GrantedAt time.Time
	// DemoteAt is when the user, out of every group that gave the level, goes back to the room's
	// default; zero while they keep it.
	DemoteAt time.Time
}

// LevelChange is one user's entry in a SetPowerLevels.
type LevelChange struct {
	User id.UserID
	// From is the level the plan saw: the change is skipped if the room shows another one by the
	// time it is written (someone else changed it meanwhile).
	From, To int
	// Promote records a grant at To; otherwise the user is demoted and the grant dropped.
	Promote bool
	// Reason is why this user's level changes; SetPowerLevels.Reason joins those of its changes.
	Reason string
}

// SetPowerLevels changes several users' levels in one room with a single m.room.power_levels
// event.
type SetPowerLevels struct {
	Room    id.RoomID
	Changes []LevelChange
	Reason  string
}

// ScheduleDemotion starts the grace period of a user who left every group giving their level.
type ScheduleDemotion struct {
	Room   id.RoomID
	User   id.UserID
	DueAt  time.Time
	Reason string
}

// CancelDemotion drops a pending demotion: the user is back in a group giving the level.
type CancelDemotion struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// ForgetPowerGrant drops a grant without touching the room: the level is no longer the bot's.
type ForgetPowerGrant struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

func (a SetPowerLevels) Target() RoomUser   { return RoomUser{Room: a.Room} }
func (a ScheduleDemotion) Target() RoomUser { return RoomUser{a.Room, a.User} }
func (a CancelDemotion) Target() RoomUser   { return RoomUser{a.Room, a.User} }
func (a ForgetPowerGrant) Target() RoomUser { return RoomUser{a.Room, a.User} }

func (SetPowerLevels) Kind() string   { return "set_power_levels" }
func (ScheduleDemotion) Kind() string { return "schedule_demotion" }
func (CancelDemotion) Kind() string   { return "cancel_demotion" }
func (ForgetPowerGrant) Kind() string { return "forget_power_grant" }

func (a SetPowerLevels) Why() string   { return a.Reason }
func (a ScheduleDemotion) Why() string { return a.Reason }
func (a CancelDemotion) Why() string   { return a.Reason }
func (a ForgetPowerGrant) Why() string { return a.Reason }

// A power-level change is not an addition, but it must not wait for removals (and their backup)
// nor be counted with them by the mass-removal guard.
func (SetPowerLevels) Phase() int   { return PhaseAdd }
func (ScheduleDemotion) Phase() int { return PhaseState }
func (CancelDemotion) Phase() int   { return PhaseState }
func (ForgetPowerGrant) Phase() int { return PhaseState }

// PowerAction marks the actions applied by applyPower.
type PowerAction interface {
	Action
	isPower()
}

func (SetPowerLevels) isPower()   {}
func (ScheduleDemotion) isPower() {}
func (CancelDemotion) isPower()   {}
func (ForgetPowerGrant) isPower() {}

// DescribeChanges renders a change list as "@a 0→50, @b 50→0".
func DescribeChanges(changes []LevelChange) string {
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		parts = append(parts, fmt.Sprintf("%s %d→%d", c.User, c.From, c.To))
	}
	return strings.Join(parts, ", ")
}

// planPower plans the power levels of every mapped room: members of groups mapped with a
// power_level are raised to the highest level any of their mappings gives, and users the bot
// raised who left those groups go back to the room's default after the grace period. All changes
// of a room go into one SetPowerLevels. A member the plan adds to the room is raised in the same
// cycle: the power-levels event goes out just before the room's additions.
func (p *Plan) planPower(policy Policy, obs Observed, state State, now time.Time) {
	if len(state.Grants) == 0 && !slices.ContainsFunc(policy.Mappings, func(m Mapping) bool { return m.PowerLevel > 0 }) {
		return
	}
	adding := AddTargets(p.Actions)
	grants := map[id.RoomID]map[id.UserID]PowerGrant{}
	for k, g := range state.Grants {
		if grants[k.Room] == nil {
			grants[k.Room] = map[id.UserID]PowerGrant{}
		}
		grants[k.Room][k.User] = g
	}
	for _, rp := range RoomsOf(policy) {
		p.planRoomPower(policy, rp.Room, grants[rp.Room], adding, obs, state, now)
	}
}

func (p *Plan) planRoomPower(policy Policy, room id.RoomID, grants map[id.UserID]PowerGrant, adding map[RoomUser]bool, obs Observed, state State, now time.Time) {
	target := map[id.UserID]int{}
	via := map[id.UserID][]string{}
	var unknown []string
	for _, m := range policy.Mappings {
		if m.Room != room || m.PowerLevel <= 0 {
			continue
		}
		g, ok := obs.Groups[m.Group]
		if (!ok || !g.Known()) && !slices.Contains(unknown, m.Group) {
			unknown = append(unknown, m.Group)
		}
		for _, mem := range g.Members {
			if m.PowerLevel > target[mem.UserID] {
				target[mem.UserID] = m.PowerLevel
			}
			if !slices.Contains(via[mem.UserID], m.Group) {
				via[mem.UserID] = append(via[mem.UserID], m.Group)
			}
		}
	}
	if len(target) == 0 && len(grants) == 0 && len(unknown) == 0 {
		return
	}
	ro, ok := obs.Rooms[room]
	if !ok || ro.Err != nil {
		return // planRoom has warned already
	}
	rs := ro.State
	pl := rs.PowerLevels
	botLevel := pl.Level(policy.Bot)
	canWrite := botLevel >= pl.ChangePowerLevels
	var changes []LevelChange
	held := false // a demotion waits for an unknown group

	for _, u := range slices.Sorted(maps.Keys(target)) {
		if u == policy.Bot {
			continue
		}
		want := target[u]
		groups := strings.Join(slices.Sorted(slices.Values(via[u])), ", ")
		g, granted := grants[u]
		if granted && !g.DemoteAt.IsZero() {
			p.Actions = append(p.Actions, CancelDemotion{Room: room, User: u, Reason: "back in Authentik group " + groups})
		}
		if m := rs.Members.Get(u).Membership; m != MembershipJoin && m != MembershipInvite && !adding[RoomUser{room, u}] {
			continue // raised once they are in the room, or once the bot adds them
		}
		cur := pl.Level(u)
		if cur >= want {
			if granted && cur != g.Level {
				p.Actions = append(p.Actions, ForgetPowerGrant{Room: room, User: u,
					Reason: fmt.Sprintf("power level changed by someone else to %d (the bot set %d): no longer the bot's to change", cur, g.Level)})
			}
			continue
		}
		switch {
		case want > botLevel:
			p.warn(room, u, "not raised to power level %d (Authentik group %s): that is above the bot's own level %d", want, groups, botLevel)
			continue
		case !canWrite:
			p.warn(room, u, "not raised to power level %d: the bot's level %d is below the %d needed to change power levels", want, botLevel, pl.ChangePowerLevels)
			continue
		}
		changes = append(changes, LevelChange{User: u, From: cur, To: want, Promote: true,
			Reason: fmt.Sprintf("%s raised from %d to %d (Authentik group %s)", u, cur, want, groups)})
	}

	for _, u := range slices.Sorted(maps.Keys(grants)) {
		if _, wanted := target[u]; wanted || u == policy.Bot {
			continue
		}
		g := grants[u]
		cur := pl.Level(u)
		switch {
		case cur != g.Level:
			p.Actions = append(p.Actions, ForgetPowerGrant{Room: room, User: u,
				Reason: fmt.Sprintf("power level changed by someone else to %d (the bot set %d): left alone", cur, g.Level)})
			continue
		case cur <= pl.UsersDefault:
			p.Actions = append(p.Actions, ForgetPowerGrant{Room: room, User: u, Reason: "already at the room's default power level"})
			continue
		case len(unknown) > 0:
			held = true // warned once below
			continue
		}
		if _, exempt := state.exemption(room, u); exempt {
			if !g.DemoteAt.IsZero() {
				p.Actions = append(p.Actions, CancelDemotion{Room: room, User: u, Reason: "exempted by an admin"})
			}
			continue
		}
		// Every demotion is decided below: a protected user is neither scheduled nor demoted.
		if p.spare(policy, room, u, "demoted") {
			if !g.DemoteAt.IsZero() {
				p.Actions = append(p.Actions, CancelDemotion{Room: room, User: u, Reason: ProtectedReason})
			}
			continue
		}
		if g.DemoteAt.IsZero() {
			p.Actions = append(p.Actions, ScheduleDemotion{Room: room, User: u, DueAt: now.Add(RuleFor(policy, room).grace),
				Reason: fmt.Sprintf("no longer in an Authentik group that gives power level %d here", g.Level)})
			continue
		}
		if now.Before(g.DemoteAt) {
			continue
		}
		switch {
		case cur >= botLevel:
			p.warn(room, u, "not demoted: their power level %d is not below the bot's %d", cur, botLevel)
			continue
		case !canWrite:
			p.warn(room, u, "not demoted: the bot's level %d is below the %d needed to change power levels", botLevel, pl.ChangePowerLevels)
			continue
		}
		changes = append(changes, LevelChange{User: u, From: cur, To: pl.UsersDefault,
			Reason: fmt.Sprintf("%s lowered from %d to the room default %d (out of the group, grace period over)", u, cur, pl.UsersDefault)})
	}
	if held {
		slices.Sort(unknown)
		p.warn(room, "", "membership of Authentik group(s) %s unknown this cycle: no power levels lowered in this room", strings.Join(unknown, ", "))
	}
	if len(changes) > 0 {
		p.Actions = append(p.Actions, SetPowerLevels{Room: room, Changes: changes, Reason: ChangesReason(changes)})
	}
}

// ChangesReason joins the reasons of changes, as a SetPowerLevels of them gives it.
func ChangesReason(changes []LevelChange) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		parts[i] = c.Reason
	}
	return strings.Join(parts, "; ")
}
