package reconcile

import (
	"context"
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

// concWorld makes fakeWorld safe for the concurrent apply path and watches the writes: how many
// are in flight at once, overall and per room, and in which order they start.
type concWorld struct {
	*fakeWorld
	mu sync.Mutex
	// gate holds the first writes until gateAt of them are in flight at once (or a second has
	// passed), so a test can tell whether the bound is reached without depending on timing.
	gate     chan struct{}
	gateAt   int
	inFlight int
	maxIn    int
	roomIn   map[id.RoomID]int
	maxRoom  int
	started  []string
	// onWrite runs after each write starts, outside the lock; nil does nothing.
	onWrite func(n int)
}

func newConcWorld(rooms []id.RoomID, gateAt int) *concWorld {
	w := &concWorld{fakeWorld: newFakeWorld(), gate: make(chan struct{}), gateAt: gateAt, roomIn: map[id.RoomID]int{}}
	for _, r := range rooms {
		w.rooms[r] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	}
	if gateAt <= 1 {
		close(w.gate)
	}
	return w
}

func (w *concWorld) writeAs(kind string, room id.RoomID, user id.UserID, membership string) error {
	w.mu.Lock()
	w.inFlight++
	w.roomIn[room]++
	w.maxIn = max(w.maxIn, w.inFlight)
	w.maxRoom = max(w.maxRoom, w.roomIn[room])
	w.started = append(w.started, fmt.Sprintf("%s %s %s", kind, user, room))
	n := len(w.started)
	if w.inFlight == w.gateAt && w.gateAt > 1 {
		// Keep them a little longer, so a write beyond the bound would show up now.
		time.AfterFunc(20*time.Millisecond, func() { close(w.gate) })
		w.gateAt = 0
	}
	w.mu.Unlock()
	if w.onWrite != nil {
		w.onWrite(n)
	}
	select {
	case <-w.gate:
	case <-time.After(time.Second):
	}
	// A short pause makes two writes to one room overlap if the scheduler allowed them to.
	time.Sleep(200 * time.Microsecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inFlight--
	w.roomIn[room]--
	return w.write(kind, room, user, membership)
}

func (w *concWorld) Invite(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	return w.writeAs("invite", r, u, plan.MembershipInvite)
}
func (w *concWorld) ForceJoin(_ context.Context, r id.RoomID, u id.UserID, _ bool) error {
	return w.writeAs("force_join", r, u, plan.MembershipJoin)
}
func (w *concWorld) Unban(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	return w.writeAs("unban", r, u, plan.MembershipLeave)
}
func (w *concWorld) Kick(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	return w.writeAs("kick", r, u, plan.MembershipLeave)
}
func (w *concWorld) Ban(_ context.Context, r id.RoomID, u id.UserID, _ string) error {
	return w.writeAs("ban", r, u, plan.MembershipBan)
}

// The remaining ports only take the lock around the plain fake.

func (w *concWorld) RoomState(ctx context.Context, r id.RoomID) (plan.RoomState, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.RoomState(ctx, r)
}
func (w *concWorld) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.UserExists(ctx, u)
}
func (w *concWorld) LoadState(ctx context.Context) (plan.State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.LoadState(ctx)
}
func (w *concWorld) PutMember(ctx context.Context, m plan.ManagedMember) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.PutMember(ctx, m)
}
func (w *concWorld) PutMembers(ctx context.Context, ms []plan.ManagedMember) error {
	for _, m := range ms {
		if err := w.PutMember(ctx, m); err != nil {
			return err
		}
	}
	return nil
}
func (w *concWorld) ForgetMember(ctx context.Context, r id.RoomID, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.ForgetMember(ctx, r, u)
}
func (w *concWorld) PutPending(ctx context.Context, p plan.PendingRemoval) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.PutPending(ctx, p)
}
func (w *concWorld) DeletePending(ctx context.Context, r id.RoomID, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.DeletePending(ctx, r, u)
}
func (w *concWorld) RecordRemoval(ctx context.Context, r plan.Removal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.RecordRemoval(ctx, r)
}
func (w *concWorld) MarkMissingAccount(ctx context.Context, u id.UserID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.MarkMissingAccount(ctx, u)
}
func (w *concWorld) ClearMissingAccount(ctx context.Context, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.ClearMissingAccount(ctx, u)
}
func (w *concWorld) Backup(ctx context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fakeWorld.Backup(ctx)
}

