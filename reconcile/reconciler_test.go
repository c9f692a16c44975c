package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// fakeWorld is a directory, a homeserver and a store in memory, for reconciler tests. Its
// methods lock mu because the reconciler writes to several rooms at once.
type fakeWorld struct {
	storeParts
	mu        sync.Mutex
	groups    map[string][]id.UserID
	groupErr  map[string]error
	rooms     map[id.RoomID]map[id.UserID]plan.RoomMember
	roomErr   map[id.RoomID]error // a room's read fails with this error, before anything else
	accounts  map[id.UserID]bool
	writes    []string
	failNext  map[string]error // action kind → error for the next such write
	state     plan.State
	missing   map[id.UserID]bool
	removals  []plan.Removal
	backups   int
	backupErr error
	now       time.Time
}

func newFakeWorld() *fakeWorld {
	return &fakeWorld{
		groups: map[string][]id.UserID{}, groupErr: map[string]error{}, roomErr: map[id.RoomID]error{},
		rooms:    map[id.RoomID]map[id.UserID]plan.RoomMember{roomA: {bot: joined(earlier)}},
		accounts: map[id.UserID]bool{alice: true, bob: true, carol: true},
		failNext: map[string]error{}, state: plan.NewState(), missing: map[id.UserID]bool{}, now: now,
	}
}

func (w *fakeWorld) Members(_ context.Context, names []string) map[string]plan.GroupMembers {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]plan.GroupMembers{}
	for _, n := range names {
		if err := w.groupErr[n]; err != nil {
			out[n] = plan.GroupMembers{Group: n, Err: err}
			continue
		}
		out[n] = group(n, w.groups[n]...)
	}
	return out
}

func (w *fakeWorld) RoomState(_ context.Context, room id.RoomID) (plan.RoomState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.roomErr[room]; err != nil {
		return plan.RoomState{}, err
	}
	ms, ok := w.rooms[room]
	if !ok {
		return plan.RoomState{}, errors.New("no such room")
	}
	return plan.RoomState{Members: plan.NewRoomMembers(ms), PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{bot: 100}, Kick: 50, Ban: 50}}, nil
}

func (w *fakeWorld) UserExists(_ context.Context, u id.UserID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.accounts[u], nil
}

func (w *fakeWorld) write(kind string, room id.RoomID, user id.UserID, membership string) error {
	if err := w.failNext[kind]; err != nil {
		delete(w.failNext, kind)
		return err
	}
	w.writes = append(w.writes, fmt.Sprintf("%s %s %s", kind, user, room))
	w.rooms[room][user] = plan.RoomMember{Membership: membership, Sender: bot, Since: w.now}
	return nil
}

func (w *fakeWorld) Invite(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write("invite", r, u, plan.MembershipInvite)
}
func (w *fakeWorld) ForceJoin(_ context.Context, r id.RoomID, u id.UserID, _ bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write("force_join", r, u, plan.MembershipJoin)
}
func (w *fakeWorld) Unban(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write("unban", r, u, plan.MembershipLeave)
}
func (w *fakeWorld) Kick(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write("kick", r, u, plan.MembershipLeave)
}
func (w *fakeWorld) Ban(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write("ban", r, u, plan.MembershipBan)
}

