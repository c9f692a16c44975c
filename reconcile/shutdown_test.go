package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

func TestOutlive(t *testing.T) {
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, done := outlive(parent, 100*time.Millisecond)
	defer done()
	cancelParent()
	select {
	case <-ctx.Done():
		t.Fatal("ended with its parent, not after the grace")
	case <-time.After(50 * time.Millisecond):
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("outlived its parent beyond the grace")
	}

	ctx2, done2 := outlive(context.Background(), time.Hour)
	done2()
	if ctx2.Err() == nil {
		t.Error("cancel did not end the context")
	}
}

func TestRemovalAlreadyDone(t *testing.T) {
	key := plan.RoomUser{Room: roomA, User: bob}
	due := plan.PendingRemoval{Room: roomA, User: bob, DueAt: earlier, CreatedAt: earlier.Add(-grace), Reason: "no longer in Authentik group staff"}
	notDue := due
	notDue.DueAt = later
	kicked := plan.RoomMember{Membership: plan.MembershipLeave, Sender: bot, Since: now.Add(-time.Minute)}
	tests := []struct {
		name    string
		pending []plan.PendingRemoval
		mem     plan.RoomMember
		want    bool
		action  plan.RemoveAction
	}{
		{"kicked by the bot after the removal was due", []plan.PendingRemoval{due}, kicked, true, plan.RemoveKick},
		{"banned by the bot", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipBan, Sender: bot, Since: now}, true, plan.RemoveBan},
		{"left on their own", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipLeave, Sender: bob, Since: now}, false, ""},
		{"kicked by a moderator", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipLeave, Sender: "@mod:hs", Since: now}, false, ""},
		{"no pending removal", nil, kicked, false, ""},
		{"removal not due yet", []plan.PendingRemoval{notDue}, kicked, false, ""},
		{"bot's leave from before the removal was scheduled", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipLeave, Sender: bot, Since: due.CreatedAt.Add(-time.Hour)}, false, ""},
		{"no timestamp", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipLeave, Sender: bot}, false, ""},
		{"still joined", []plan.PendingRemoval{due}, plan.RoomMember{Membership: plan.MembershipJoin, Sender: bot, Since: now}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := stateWith([]plan.ManagedMember{tracked(roomA, bob, time.Time{})}, tc.pending)
			got, ok := plan.RemovalAlreadyDone(policy(), key, tc.mem, state, now)
			if ok != tc.want {
				t.Fatalf("recognised %v, want %v", ok, tc.want)
			}
			if ok && (got.Removal.Action != tc.action || got.Removal.Reason != due.Reason || !got.Removal.At.Equal(tc.mem.Since) || got.Target() != key) {
				t.Errorf("record %+v", got.Removal)
			}
		})
	}
}

// recordFails is a store whose RecordRemoval fails a given number of times, as a store that went
// away between the kick and its record would.
type recordFails struct {
	*fakeWorld
	fails int
}

func (r *recordFails) RecordRemoval(ctx context.Context, rem plan.Removal) error {
	if r.fails > 0 {
		r.fails--
		return errors.New("database is locked")
	}
	return r.fakeWorld.RecordRemoval(ctx, rem)
}

// TestKickWithoutRecordIsRecognised loses the record of a kick that succeeded: the next cycle
// records it from the room's state, and kicks nobody again.
func TestKickWithoutRecordIsRecognised(t *testing.T) {
	w := newFakeWorld()
	w.rooms[roomA][bob] = joined(earlier)
	w.state.Members.Set(plan.ManagedMember{Room: roomA, User: bob})
	w.state.Pending[plan.RoomUser{Room: roomA, User: bob}] = plan.PendingRemoval{Room: roomA, User: bob, DueAt: earlier, CreatedAt: earlier, Reason: "no longer in Authentik group staff"}
	st := &recordFails{fakeWorld: w, fails: 1}
	r := New(Options{Directory: w, Rooms: w, Store: st, Backup: w, Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
		Interval: time.Minute, Now: func() time.Time { return w.now }, Log: zerolog.Nop()})

	w.cycle(t, r)
	if fmt.Sprint(w.writes) != "[kick @bob:hs !a:hs]" || len(w.removals) != 0 {
		t.Fatalf("first cycle: writes %v, removals %v", w.writes, w.removals)
	}
	if _, ok := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; !ok {
		t.Fatal("pending removal gone although its record failed")
	}
	w.now = w.now.Add(time.Minute)
	res := w.cycle(t, r)
	if len(w.writes) != 0 {
		t.Fatalf("removal repeated: %v", w.writes)
	}
	if len(w.removals) != 1 || w.removals[0].User != bob || w.removals[0].Action != plan.RemoveKick || res.Done["record_removal"] != 1 {
		t.Fatalf("removal not recorded from the room: %+v, result %+v", w.removals, res)
	}
	if len(w.state.Pending) != 0 || w.state.Members.Len() != 0 {
		t.Errorf("state after recording: pending %v members %v", w.state.Pending, w.state.Members)
	}
	if w.cycle(t, r); len(w.writes) != 0 || len(w.removals) != 1 {
		t.Errorf("third cycle: writes %v removals %d", w.writes, len(w.removals))
	}
}

