package reconcile

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

const (
	roomC = id.RoomID("!c:hs")
	roomD = id.RoomID("!d:hs")
)

func TestNarrowPolicy(t *testing.T) {
	// staff and admins share room A; admins also feed B; B is fed by ops too; other has C alone.
	full := policy(
		plan.Mapping{Group: "staff", Room: roomA},
		plan.Mapping{Group: "admins", Room: roomA},
		plan.Mapping{Group: "admins", Room: roomB},
		plan.Mapping{Group: "ops", Room: roomB},
		plan.Mapping{Group: "other", Room: roomC},
		plan.Mapping{Group: "lonely", Room: roomD},
	)
	full.Released = []plan.ReleasedRoom{{Room: "!gone:hs", Groups: []string{"staff"}}}
	tests := []struct {
		name       string
		groups     []string
		wantRooms  []id.RoomID
		wantGroups []string
	}{
		{"nil keeps everything", nil, []id.RoomID{roomA, roomB, roomC, roomD}, nil},
		{"one group pulls in every group of its room, and their rooms", []string{"staff"},
			[]id.RoomID{roomA, roomB}, []string{"admins", "ops", "staff"}},
		{"a group alone in its room stays alone", []string{"other"}, []id.RoomID{roomC}, []string{"other"}},
		{"two unrelated groups", []string{"other", "lonely"}, []id.RoomID{roomC, roomD}, []string{"lonely", "other"}},
		{"an unmapped group covers nothing", []string{"nobody"}, nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, scope := narrowPolicy(full, tt.groups)
			var rooms []id.RoomID
			for _, m := range got.Mappings {
				if !slices.Contains(rooms, m.Room) {
					rooms = append(rooms, m.Room)
				}
			}
			slices.Sort(rooms)
			if !reflect.DeepEqual(rooms, tt.wantRooms) || !reflect.DeepEqual(scope, tt.wantGroups) {
				t.Errorf("rooms %v scope %#v, want rooms %v scope %#v", rooms, scope, tt.wantRooms, tt.wantGroups)
			}
			if tt.groups != nil && got.Released != nil {
				t.Errorf("a scoped policy kept released rooms: %v", got.Released)
			}
			if tt.groups == nil && len(got.Released) != 1 {
				t.Errorf("the full policy lost its released rooms: %v", got.Released)
			}
		})
	}
}

// countingWorld records which groups and rooms a cycle reads.
type countingWorld struct {
	*fakeWorld
	mu         sync.Mutex
	readGroups []string
	readRooms  []id.RoomID
}

func (c *countingWorld) Members(ctx context.Context, names []string) map[string]plan.GroupMembers {
	c.mu.Lock()
	c.readGroups = append(c.readGroups, names...)
	c.mu.Unlock()
	return c.fakeWorld.Members(ctx, names)
}

func (c *countingWorld) RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error) {
	c.mu.Lock()
	c.readRooms = append(c.readRooms, room)
	c.mu.Unlock()
	return c.fakeWorld.RoomState(ctx, room)
}

func (c *countingWorld) reads() (groups []string, rooms []id.RoomID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	groups, rooms = slices.Clone(c.readGroups), slices.Clone(c.readRooms)
	c.readGroups, c.readRooms = nil, nil
	slices.Sort(groups)
	slices.Sort(rooms)
	return groups, rooms
}

// sharedRoomWorld: room A is fed by staff (alice) and admins (bob); room B by other (carol).
// The grace period is zero, so a removal is due at the cycle after the one that schedules it.
func sharedRoomWorld() (*countingWorld, *Reconciler) {
	w := &countingWorld{fakeWorld: newFakeWorld()}
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice}
	w.groups["admins"] = []id.UserID{bob}
	w.groups["other"] = []id.UserID{carol}
	p := policy(
		plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodForce},
		plan.Mapping{Group: "admins", Room: roomA, Method: plan.MethodForce},
		plan.Mapping{Group: "other", Room: roomB, Method: plan.MethodForce},
	)
	p.GracePeriod = 0
	// One write at a time: the fake world is not safe for concurrent writes.
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Hour,
		Now: func() time.Time { return w.now }, MaxConcurrentWrites: 1})
	return w, r
}

func TestScopedCycleKeepsMembersOfTheRoomsOtherGroups(t *testing.T) {
	w, r := sharedRoomWorld()
	if res := r.RunCycle(context.Background()); !res.Ok() || res.Done["force_join"] != 3 {
		t.Fatalf("first full cycle: %+v, writes %v", res, w.writes)
	}
	w.reads()
	w.writes = nil

	// Dave joins staff; carol leaves other (only a full cycle may act on that).
	dave := id.UserID("@dave:hs")
	w.accounts[dave] = true
	w.groups["staff"] = []id.UserID{alice, dave}
	w.groups["other"] = nil
	w.now = w.now.Add(time.Minute)
	res := r.runCycle(context.Background(), []string{"staff"})

	if got, want := fmt.Sprint(w.writes), "[force_join @dave:hs !a:hs]"; got != want {
		t.Fatalf("scoped cycle writes %s, want %s (bob of admins must stay, room B must be untouched)", got, want)
	}
	if _, pending := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; pending || res.Done["schedule_removal"] != 0 {
		t.Fatalf("scoped cycle scheduled a removal: pending %v, done %v", w.state.Pending, res.Done)
	}
	groups, rooms := w.reads()
	if !reflect.DeepEqual(groups, []string{"admins", "staff"}) || !reflect.DeepEqual(rooms, []id.RoomID{roomA}) {
		t.Errorf("scoped cycle read groups %v rooms %v, want [admins staff] and [%s]", groups, rooms, roomA)
	}
	if !reflect.DeepEqual(res.Scope, []string{"admins", "staff"}) {
		t.Errorf("result scope %v, want [admins staff]", res.Scope)
	}
	if res.NextIn != 0 {
		t.Errorf("a scoped cycle set the next full cycle's delay: %s", res.NextIn)
	}

	// Full cycles still see everything: carol's removal is scheduled, then carried out.
	if res = r.RunCycle(context.Background()); res.Done["schedule_removal"] != 1 || res.Scope != nil {
		t.Fatalf("full cycle after the scoped one: done %v scope %#v", res.Done, res.Scope)
	}
	groups, rooms = w.reads()
	if len(groups) != 3 || len(rooms) != 2 {
		t.Errorf("full cycle read groups %v rooms %v, want all three and both rooms", groups, rooms)
	}
	w.writes = nil
	res = r.RunCycle(context.Background())
	if got, want := fmt.Sprint(w.writes), "[kick @carol:hs !b:hs]"; got != want {
		t.Fatalf("second full cycle writes %s, want %s", got, want)
	}
}

