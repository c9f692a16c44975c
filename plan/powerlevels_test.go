package plan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// plRoom is a readable room where everyone in levels has that level, the bot 100 unless set,
// and every user in levels or joinedUsers has joined.
func plRoom(levels map[id.UserID]int, joinedUsers ...id.UserID) RoomObservation {
	members := map[id.UserID]RoomMember{}
	for u := range levels {
		members[u] = joined(earlier)
	}
	for _, u := range joinedUsers {
		members[u] = joined(earlier)
	}
	ro := roomWith(members)
	for u, l := range levels {
		ro.State.PowerLevels.Users[u] = l
	}
	ro.State.PowerLevels.ChangePowerLevels = 100
	return ro
}

func grantsOf(gs ...PowerGrant) State {
	s := NewState()
	s.Grants = map[RoomUser]PowerGrant{}
	for _, g := range gs {
		s.Grants[RoomUser{Room: g.Room, User: g.User}] = g
		// Power mappings come with membership: keep the membership planner quiet.
		s.Members.Set(tracked(g.Room, g.User, earlier))
	}
	return s
}

// powerOnly keeps the power actions of a plan.
func powerOnly(actions []Action) []Action {
	var out []Action
	for _, a := range actions {
		if _, ok := a.(PowerAction); ok {
			out = append(out, a)
		}
	}
	return out
}

func TestPlanPower(t *testing.T) {
	mods := Mapping{Group: "moderators", Room: roomA, Method: MethodInvite, PowerLevel: 50}
	admins := Mapping{Group: "admins", Room: roomA, Method: MethodInvite, PowerLevel: 75}
	staff := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	rooms := func(ro RoomObservation) map[id.RoomID]RoomObservation {
		return map[id.RoomID]RoomObservation{roomA: ro}
	}
	short := time.Hour
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []string
	}{
		{
			name:   "a joined member of a power mapping is raised",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(nil, alice))},
			state:  grantsOf(),
			want:   []Action{setLevels(roomA, LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"})},
		},
		{
			name:   "several changes in a room make one event, each user at their highest level",
			policy: policy(mods, admins, staff),
			obs: Observed{Groups: groups(group("moderators", alice, bob), group("admins", bob), group("staff", alice, bob, carol)),
				Rooms: rooms(plRoom(nil, alice, bob, carol))},
			state: grantsOf(),
			want: []Action{setLevels(roomA,
				LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"},
				LevelChange{User: bob, From: 0, To: 75, Promote: true, Reason: "@bob:hs raised from 0 to 75 (Authentik group admins, moderators)"})},
		},
		{
			name:   "a user already at or above the level is left alone and never lowered",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators", alice, bob)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50, bob: 90}))},
			state:  grantsOf(),
		},
		{
			name:   "a group member the plan adds to the room is raised in the same cycle",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(nil))},
			state:  grantsOf(),
			want:   []Action{setLevels(roomA, LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"})},
		},
		{
			name:   "a group member who left the room on their own is not added, nor raised",
			policy: policy(mods),
			obs: Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(func() RoomObservation {
				ro := plRoom(nil)
				ro.State.Members = NewRoomMembers(map[id.UserID]RoomMember{bot: joined(earlier),
					alice: {Membership: MembershipLeave, Sender: alice, Since: now.Add(-time.Minute)}})
				return ro
			}())},
			state: func() State {
				s := grantsOf()
				s.Members.Set(tracked(roomA, alice, earlier)) // in the group since before they left
				return s
			}(),
		},
		{
			name:   "a level above the bot's own is not set",
			policy: policy(Mapping{Group: "moderators", Room: roomA, PowerLevel: 100}),
			obs: Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() RoomObservation {
					ro := plRoom(nil, alice)
					ro.State.PowerLevels.Users[bot] = 60
					ro.State.PowerLevels.ChangePowerLevels = 50
					return ro
				}())},
			state:    grantsOf(),
			warnings: []string{"not raised to power level 100 (Authentik group moderators): that is above the bot's own level 60"},
		},
		{
			name:   "a bot below the power_levels event level only warns",
			policy: policy(mods),
			obs: Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() RoomObservation { ro := plRoom(nil, alice); ro.State.PowerLevels.Users[bot] = 90; return ro }())},
			state:    grantsOf(),
			warnings: []string{"below the 100 needed to change power levels"},
		},
		{
			name:   "a room creator (room v12) is never raised",
			policy: policy(mods),
			obs: Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() RoomObservation {
					ro := plRoom(nil, alice)
					ro.State.PowerLevels.Creators = map[id.UserID]bool{alice: true, bot: true}
					return ro
				}())},
			state: grantsOf(),
		},
		{
			name:   "a raised user who left the group gets a demotion after the grace period",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []Action{ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(grace),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
		{
			name:   "the mapping's own grace period applies to demotions",
			policy: policy(Mapping{Group: "moderators", Room: roomA, PowerLevel: 50, MappingOverrides: MappingOverrides{GracePeriod: &short}}),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []Action{ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(short),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
		{
			name:   "a due demotion goes back to users_default, together with a promotion",
			policy: policy(mods),
			obs: Observed{Groups: groups(group("moderators", bob)),
				Rooms: rooms(func() RoomObservation {
					ro := plRoom(map[id.UserID]int{alice: 50}, bob)
					ro.State.PowerLevels.UsersDefault = 10
					return ro
				}())},
			state: grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			want: []Action{setLevels(roomA,
				LevelChange{User: bob, From: 10, To: 50, Promote: true, Reason: "@bob:hs raised from 10 to 50 (Authentik group moderators)"},
				LevelChange{User: alice, From: 50, To: 10, Reason: "@alice:hs lowered from 50 to the room default 10 (out of the group, grace period over)"})},
		},
		{
			name:   "a demotion not yet due waits",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later}),
		},
		{
			name:   "back in the group cancels the demotion",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later}),
			want:   []Action{CancelDemotion{Room: roomA, User: alice, Reason: "back in Authentik group moderators"}},
		},
		{
			name:   "a level someone else changed is forgotten, never lowered",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 75}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			want: []Action{ForgetPowerGrant{Room: roomA, User: alice,
				Reason: "power level changed by someone else to 75 (the bot set 50): left alone"}},
		},
		{
			name:   "an unknown group lowers nobody",
			policy: policy(mods),
			obs: Observed{Groups: map[string]GroupMembers{"moderators": {Group: "moderators", Err: errors.New("authentik down")}},
				Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:    grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			warnings: []string{"unknown this cycle: no removals", "unknown this cycle: no power levels lowered"},
		},
		{
			name:   "a user at or above the bot's level is not demoted",
			policy: policy(mods),
			obs: Observed{Groups: groups(group("moderators")),
				Rooms: rooms(func() RoomObservation {
					ro := plRoom(map[id.UserID]int{alice: 50})
					ro.State.PowerLevels.Users[bot] = 50
					ro.State.PowerLevels.ChangePowerLevels = 50
					return ro
				}())},
			state:    grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			warnings: []string{"not demoted: their power level 50 is not below the bot's 50"},
		},
		{
			name:   "an exempted user is not demoted, and a pending demotion is cancelled",
			policy: policy(mods),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state: func() State {
				s := grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later})
				s.Exempt[RoomUser{User: alice}] = Exemption{User: alice}
				return s
			}(),
			want: []Action{CancelDemotion{Room: roomA, User: alice, Reason: "exempted by an admin"}},
		},
		{
			name:   "a mapping that stops giving a level demotes like leaving the group",
			policy: policy(staff),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []Action{ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(grace),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			planned := MakePlan(tc.policy, tc.obs, tc.state, now)
			if got := powerOnly(planned.Actions); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("power actions:\n got %#v\nwant %#v", got, tc.want)
			}
			for _, a := range planned.Actions {
				if IsRemoval(a) {
					t.Errorf("unexpected removal %s", Describe(a))
				}
			}
			var ws []string
			for _, w := range planned.Warnings {
				ws = append(ws, w.String())
			}
			if len(ws) != len(tc.warnings) {
				t.Fatalf("warnings = %q, want %d matching %q", ws, len(tc.warnings), tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, ws[i], w)
				}
			}
		})
	}
}

