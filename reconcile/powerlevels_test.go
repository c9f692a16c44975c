package reconcile

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

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