// overlapObserver fails the test when two observer calls overlap, and counts the actions.
type overlapObserver struct {
	t       *testing.T
	busy    atomic.Bool
	mu      sync.Mutex
	actions map[string]int
}

func (o *overlapObserver) ActionFinished(kind string, _ id.RoomID, result string) {
	if !o.busy.CompareAndSwap(false, true) {
		o.t.Error("two observer calls overlap")
	}
	defer o.busy.Store(false)
	time.Sleep(100 * time.Microsecond) // widen the window in which an overlap would show
	o.mu.Lock()
	o.actions[kind+" "+result]++
	o.mu.Unlock()
}
func (o *overlapObserver) CycleFinished(CycleResult, CycleStats) {}

func (w *concWorld) reconcilerWith(p plan.Policy, limit int, obs Observer) *Reconciler {
	return New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute,
		Now: func() time.Time { return w.now }, Log: zerolog.Nop(), MaxConcurrentWrites: limit, Observer: obs})
}

// bigWorld has one room per entry of sizes, each with that many group members to invite.
func bigWorld(sizes []int, gateAt int) (*concWorld, plan.Policy, int) {
	var rooms []id.RoomID
	for i := range sizes {
		rooms = append(rooms, id.RoomID(fmt.Sprintf("!r%02d:hs", i)))
	}
	w := newConcWorld(rooms, gateAt)
	var p plan.Policy
	total := 0
	for i, n := range sizes {
		g := fmt.Sprintf("g%02d", i)
		p.Mappings = append(p.Mappings, plan.Mapping{Group: g, Room: rooms[i], Method: plan.MethodInvite})
		for j := range n {
			u := id.UserID(fmt.Sprintf("@u%03d:hs", j))
			w.groups[g] = append(w.groups[g], u)
			w.accounts[u] = true
			total++
		}
	}
	p.GracePeriod, p.RemoveAction, p.Bot = grace, plan.RemoveKick, bot
	return w, p, total
}

func TestApplyBoundsConcurrentWrites(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		sizes []int // group members to invite, per room
		want  int   // writes in flight at the busiest moment
	}{
		{"one at a time", 1, slices.Repeat([]int{3}, 5), 1},
		{"bound below the rooms", 3, slices.Repeat([]int{4}, 10), 3},
		{"default bound", 0, slices.Repeat([]int{2}, 12), DefaultMaxConcurrentWrites},
		{"fewer rooms than the bound", 8, slices.Repeat([]int{5}, 3), 3},
		{"one room stays serial", 8, []int{6}, 1},
		{"a large room beside small ones", 4, []int{12, 1, 1}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sizes := tc.sizes
			w, p, total := bigWorld(sizes, tc.want)
			obs := &overlapObserver{t: t, actions: map[string]int{}}
			res := w.reconcilerWith(p, tc.limit, obs).RunCycle(context.Background())
			if !res.Ok() || res.Done["invite"] != total || res.Done["track"] != total || len(w.writes) != total {
				t.Fatalf("want %d invites done, got result %+v and %d writes", total, res, len(w.writes))
			}
			if w.maxIn != tc.want {
				t.Errorf("at most %d writes were in flight at once, want %d", w.maxIn, tc.want)
			}
			if w.maxRoom != 1 {
				t.Errorf("%d writes to one room ran at once, want 1", w.maxRoom)
			}
			if got := obs.actions["invite ok"]; got != total {
				t.Errorf("observer saw %d invites, want %d", got, total)
			}
			if len(res.Writes) != total {
				t.Errorf("result lists %d writes, want %d", len(res.Writes), total)
			}
		})
	}
}