func (w *fakeWorld) LoadState(context.Context) (plan.State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := plan.NewState()
	s.Members = w.state.Members.Clone()
	for k, v := range w.state.Pending {
		s.Pending[k] = v
	}
	s.Removals = map[plan.RoomUser]plan.Removal{}
	for _, r := range w.removals {
		if !r.Replaced.Since.IsZero() {
			s.Removals[plan.RoomUser{Room: r.Room, User: r.User}] = r
		}
	}
	return s, nil
}
func (w *fakeWorld) PutMembers(ctx context.Context, ms []plan.ManagedMember) error {
	for _, m := range ms {
		if err := w.PutMember(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
func (w *fakeWorld) CountState(ctx context.Context) (members, pending map[id.RoomID]int, err error) {
	st, err := w.LoadState(ctx)
	if err != nil {
		return nil, nil, err
	}
	members, pending = countLoaded(st)
	return members, pending, nil
}
func (w *fakeWorld) PutMember(_ context.Context, m plan.ManagedMember) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state.Members.Set(m)
	return nil
}
func (w *fakeWorld) ForgetMember(_ context.Context, r id.RoomID, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state.Members.Delete(plan.RoomUser{Room: r, User: u})
	delete(w.state.Pending, plan.RoomUser{Room: r, User: u})
	return nil
}
func (w *fakeWorld) PutPending(_ context.Context, p plan.PendingRemoval) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.state.Pending[plan.RoomUser{Room: p.Room, User: p.User}] = p
	return nil
}
func (w *fakeWorld) DeletePending(_ context.Context, r id.RoomID, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.state.Pending, plan.RoomUser{Room: r, User: u})
	return nil
}
func (w *fakeWorld) RecordRemoval(_ context.Context, r plan.Removal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.removals = append(w.removals, r)
	w.state.Members.Delete(plan.RoomUser{Room: r.Room, User: r.User})
	delete(w.state.Pending, plan.RoomUser{Room: r.Room, User: r.User})
	return nil
}
func (w *fakeWorld) SettleRemovals(_ context.Context, room id.RoomID, user id.UserID, upTo time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, r := range w.removals {
		if r.Room == room && r.User == user && !r.At.After(upTo) {
			w.removals[i].Replaced = plan.RoomMember{}
		}
	}
	return nil
}
func (w *fakeWorld) MarkMissingAccount(_ context.Context, u id.UserID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	first := !w.missing[u]
	w.missing[u] = true
	return first, nil
}
func (w *fakeWorld) ClearMissingAccount(_ context.Context, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.missing, u)
	return nil
}
func (w *fakeWorld) Backup(context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.backupErr != nil {
		return "", w.backupErr
	}
	w.backups++
	return fmt.Sprintf("backup-%d.db", w.backups), nil
}

func (w *fakeWorld) reconciler(p plan.Policy) *Reconciler {
	return New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute,
		Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
}

func (w *fakeWorld) cycle(t *testing.T, r *Reconciler) CycleResult {
	t.Helper()
	w.writes = nil
	return r.RunCycle(context.Background())
}

func TestReconcilerLifecycle(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice, bob}
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))

	res := w.cycle(t, r)
	if got, want := fmt.Sprint(w.writes), "[invite @alice:hs !a:hs invite @bob:hs !a:hs]"; got != want {
		t.Fatalf("first cycle writes %s, want %s", got, want)
	}
	if !res.Ok() || res.Done["invite"] != 2 || res.Done["track"] != 2 {
		t.Fatalf("first cycle result %+v", res)
	}
	if w.state.Members.Get(plan.RoomUser{Room: roomA, User: alice}).AddedAt != now {
		t.Errorf("AddedAt not recorded: %+v", w.state.Members.Get(plan.RoomUser{Room: roomA, User: alice}))
	}

	// Nothing changed: zero writes of any kind.
	if w.cycle(t, r); len(w.writes) != 0 {
		t.Fatalf("no-change cycle wrote %v", w.writes)
	}

	// Bob leaves the group: pending, then kicked after the grace period, once.
	w.groups["staff"] = []id.UserID{alice}
	w.cycle(t, r)
	if _, ok := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; !ok || len(w.writes) != 0 {
		t.Fatalf("want a pending removal and no writes, got pending=%v writes=%v", w.state.Pending, w.writes)
	}
	w.now = now.Add(grace - time.Second)
	if w.cycle(t, r); len(w.writes) != 0 {
		t.Fatalf("removal before the deadline: %v", w.writes)
	}
	w.now = now.Add(grace)
	res = w.cycle(t, r)
	if got := fmt.Sprint(w.writes); got != "[kick @bob:hs !a:hs]" || w.backups != 1 || res.Backup != "backup-1.db" {
		t.Fatalf("due cycle writes %s backups %d result %+v", got, w.backups, res)
	}
	if len(w.removals) != 1 || len(w.state.Pending) != 0 {
		t.Fatalf("removal not recorded: %+v pending %v", w.removals, w.state.Pending)
	}
	if w.cycle(t, r); len(w.writes) != 0 || w.backups != 1 {
		t.Fatalf("removal repeated: %v, backups %d", w.writes, w.backups)
	}

	// Bob back in the group after the kick: invited again.
	w.now = w.now.Add(time.Minute)
	w.groups["staff"] = []id.UserID{alice, bob}
	if w.cycle(t, r); fmt.Sprint(w.writes) != "[invite @bob:hs !a:hs]" {
		t.Fatalf("re-entry writes %v", w.writes)
	}
}