func TestDescribeSetPowerLevels(t *testing.T) {
	a := SetPowerLevels{Room: roomA, Changes: []LevelChange{{User: alice, From: 0, To: 50, Promote: true}}, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"}
	if got, want := Describe(a), "set_power_levels in !a:hs: @alice:hs raised from 0 to 50 (Authentik group moderators)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if !IsMatrixWrite(a) || IsRemoval(a) {
		t.Error("set_power_levels must count as a room write and never as a removal")
	}
}

func TestPowerLevelReachesSpaceChildren(t *testing.T) {
	space := id.RoomID("!space:hs")
	mods := Mapping{Group: "moderators", Room: space, PowerLevel: 50, SpaceOptions: SpaceOptions{IncludeChildren: true}}
	p := policy(ExpandSpaces([]Mapping{mods}, map[id.RoomID][]id.RoomID{space: {roomA, roomB}})...)
	obs := Observed{Groups: groups(group("moderators", alice)), Rooms: map[id.RoomID]RoomObservation{
		space: plRoom(nil, alice), roomA: plRoom(nil, alice), roomB: plRoom(map[id.UserID]int{alice: 50}),
	}}
	var rooms []id.RoomID
	for _, a := range powerOnly(MakePlan(p, obs, grantsOf(), now).Actions) {
		if spl, ok := a.(SetPowerLevels); ok && len(spl.Changes) == 1 && spl.Changes[0].User == alice {
			rooms = append(rooms, spl.Room)
		}
	}
	if want := []id.RoomID{roomA, space}; !reflect.DeepEqual(rooms, want) {
		t.Errorf("alice raised in %v, want %v (roomB has her at 50 already)", rooms, want)
	}
}

// setLevels is the SetPowerLevels of changes, with the reason the planner gives it.
func setLevels(room id.RoomID, changes ...LevelChange) SetPowerLevels {
	return SetPowerLevels{Room: room, Changes: changes, Reason: ChangesReason(changes)}
}