func TestApplyInterleavesRooms(t *testing.T) {
	// One large room first in plan order and two small ones: with a single writer the small
	// rooms are done after three turns, not after the large room's twenty writes.
	w, p, _ := bigWorld([]int{20, 2, 2}, 1)
	w.reconcilerWith(p, 1, nil).RunCycle(context.Background())
	want := []string{
		"invite @u000:hs !r00:hs", "invite @u000:hs !r01:hs", "invite @u000:hs !r02:hs",
		"invite @u001:hs !r00:hs", "invite @u001:hs !r01:hs", "invite @u001:hs !r02:hs",
		"invite @u002:hs !r00:hs", "invite @u003:hs !r00:hs",
	}
	if got := w.started[:len(want)]; !slices.Equal(got, want) {
		t.Fatalf("writes started in the order\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(w.started) != 24 {
		t.Fatalf("%d writes, want 24", len(w.started))
	}
}

func TestApplyKeepsPhasesInOrder(t *testing.T) {
	const rooms = 4
	w, p, _ := bigWorld(slices.Repeat([]int{3}, rooms), 1)
	dave := id.UserID("@dave:hs")
	for i := range rooms {
		r := p.Mappings[i].Room
		// @u000 was banned by the bot and is back in the group: unban, then invite.
		w.rooms[r]["@u000:hs"] = plan.RoomMember{Membership: plan.MembershipBan, Sender: bot, Since: earlier}
		// dave's grace period is over: kicked after every addition.
		w.rooms[r][dave] = joined(earlier)
		w.state.Members.Set(plan.ManagedMember{Room: r, User: dave})
		w.state.Pending[plan.RoomUser{Room: r, User: dave}] = plan.PendingRemoval{Room: r, User: dave, DueAt: earlier, Reason: "gone"}
	}
	// A second banned user in the first room: their unban must wait for no one's invite.
	w.rooms[p.Mappings[0].Room]["@u001:hs"] = plan.RoomMember{Membership: plan.MembershipBan, Sender: bot, Since: earlier}
	banned := []plan.RoomUser{{Room: p.Mappings[0].Room, User: "@u001:hs"}}
	for i := range rooms {
		banned = append(banned, plan.RoomUser{Room: p.Mappings[i].Room, User: "@u000:hs"})
	}
	w.failNext["unban"] = errors.New("M_FORBIDDEN")
	res := w.reconcilerWith(p, 3, nil).RunCycle(context.Background())

	rank := map[string]int{"unban": 0, "invite": 1, "kick": 2}
	last := 0
	for _, s := range w.started {
		r := rank[strings.Fields(s)[0]]
		if r < last {
			t.Fatalf("write %q started after a later phase had begun: %v", s, w.started)
		}
		last = r
	}
	if w.backups != 1 || res.Done["kick"] != rooms {
		t.Fatalf("want one backup before %d kicks, got %d backups, result %+v", rooms, w.backups, res)
	}
	if res.Failed["unban"] != 1 || res.Done["unban"] != rooms || res.Skipped["invite"] != 1 || res.Done["invite"] != 3*rooms-1 {
		t.Fatalf("unban failure: result %+v", res)
	}
	// The user whose unban failed is not invited; every other banned user is.
	for _, b := range banned {
		unbanned := slices.Contains(w.writes, fmt.Sprintf("unban %s %s", b.User, b.Room))
		invited := slices.Contains(w.writes, fmt.Sprintf("invite %s %s", b.User, b.Room))
		if unbanned != invited {
			t.Errorf("%s in %s: unbanned %v but invited %v", b.User, b.Room, unbanned, invited)
		}
	}
}

func TestApplyChecksEachAccountOnce(t *testing.T) {
	// The same users in many rooms at once: one account check each, and the one without an
	// account is skipped in every room and reported once.
	w, p, _ := bigWorld(slices.Repeat([]int{3}, 6), 1)
	w.accounts["@u002:hs"] = false
	var checks atomic.Int32
	counting := &countingRooms{concWorld: w, checks: &checks}
	r := New(Options{Directory: w, Rooms: counting, Store: w, Backup: w, Policy: p, Interval: time.Minute,
		Now: func() time.Time { return w.now }, Log: zerolog.Nop(), MaxConcurrentWrites: 6})
	res := r.RunCycle(context.Background())
	if got := checks.Load(); got != 3 {
		t.Errorf("%d account checks, want 3 (one per user)", got)
	}
	if res.Skipped["invite"] != 6 || res.Done["invite"] != 12 || res.MissingAccounts != 1 || len(res.NoAccount) != 1 {
		t.Fatalf("result %+v", res)
	}
}

type countingRooms struct {
	*concWorld
	checks *atomic.Int32
}

func (c *countingRooms) UserExists(ctx context.Context, u id.UserID) (bool, error) {
	c.checks.Add(1)
	return c.concWorld.UserExists(ctx, u)
}

func TestApplyStopsWhenTheContextEnds(t *testing.T) {
	w, p, total := bigWorld(slices.Repeat([]int{10}, 4), 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.onWrite = func(n int) {
		if n == 5 {
			cancel()
		}
	}
	res := w.reconcilerWith(p, 2, nil).RunCycle(ctx)
	// The writes already started finish; no new one starts.
	if n := len(w.started); n < 5 || n > 6 {
		t.Fatalf("%d writes started after the context ended at the 5th, want 5 or 6", n)
	}
	if res.Done["invite"] != len(w.started) || res.Done["invite"] == total {
		t.Fatalf("result %+v after %d writes", res, len(w.started))
	}
}

// batchWorld is a fakeWorld whose store records managed members in batches.
type batchWorld struct {
	*fakeWorld
	batches []int
	err     error
}

func (b *batchWorld) PutMembers(ctx context.Context, ms []plan.ManagedMember) error {
	b.batches = append(b.batches, len(ms))
	if b.err != nil {
		return b.err
	}
	for _, m := range ms {
		if err := b.PutMember(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func TestApplyRecordsMembersInBatches(t *testing.T) {
	users := make([]id.UserID, 2500)
	for i := range users {
		users[i] = id.UserID(fmt.Sprintf("@u%04d:hs", i))
	}
	tests := []struct {
		name        string
		err         error
		wantBatches []int
		wantDone    int
		wantFailed  int
	}{
		{"every member recorded, in transactions of at most 1000", nil, []int{1000, 1000, 500}, 2500, 0},
		{"a failed transaction counts each of its members as failed", errors.New("disk full"), []int{1000, 1000, 500}, 0, 2500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld()
			w.groups["staff"] = users
			for _, u := range users {
				w.rooms[roomA][u] = joined(earlier) // already in: only the records are written
			}
			b := &batchWorld{fakeWorld: w, err: tc.err}
			var before, after int
			r := New(Options{Directory: w, Rooms: w, Store: b, Backup: w, Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
				Interval: time.Minute, Now: func() time.Time { return w.now }, Log: zerolog.Nop(),
				Hook: func(point string) {
					switch point {
					case HookBefore + "track":
						before++
					case HookAfter + "track":
						after++
					}
				}})
			res := r.RunCycle(t.Context())
			if !slices.Equal(b.batches, tc.wantBatches) {
				t.Errorf("batches %v, want %v", b.batches, tc.wantBatches)
			}
			if res.Done["track"] != tc.wantDone || res.Failed["track"] != tc.wantFailed {
				t.Errorf("done %d failed %d, want %d and %d", res.Done["track"], res.Failed["track"], tc.wantDone, tc.wantFailed)
			}
			if w.state.Members.Len() != tc.wantDone {
				t.Errorf("%d members recorded, want %d", w.state.Members.Len(), tc.wantDone)
			}
			if before != len(users) || after != tc.wantDone {
				t.Errorf("hooks: %d before, %d after; want %d and %d", before, after, len(users), tc.wantDone)
			}
		})
	}
}