func TestTriggersMergeUntilTaken(t *testing.T) {
	_, r := sharedRoomWorld()
	tests := []struct {
		name     string
		triggers [][]string
		timer    bool
		want     []string
		wantRun  bool
	}{
		{"one group", [][]string{{"staff"}}, false, []string{"staff"}, true},
		{"groups merge", [][]string{{"staff"}, {"other", "staff"}}, false, []string{"other", "staff"}, true},
		{"everything wins", [][]string{{"staff"}, nil, {"other"}}, false, nil, true},
		{"empty means everything", [][]string{{}}, false, nil, true},
		{"the timer covers what waits", [][]string{{"staff"}}, true, nil, true},
		{"unmapped groups run nothing", [][]string{{"nobody", "nothing"}}, false, nil, false},
		{"unmapped groups are dropped", [][]string{{"nobody", "other"}}, false, []string{"other"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, g := range tt.triggers {
				r.TriggerGroups(g)
			}
			if len(r.trigger) != 1 {
				t.Fatalf("%d tokens waiting, want 1", len(r.trigger))
			}
			got, run := r.takeScope(tt.timer)
			if !reflect.DeepEqual(got, tt.want) || run != tt.wantRun {
				t.Errorf("takeScope = %#v, %v; want %#v, %v", got, run, tt.want, tt.wantRun)
			}
			if len(r.trigger) != 0 {
				t.Error("token left behind: the loop would run a stray cycle")
			}
			if got, run := r.takeScope(false); got != nil || run {
				t.Errorf("scope not cleared: %v %v", got, run)
			}
		})
	}
}

func TestRunRunsScopedAndFullTriggers(t *testing.T) {
	w, r := sharedRoomWorld()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitCycle := func(prev *CycleResult) *CycleResult {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if last := r.LastCycle(); last != nil && last != prev {
				return last
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatal("no cycle ran")
		return nil
	}
	first := waitCycle(nil)
	if first.Scope != nil {
		t.Fatalf("the first cycle was scoped: %v", first.Scope)
	}

	r.TriggerGroups([]string{"nobody"})
	time.Sleep(50 * time.Millisecond)
	if r.LastCycle() != first {
		t.Fatal("a trigger naming no mapped group ran a cycle")
	}

	r.TriggerGroups([]string{"other"})
	scoped := waitCycle(first)
	if !reflect.DeepEqual(scoped.Scope, []string{"other"}) {
		t.Fatalf("scoped trigger ran a cycle with scope %v", scoped.Scope)
	}
	r.Trigger()
	full := waitCycle(scoped)
	if full.Scope != nil {
		t.Fatalf("an unscoped trigger ran a scoped cycle: %v", full.Scope)
	}
	groups, _ := w.reads()
	if !strings.Contains(fmt.Sprint(groups), "admins") {
		t.Errorf("the full cycle did not read every group: %v", groups)
	}
}

// scopeRecorder notes whether each finished cycle was full or scoped.
type scopeRecorder struct {
	mu     sync.Mutex
	full   int
	scoped int
}

func (s *scopeRecorder) ActionFinished(string, id.RoomID, string) {}
func (s *scopeRecorder) CycleFinished(res CycleResult, _ CycleStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.Scope == nil {
		s.full++
	} else {
		s.scoped++
	}
}

func (s *scopeRecorder) counts() (full, scoped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full, s.scoped
}

// Polling is the safety net: a steady stream of scoped triggers must not hold full cycles back.
func TestScopedTriggersDoNotPostponeFullCycles(t *testing.T) {
	w := &countingWorld{fakeWorld: newFakeWorld()}
	w.groups["staff"] = []id.UserID{alice}
	rec := &scopeRecorder{}
	const interval = 200 * time.Millisecond
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Observer: rec,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA}), Interval: interval,
		Now: func() time.Time { return now }, MaxConcurrentWrites: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	const run = 1500 * time.Millisecond
	for end := time.Now().Add(run); time.Now().Before(end); {
		r.TriggerGroups([]string{"staff"})
		time.Sleep(interval / 10)
	}
	cancel()
	<-done
	full, scoped := rec.counts()
	if scoped < 5 {
		t.Fatalf("only %d scoped cycles ran for a trigger every %s", scoped, interval/10)
	}
	// One at start, then one per interval: 8 in 1.5 s; allow for a slow machine.
	if want := 4; full < want {
		t.Errorf("%d full cycles in %s with the interval at %s (and %d scoped ones), want at least %d", full, run, interval, scoped, want)
	}
}
