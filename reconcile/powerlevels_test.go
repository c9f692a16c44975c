package reconcile

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// plRoom is a readable room where everyone in levels has that level, the bot 100 unless set,
// and every user in levels or joinedUsers has joined.
func plRoom(levels map[id.UserID]int, joinedUsers ...id.UserID) plan.RoomObservation {
	members := map[id.UserID]plan.RoomMember{}
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

func grantsOf(gs ...plan.PowerGrant) plan.State {
	s := plan.NewState()
	s.Grants = map[plan.RoomUser]plan.PowerGrant{}
	for _, g := range gs {
		s.Grants[plan.RoomUser{Room: g.Room, User: g.User}] = g
		// Power mappings come with membership: keep the membership planner quiet.
		s.Members.Set(tracked(g.Room, g.User, earlier))
	}
	return s
}

// powerOnly keeps the power actions of a plan.
func powerOnly(actions []plan.Action) []plan.Action {
	var out []plan.Action
	for _, a := range actions {
		if _, ok := a.(plan.PowerAction); ok {
			out = append(out, a)
		}
	}
	return out
}

func TestPlanPower(t *testing.T) {
	mods := plan.Mapping{Group: "moderators", Room: roomA, Method: plan.MethodInvite, PowerLevel: 50}
	admins := plan.Mapping{Group: "admins", Room: roomA, Method: plan.MethodInvite, PowerLevel: 75}
	staff := plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}
	rooms := func(ro plan.RoomObservation) map[id.RoomID]plan.RoomObservation {
		return map[id.RoomID]plan.RoomObservation{roomA: ro}
	}
	short := time.Hour
	tests := []struct {
		name     string
		policy   plan.Policy
		obs      plan.Observed
		state    plan.State
		want     []plan.Action
		warnings []string
	}{
		{
			name:   "a joined member of a power mapping is raised",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(nil, alice))},
			state:  grantsOf(),
			want:   []plan.Action{setLevels(roomA, plan.LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"})},
		},
		{
			name:   "several changes in a room make one event, each user at their highest level",
			policy: policy(mods, admins, staff),
			obs: plan.Observed{Groups: groups(group("moderators", alice, bob), group("admins", bob), group("staff", alice, bob, carol)),
				Rooms: rooms(plRoom(nil, alice, bob, carol))},
			state: grantsOf(),
			want: []plan.Action{setLevels(roomA,
				plan.LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"},
				plan.LevelChange{User: bob, From: 0, To: 75, Promote: true, Reason: "@bob:hs raised from 0 to 75 (Authentik group admins, moderators)"})},
		},
		{
			name:   "a user already at or above the level is left alone and never lowered",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators", alice, bob)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50, bob: 90}))},
			state:  grantsOf(),
		},
		{
			name:   "a group member the plan adds to the room is raised in the same cycle",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(nil))},
			state:  grantsOf(),
			want:   []plan.Action{setLevels(roomA, plan.LevelChange{User: alice, From: 0, To: 50, Promote: true, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"})},
		},
		{
			name:   "a group member who left the room on their own is not added, nor raised",
			policy: policy(mods),
			obs: plan.Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(func() plan.RoomObservation {
				ro := plRoom(nil)
				ro.State.Members = plan.NewRoomMembers(map[id.UserID]plan.RoomMember{bot: joined(earlier),
					alice: {Membership: plan.MembershipLeave, Sender: alice, Since: now.Add(-time.Minute)}})
				return ro
			}())},
			state: func() plan.State {
				s := grantsOf()
				s.Members.Set(tracked(roomA, alice, earlier)) // in the group since before they left
				return s
			}(),
		},
		{
			name:   "a level above the bot's own is not set",
			policy: policy(plan.Mapping{Group: "moderators", Room: roomA, PowerLevel: 100}),
			obs: plan.Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() plan.RoomObservation {
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
			obs: plan.Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() plan.RoomObservation { ro := plRoom(nil, alice); ro.State.PowerLevels.Users[bot] = 90; return ro }())},
			state:    grantsOf(),
			warnings: []string{"below the 100 needed to change power levels"},
		},
		{
			name:   "a room creator (room v12) is never raised",
			policy: policy(mods),
			obs: plan.Observed{Groups: groups(group("moderators", alice)),
				Rooms: rooms(func() plan.RoomObservation {
					ro := plRoom(nil, alice)
					ro.State.PowerLevels.Creators = map[id.UserID]bool{alice: true, bot: true}
					return ro
				}())},
			state: grantsOf(),
		},
		{
			name:   "a raised user who left the group gets a demotion after the grace period",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []plan.Action{plan.ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(grace),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
		{
			name:   "the mapping's own grace period applies to demotions",
			policy: policy(plan.Mapping{Group: "moderators", Room: roomA, PowerLevel: 50, MappingOverrides: plan.MappingOverrides{GracePeriod: &short}}),
			obs:    plan.Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []plan.Action{plan.ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(short),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
		{
			name:   "a due demotion goes back to users_default, together with a promotion",
			policy: policy(mods),
			obs: plan.Observed{Groups: groups(group("moderators", bob)),
				Rooms: rooms(func() plan.RoomObservation {
					ro := plRoom(map[id.UserID]int{alice: 50}, bob)
					ro.State.PowerLevels.UsersDefault = 10
					return ro
				}())},
			state: grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			want: []plan.Action{setLevels(roomA,
				plan.LevelChange{User: bob, From: 10, To: 50, Promote: true, Reason: "@bob:hs raised from 10 to 50 (Authentik group moderators)"},
				plan.LevelChange{User: alice, From: 50, To: 10, Reason: "@alice:hs lowered from 50 to the room default 10 (out of the group, grace period over)"})},
		},
		{
			name:   "a demotion not yet due waits",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later}),
		},
		{
			name:   "back in the group cancels the demotion",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators", alice)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later}),
			want:   []plan.Action{plan.CancelDemotion{Room: roomA, User: alice, Reason: "back in Authentik group moderators"}},
		},
		{
			name:   "a level someone else changed is forgotten, never lowered",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 75}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			want: []plan.Action{plan.ForgetPowerGrant{Room: roomA, User: alice,
				Reason: "power level changed by someone else to 75 (the bot set 50): left alone"}},
		},
		{
			name:   "an unknown group lowers nobody",
			policy: policy(mods),
			obs: plan.Observed{Groups: map[string]plan.GroupMembers{"moderators": {Group: "moderators", Err: errors.New("authentik down")}},
				Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:    grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			warnings: []string{"unknown this cycle: no removals", "unknown this cycle: no power levels lowered"},
		},
		{
			name:   "a user at or above the bot's level is not demoted",
			policy: policy(mods),
			obs: plan.Observed{Groups: groups(group("moderators")),
				Rooms: rooms(func() plan.RoomObservation {
					ro := plRoom(map[id.UserID]int{alice: 50})
					ro.State.PowerLevels.Users[bot] = 50
					ro.State.PowerLevels.ChangePowerLevels = 50
					return ro
				}())},
			state:    grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: earlier}),
			warnings: []string{"not demoted: their power level 50 is not below the bot's 50"},
		},
		{
			name:   "an exempted user is not demoted, and a pending demotion is cancelled",
			policy: policy(mods),
			obs:    plan.Observed{Groups: groups(group("moderators")), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state: func() plan.State {
				s := grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: later})
				s.Exempt[plan.RoomUser{User: alice}] = plan.Exemption{User: alice}
				return s
			}(),
			want: []plan.Action{plan.CancelDemotion{Room: roomA, User: alice, Reason: "exempted by an admin"}},
		},
		{
			name:   "a mapping that stops giving a level demotes like leaving the group",
			policy: policy(staff),
			obs:    plan.Observed{Groups: groups(group("staff", alice)), Rooms: rooms(plRoom(map[id.UserID]int{alice: 50}))},
			state:  grantsOf(plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier}),
			want: []plan.Action{plan.ScheduleDemotion{Room: roomA, User: alice, DueAt: now.Add(grace),
				Reason: "no longer in an Authentik group that gives power level 50 here"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			planned := plan.MakePlan(tc.policy, tc.obs, tc.state, now)
			if got := powerOnly(planned.Actions); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("power actions:\n got %#v\nwant %#v", got, tc.want)
			}
			for _, a := range planned.Actions {
				if plan.IsRemoval(a) {
					t.Errorf("unexpected removal %s", plan.Describe(a))
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

// powerStore is a Store fake that also keeps grants.
type powerStore struct {
	Store
	grants map[plan.RoomUser]plan.PowerGrant
}

func (s *powerStore) PowerGrants(context.Context) (map[plan.RoomUser]plan.PowerGrant, error) {
	return s.grants, nil
}
func (s *powerStore) PutPowerGrant(_ context.Context, g plan.PowerGrant) error {
	s.grants[plan.RoomUser{Room: g.Room, User: g.User}] = g
	return nil
}
func (s *powerStore) DeletePowerGrant(_ context.Context, room id.RoomID, user id.UserID) error {
	delete(s.grants, plan.RoomUser{Room: room, User: user})
	return nil
}

// levelWriter is a PowerLevelWriter fake holding one room's users.
type levelWriter struct {
	Rooms
	users  map[id.UserID]int
	writes int
}

func (w *levelWriter) SetUserPowerLevels(_ context.Context, _ id.RoomID, changes []plan.LevelChange) ([]plan.LevelChange, error) {
	var done []plan.LevelChange
	for _, c := range changes {
		if w.users[c.User] != c.From {
			continue
		}
		w.users[c.User] = c.To
		done = append(done, c)
	}
	if len(done) > 0 {
		w.writes++
	}
	return done, nil
}

func TestApplyPowerRecordsGrants(t *testing.T) {
	ps := &powerStore{grants: map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: carol}: {Room: roomA, User: carol, Level: 50, DemoteAt: earlier}}}
	w := &levelWriter{users: map[id.UserID]int{alice: 0, bob: 20, carol: 50}}
	r := New(Options{Store: ps, Rooms: w, Now: func() time.Time { return now }})
	res := &CycleResult{Done: map[string]int{}, Failed: map[string]int{}, Skipped: map[string]int{}}
	st := plan.NewState()
	st.Grants = maps.Clone(ps.grants)
	planned := plan.Plan{Actions: []plan.Action{
		plan.ScheduleDemotion{Room: roomA, User: carol, DueAt: later},
		plan.SetPowerLevels{Room: roomA, Changes: []plan.LevelChange{
			{User: alice, From: 0, To: 50, Promote: true},
			{User: bob, From: 0, To: 50, Promote: true}, // bob moved to 20 meanwhile: skipped
			{User: carol, From: 50, To: 0},
		}},
	}}
	r.apply(t.Context(), r.opts.Log, planned, st, plan.Observed{}, res)
	if w.writes != 1 {
		t.Errorf("writes = %d, want 1", w.writes)
	}
	want := map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: alice}: {Room: roomA, User: alice, Level: 50, GrantedAt: now}}
	if !reflect.DeepEqual(ps.grants, want) {
		t.Errorf("grants = %+v, want %+v", ps.grants, want)
	}
	if w.users[bob] != 20 || w.users[carol] != 0 {
		t.Errorf("levels = %v", w.users)
	}
	if res.Done["set_power_levels"] != 1 || res.Done["schedule_demotion"] != 1 || len(res.Failed) != 0 {
		t.Errorf("done %v failed %v", res.Done, res.Failed)
	}
}