// slowRooms delays kicks and reports the context each kick saw.
type slowRooms struct {
	*fakeWorld
	mu      sync.Mutex
	delay   time.Duration
	started chan struct{}
	kicks   int
}

func (s *slowRooms) Kick(ctx context.Context, r id.RoomID, u id.UserID, why string) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kicks++
	return s.fakeWorld.Kick(ctx, r, u, why)
}

// TestShutdownFinishesTheRemovalInFlight cancels the cycle while kicks are in flight: the kicks
// already sent finish and are recorded, no new one starts, and the cycle returns promptly.
func TestShutdownFinishesTheRemovalInFlight(t *testing.T) {
	w := newFakeWorld()
	users := []id.UserID{alice, bob, carol}
	for _, u := range users {
		w.rooms[roomA][u] = joined(earlier)
		w.state.Members.Set(plan.ManagedMember{Room: roomA, User: u})
		w.state.Pending[plan.RoomUser{Room: roomA, User: u}] = plan.PendingRemoval{Room: roomA, User: u, DueAt: earlier, CreatedAt: earlier, Reason: "gone"}
	}
	rooms := &slowRooms{fakeWorld: w, delay: 300 * time.Millisecond, started: make(chan struct{}, 1)}
	r := New(Options{Directory: w, Rooms: rooms, Store: w, Backup: w, Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
		Interval: time.Minute, Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan CycleResult, 1)
	go func() { done <- r.RunCycle(ctx) }()
	<-rooms.started
	cancel()
	start := time.Now()
	res := <-done
	if took := time.Since(start); took > removalGrace {
		t.Errorf("cycle took %s after cancellation", took)
	}
	// One room: its kicks run one after another, so exactly the first was in flight.
	if rooms.kicks != 1 || len(w.removals) != 1 || res.Done["kick"] != 1 {
		t.Fatalf("kicks %d, recorded %d, result %+v: the kick in flight must finish and be recorded, no other start", rooms.kicks, len(w.removals), res)
	}
	if len(w.state.Pending) != 2 {
		t.Errorf("pending removals after shutdown: %d, want the 2 not started", len(w.state.Pending))
	}
}

// TestShutdownAbandonsAHungRemoval has a kick that never answers: the cycle gives up on it
// removalGrace after cancellation, and the removal stays pending.
func TestShutdownAbandonsAHungRemoval(t *testing.T) {
	if testing.Short() {
		t.Skip("waits removalGrace")
	}
	w := newFakeWorld()
	w.rooms[roomA][bob] = joined(earlier)
	w.state.Members.Set(plan.ManagedMember{Room: roomA, User: bob})
	w.state.Pending[plan.RoomUser{Room: roomA, User: bob}] = plan.PendingRemoval{Room: roomA, User: bob, DueAt: earlier, CreatedAt: earlier, Reason: "gone"}
	rooms := &slowRooms{fakeWorld: w, delay: time.Hour, started: make(chan struct{}, 1)}
	r := New(Options{Directory: w, Rooms: rooms, Store: w, Backup: w, Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
		Interval: time.Minute, Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan CycleResult, 1)
	go func() { done <- r.RunCycle(ctx) }()
	<-rooms.started
	cancel()
	start := time.Now()
	select {
	case res := <-done:
		if took := time.Since(start); took < removalGrace-time.Second {
			t.Errorf("gave up after %s, before the grace", took)
		}
		if res.Skipped["kick"] != 1 || res.Failed["kick"] != 0 || !res.Interrupted {
			t.Errorf("result %+v, want the kick abandoned (skipped, not failed) and the cycle interrupted", res)
		}
	case <-time.After(removalGrace + 3*time.Second):
		t.Fatal("a hung kick held the shutdown beyond the grace")
	}
	if _, ok := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; !ok {
		t.Error("abandoned removal no longer pending")
	}
}

// overlapRooms measures how many room reads run at once, each taking a while.
type overlapRooms struct {
	*fakeWorld
	inFlight, most atomic.Int32
	reads          atomic.Int32
}

func (o *overlapRooms) RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error) {
	n := o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	for {
		m := o.most.Load()
		if n <= m || o.most.CompareAndSwap(m, n) {
			break
		}
	}
	o.reads.Add(1)
	time.Sleep(40 * time.Millisecond)
	return o.fakeWorld.RoomState(ctx, room)
}

// TestSlowCycleNeverOverlaps runs cycles slower than the interval while triggers and direct
// RunCycle calls (the admin room's "now") arrive: at no moment do two cycles run.
func TestSlowCycleNeverOverlaps(t *testing.T) {
	w := newFakeWorld()
	rooms := &overlapRooms{fakeWorld: w}
	r := New(Options{Directory: w, Rooms: rooms, Store: w, Backup: w, Interval: time.Millisecond,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}), Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				r.Trigger()
				r.RunCycle(ctx)
			}
		}()
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if rooms.reads.Load() < 13 {
		t.Fatalf("only %d cycles ran", rooms.reads.Load())
	}
	if most := rooms.most.Load(); most != 1 {
		t.Errorf("%d cycles ran at once, want 1", most)
	}
}