func TestReconcilerHoldsRemovalsWhenBackupFails(t *testing.T) {
	w := newFakeWorld()
	w.rooms[roomA][alice] = joined(earlier)
	w.state.Members.Set(plan.ManagedMember{Room: roomA, User: alice})
	w.state.Pending[plan.RoomUser{Room: roomA, User: alice}] = plan.PendingRemoval{Room: roomA, User: alice, DueAt: earlier, Reason: "gone"}
	w.backupErr = errors.New("disk full")
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))
	res := w.cycle(t, r)
	if len(w.writes) != 0 || res.Skipped["kick"] != 1 {
		t.Fatalf("removal ran without a backup: writes %v result %+v", w.writes, res)
	}
	if _, ok := w.state.Pending[plan.RoomUser{Room: roomA, User: alice}]; !ok {
		t.Fatal("pending removal lost after a failed backup")
	}
	w.backupErr = nil
	if w.cycle(t, r); fmt.Sprint(w.writes) != "[kick @alice:hs !a:hs]" {
		t.Fatalf("removal not run after the backup recovered: %v", w.writes)
	}
}

func TestReconcilerSkipsUsersWithoutAccount(t *testing.T) {
	w := newFakeWorld()
	dave := id.UserID("@dave:hs")
	w.groups["staff"] = []id.UserID{dave}
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodForce}))
	for i := 0; i < 2; i++ {
		res := w.cycle(t, r)
		if len(w.writes) != 0 || res.Skipped["force_join"] != 1 {
			t.Fatalf("cycle %d: writes %v result %+v", i, w.writes, res)
		}
	}
	if !w.missing[dave] {
		t.Fatal("missing account not noted")
	}
	w.accounts[dave] = true
	if w.cycle(t, r); fmt.Sprint(w.writes) != "[force_join @dave:hs !a:hs]" || w.missing[dave] {
		t.Fatalf("account appeared, writes %v missing %v", w.writes, w.missing)
	}
}

func TestReconcilerUnbanFailureSkipsTheAdd(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice}
	w.rooms[roomA][alice] = plan.RoomMember{Membership: plan.MembershipBan, Sender: bot, Since: earlier}
	w.failNext["unban"] = errors.New("M_FORBIDDEN")
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))
	res := w.cycle(t, r)
	if len(w.writes) != 0 || res.Failed["unban"] != 1 || res.Skipped["invite"] != 1 || res.Ok() {
		t.Fatalf("writes %v result %+v", w.writes, res)
	}
	if w.cycle(t, r); fmt.Sprint(w.writes) != "[unban @alice:hs !a:hs invite @alice:hs !a:hs]" {
		t.Fatalf("retry writes %v", w.writes)
	}
}

func TestReconcilerUnknownGroupRemovesNobody(t *testing.T) {
	w := newFakeWorld()
	w.rooms[roomA][alice] = joined(earlier)
	w.state.Members.Set(tracked(roomA, alice, earlier))
	w.state.Pending[plan.RoomUser{Room: roomA, User: alice}] = plan.PendingRemoval{Room: roomA, User: alice, DueAt: earlier}
	w.groupErr["staff"] = errors.New("HTTP 500 on page 2")
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))
	res := w.cycle(t, r)
	if len(w.writes) != 0 || len(res.Warnings) != 1 {
		t.Fatalf("writes %v warnings %v", w.writes, res.Warnings)
	}
	if _, ok := w.state.Pending[plan.RoomUser{Room: roomA, User: alice}]; !ok {
		t.Fatal("pending removal dropped on unknown data")
	}
}

func TestRunStopsWithContextAndTriggerRunsACycle(t *testing.T) {
	w := newFakeWorld()
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Interval: time.Hour,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}), Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	deadline := time.After(5 * time.Second)
	for r.LastCycle() == nil {
		select {
		case <-deadline:
			t.Fatal("first cycle did not run")
		case <-time.After(5 * time.Millisecond):
		}
	}
	first := r.LastCycle()
	r.Trigger()
	for r.LastCycle() == first {
		select {
		case <-deadline:
			t.Fatal("Trigger did not run a cycle")
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