func TestDescribeSetPowerLevels(t *testing.T) {
	a := plan.SetPowerLevels{Room: roomA, Changes: []plan.LevelChange{{User: alice, From: 0, To: 50, Promote: true}}, Reason: "@alice:hs raised from 0 to 50 (Authentik group moderators)"}
	if got, want := plan.Describe(a), "set_power_levels in !a:hs: @alice:hs raised from 0 to 50 (Authentik group moderators)"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if !plan.IsMatrixWrite(a) || plan.IsRemoval(a) {
		t.Error("set_power_levels must count as a room write and never as a removal")
	}
}

// failingWriter refuses every write, as a homeserver does when the bot lacks the level.
type failingWriter struct{ Rooms }

func (failingWriter) SetUserPowerLevels(context.Context, id.RoomID, []plan.LevelChange) ([]plan.LevelChange, error) {
	return nil, errors.New("M_FORBIDDEN")
}

func TestApplyPowerFailedWriteLeavesRecordsAsTheyWere(t *testing.T) {
	old := plan.PowerGrant{Room: roomA, User: bob, Level: 50, GrantedAt: earlier}
	ps := &powerStore{grants: map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: bob}: old}}
	r := New(Options{Store: ps, Rooms: failingWriter{}, Now: func() time.Time { return now }})
	res := &CycleResult{Done: map[string]int{}, Failed: map[string]int{}, Skipped: map[string]int{}}
	st := plan.NewState()
	st.Grants = maps.Clone(ps.grants)
	planned := plan.Plan{Actions: []plan.Action{plan.SetPowerLevels{Room: roomA, Changes: []plan.LevelChange{
		{User: alice, From: 0, To: 50, Promote: true},
		{User: bob, From: 50, To: 75, Promote: true},
	}}}}
	r.apply(t.Context(), r.opts.Log, planned, st, plan.Observed{}, res)
	if want := map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: bob}: old}; !reflect.DeepEqual(ps.grants, want) {
		t.Errorf("grants = %+v, want %+v", ps.grants, want)
	}
	if res.Failed["set_power_levels"] != 1 {
		t.Errorf("failed = %v, want the write counted as failed", res.Failed)
	}
}