// TestUnbanCutOffStillAdds: a crash between an unban and the join behind it leaves the user with
// a leave the bot sent after they entered the group. That is not the user's own leave: the next
// plan adds them, where a leave of their own would not be followed by a new invite.
func TestUnbanCutOffStillAdds(t *testing.T) {
	staff := plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodForce}
	state := stateWith([]plan.ManagedMember{tracked(roomA, alice, earlier)}, nil)
	tests := []struct {
		name   string
		sender id.UserID
		want   int
	}{
		{"leave sent by the bot (the unban)", bot, 1},
		{"leave of their own", alice, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := plan.Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]plan.RoomObservation{
				roomA: roomWith(map[id.UserID]plan.RoomMember{alice: {Membership: plan.MembershipLeave, Sender: tc.sender, Since: now.Add(-time.Minute)}}),
			}}
			p := plan.MakePlan(policy(staff), obs, state, now)
			joins := 0
			for _, a := range p.Actions {
				if _, ok := a.(plan.ForceJoin); ok {
					joins++
				}
			}
			if joins != tc.want {
				t.Errorf("%d joins planned, want %d: %v", joins, tc.want, p.Actions)
			}
		})
	}
}

// cancelMidObserve stands for the directory and the homeserver when shutdown begins while a
// cycle reads them: the first room read cancels the cycle's context, and from then on every read
// fails with the context's error, as the real clients' do.
type cancelMidObserve struct {
	*fakeWorld
	cancel context.CancelFunc
	reads  atomic.Int32
}

func (c *cancelMidObserve) Members(ctx context.Context, names []string) map[string]plan.GroupMembers {
	if ctx.Err() != nil {
		out := map[string]plan.GroupMembers{}
		for _, n := range names {
			out[n] = plan.GroupMembers{Group: n, Err: fmt.Errorf("list members of %s: %w", n, ctx.Err())}
		}
		return out
	}
	return c.fakeWorld.Members(ctx, names)
}

func (c *cancelMidObserve) RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error) {
	if c.reads.Add(1) == 1 {
		c.cancel()
	}
	if err := ctx.Err(); err != nil {
		return plan.RoomState{}, fmt.Errorf("read state of %s: %w", room, err)
	}
	return c.fakeWorld.RoomState(ctx, room)
}

// TestShutdownMidObserveLogsOnce: SIGTERM while a cycle reads the rooms makes every read fail
// with "context canceled". That is a shutdown, said once, and not one "room state unreadable"
// warning per room, a "group membership unknown" per group and an "upstream failing" line.
func TestShutdownMidObserveLogsOnce(t *testing.T) {
	w := newFakeWorld()
	rooms := []id.RoomID{roomA, roomB, roomC}
	var mappings []plan.Mapping
	for i, room := range rooms {
		g := fmt.Sprintf("g%d", i)
		w.groups[g] = []id.UserID{alice}
		w.rooms[room] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
		mappings = append(mappings, plan.Mapping{Group: g, Room: room, Method: plan.MethodInvite})
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	world := &cancelMidObserve{fakeWorld: w, cancel: cancel}
	var logs logLines
	r := New(Options{Directory: world, Rooms: world, Store: w, Backup: w, Policy: policy(mappings...),
		Interval: time.Minute, MaxBackoff: time.Hour, Now: func() time.Time { return w.now }, Log: zerolog.New(&logs)})

	res := r.RunCycle(ctx)
	if len(w.writes) != 0 {
		t.Errorf("writes after shutdown began: %v", w.writes)
	}
	if res.Outage != "" || res.NextIn != 0 {
		t.Errorf("outage %q, next in %s: a shutdown is no upstream failure", res.Outage, res.NextIn)
	}
	var shutdown int
	for _, l := range logs.all(t) {
		msg := l["message"].(string)
		lower := strings.ToLower(msg)
		for _, bad := range []string{"unreadable", "upstream failing", "unknown this cycle", "action failed", "cycle failed"} {
			if strings.Contains(lower, bad) {
				t.Errorf("logged %q (%v) during shutdown", msg, l)
			}
		}
		if l["level"] == "error" || l["level"] == "warn" {
			t.Errorf("a %s line during shutdown: %v", l["level"], l)
		}
		if strings.Contains(lower, "shutdown") {
			shutdown++
		}
	}
	if shutdown != 1 {
		t.Errorf("%d lines say the cycle stopped for shutdown, want 1:\n%s", shutdown, logs.String())
	}

	// The next cycle (a restart) runs as usual and is not in back-off.
	res = r.RunCycle(context.Background())
	slices.Sort(w.writes) // writes to different rooms run concurrently, in any order
	if !res.Ok() || res.NextIn != time.Minute || fmt.Sprint(w.writes) != "[invite @alice:hs !a:hs invite @alice:hs !b:hs invite @alice:hs !c:hs]" {
		t.Errorf("cycle after the interrupted one: writes %v, result %+v", w.writes, res)
	}
}

// logLines collects JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logLines) all(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(l.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}