func TestPowerLevelReachesSpaceChildren(t *testing.T) {
	space := id.RoomID("!space:hs")
	mods := plan.Mapping{Group: "moderators", Room: space, PowerLevel: 50, SpaceOptions: plan.SpaceOptions{IncludeChildren: true}}
	p := policy(plan.ExpandSpaces([]plan.Mapping{mods}, map[id.RoomID][]id.RoomID{space: {roomA, roomB}})...)
	obs := plan.Observed{Groups: groups(group("moderators", alice)), Rooms: map[id.RoomID]plan.RoomObservation{
		space: plRoom(nil, alice), roomA: plRoom(nil, alice), roomB: plRoom(map[id.UserID]int{alice: 50}),
	}}
	var rooms []id.RoomID
	for _, a := range powerOnly(plan.MakePlan(p, obs, grantsOf(), now).Actions) {
		if spl, ok := a.(plan.SetPowerLevels); ok && len(spl.Changes) == 1 && spl.Changes[0].User == alice {
			rooms = append(rooms, spl.Room)
		}
	}
	if want := []id.RoomID{roomA, space}; !reflect.DeepEqual(rooms, want) {
		t.Errorf("alice raised in %v, want %v (roomB has her at 50 already)", rooms, want)
	}
}

// TestApplyPowerSkipsUsersWithoutAccount: a user the cycle adds is raised only with a Matrix
// account, as the preview says (TestPreviewShowsWhatACycleSkips); a member already in the room
// is raised as before.
func TestApplyPowerSkipsUsersWithoutAccount(t *testing.T) {
	fw := newFakeWorld() // dave has no account
	ps := &powerStore{Store: fw, grants: map[plan.RoomUser]plan.PowerGrant{}}
	w := &levelWriter{Rooms: fw, users: map[id.UserID]int{alice: 0, bob: 0, dave: 0}}
	r := New(Options{Store: ps, Rooms: w, Now: func() time.Time { return now }})
	res := &CycleResult{Done: map[string]int{}, Failed: map[string]int{}, Skipped: map[string]int{}}
	planned := plan.Plan{Actions: []plan.Action{
		plan.SetPowerLevels{Room: roomA, Changes: []plan.LevelChange{
			{User: alice, From: 0, To: 50, Promote: true},
			{User: bob, From: 0, To: 50, Promote: true}, // already in the room: not an addition
			{User: dave, From: 0, To: 50, Promote: true},
		}},
		plan.Invite{Room: roomA, User: alice},
		plan.Invite{Room: roomA, User: dave},
	}}
	r.apply(t.Context(), r.opts.Log, planned, plan.NewState(), plan.Observed{}, res)
	if w.users[alice] != 50 || w.users[bob] != 50 || w.users[dave] != 0 {
		t.Errorf("levels = %v, want alice and bob raised, dave (no account) not", w.users)
	}
	if _, ok := ps.grants[plan.RoomUser{Room: roomA, User: dave}]; ok || len(ps.grants) != 2 {
		t.Errorf("grants = %v, want alice's and bob's only", ps.grants)
	}
	if res.Done["invite"] != 1 || res.Skipped["invite"] != 1 {
		t.Errorf("done %v skipped %v, want alice invited and dave skipped", res.Done, res.Skipped)
	}
}

// setLevels is the SetPowerLevels of changes, with the reason the planner gives it.
func setLevels(room id.RoomID, changes ...plan.LevelChange) plan.SetPowerLevels {
	return plan.SetPowerLevels{Room: room, Changes: changes, Reason: plan.ChangesReason(changes)}
}
