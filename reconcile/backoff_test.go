package reconcile

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		interval, limit time.Duration
		streak          int
		want            time.Duration
	}{
		{time.Minute, 5 * time.Minute, 0, time.Minute},
		{time.Minute, 5 * time.Minute, 1, 2 * time.Minute},
		{time.Minute, 5 * time.Minute, 2, 4 * time.Minute},
		{time.Minute, 5 * time.Minute, 3, 5 * time.Minute},
		{time.Minute, 5 * time.Minute, 1000, 5 * time.Minute}, // no overflow however long the outage
		{time.Second, 5 * time.Minute, 8, 256 * time.Second},
		{time.Minute, 0, 5, time.Minute},                         // 0 disables the back-off
		{10 * time.Minute, 5 * time.Minute, 3, 10 * time.Minute}, // never below the interval
	}
	for _, tt := range tests {
		if got := BackoffDelay(tt.interval, tt.limit, tt.streak); got != tt.want {
			t.Errorf("BackoffDelay(%s, %s, %d) = %s, want %s", tt.interval, tt.limit, tt.streak, got, tt.want)
		}
	}
}

// twoRoomWorld maps staff (alice) to room A and ops (bob) to room B, with a 5 min back-off cap.
func twoRoomWorld() (*fakeWorld, *Reconciler) {
	w := newFakeWorld()
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice}
	w.groups["ops"] = []id.UserID{bob}
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite},
		plan.Mapping{Group: "ops", Room: roomB, Method: plan.MethodInvite}))
	r.opts.MaxBackoff = 5 * time.Minute
	return w, r
}

// outageStep changes the world, runs a cycle and says what the back-off must make of it.
type outageStep struct {
	name       string
	change     func()
	wantOutage string
	wantNext   time.Duration
}

func runOutageSteps(t *testing.T, w *fakeWorld, r *Reconciler, steps []outageStep) {
	t.Helper()
	for _, st := range steps {
		st.change()
		res := w.cycle(t, r)
		if res.Outage != st.wantOutage || res.NextIn != st.wantNext {
			t.Fatalf("%s: outage %q next in %s, want %q and %s (unknown %v, unreadable %v)",
				st.name, res.Outage, res.NextIn, st.wantOutage, st.wantNext, res.UnknownGroups, res.UnreadableRooms)
		}
	}
}

// TestBackoffFollowsOutages runs cycles through outages of each kind and checks when the next
// cycle is scheduled: doubling while a service fails as a whole, the interval again at once when
// it recovers, and no back-off for a failure confined to one group or room.
func TestBackoffFollowsOutages(t *testing.T) {
	w, r := twoRoomWorld()
	down := errors.New("authentik: connection refused")

	runOutageSteps(t, w, r, []outageStep{
		{"healthy", func() {}, "", time.Minute},
		{"one group unknown: the rest goes on", func() { w.groupErr["ops"] = down }, "", time.Minute},
		{"Authentik down", func() { w.groupErr["staff"] = down }, OutageAuthentik, 2 * time.Minute},
		{"still down", func() {}, OutageAuthentik, 4 * time.Minute},
		{"still down, capped", func() {}, OutageAuthentik, 5 * time.Minute},
		{"recovered", func() { clear(w.groupErr) }, "", time.Minute},
		{"one room unreadable", func() { delete(w.rooms, roomB) }, "", time.Minute},
		{"every room unreadable", func() { delete(w.rooms, roomA) }, OutageHomeserver, 2 * time.Minute},
		{"rooms back, every write fails", func() {
			w.rooms[roomA] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
			w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
			w.groups["staff"] = []id.UserID{alice, carol}
			w.failNext["invite"] = errors.New("HTTP 502")
		}, "", time.Minute}, // carol's invite fails, but one of the two succeeds: progress
	})
}

func TestEveryWriteFailingIsAnOutage(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice}
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))
	r.opts.MaxBackoff = time.Hour
	w.failNext["invite"] = errors.New("HTTP 503")
	if res := w.cycle(t, r); res.Outage != OutageHomeserver || res.NextIn != 2*time.Minute {
		t.Fatalf("a cycle whose only write failed: outage %q next %s, want the homeserver and 2m", res.Outage, res.NextIn)
	}
	if res := w.cycle(t, r); res.Outage != "" || res.NextIn != time.Minute {
		t.Fatalf("after the write succeeds: outage %q next %s, want none and 1m", res.Outage, res.NextIn)
	}
}

func TestFailedAccountWritesAreNoOutage(t *testing.T) {
	lock := AppliedWrite{Kind: plan.LockAccount{}.Kind(), Target: plan.RoomUser{User: bob}, Result: ResultFailed, Account: true}
	kick := AppliedWrite{Kind: plan.Kick{}.Kind(), Target: plan.RoomUser{Room: roomA, User: bob}, Result: ResultFailed}
	p := policy(plan.Mapping{Group: "staff", Room: roomA})
	if got := (&CycleResult{Writes: []AppliedWrite{lock}}).outage(p); got != "" {
		t.Errorf("only a failed lock: outage %q, want none", got)
	}
	if got := (&CycleResult{Writes: []AppliedWrite{lock, kick}}).outage(p); got != OutageHomeserver {
		t.Errorf("a failed lock and a failed kick: outage %q, want the homeserver", got)
	}
	var c CycleResult
	c.noteWrite(plan.EndSessions{User: bob}, map[string]int{})
	c.noteWrite(plan.Invite{Room: roomA, User: bob}, map[string]int{})
	if len(c.Writes) != 2 || !c.Writes[0].Account || c.Writes[1].Account {
		t.Errorf("noted writes %+v: want the logout marked an account write, the invite not", c.Writes)
	}
}

// setupErr is an error marked as a setup problem, as authentik's "group not found" and
// appservice's ErrBotNotInRoom are.
type setupErr string

func (e setupErr) Error() string { return string(e) }
func (setupErr) SetupProblem()   {}

// TestSetupProblemsAreNoOutage: a mistyped group or a room the bot is not in is warned about
// and costs its own group or room only; the cycles keep their interval, so a fix shows at once.
// A real outage next to a setup problem still backs off.
func TestSetupProblemsAreNoOutage(t *testing.T) {
	w, r := twoRoomWorld()
	notFound := fmt.Errorf("members: %w", setupErr(`authentik group "staf" not found`))
	notIn := fmt.Errorf("read state of !b:hs: %w", setupErr("bot is not joined to the room"))

	runOutageSteps(t, w, r, []outageStep{
		{"every group mistyped", func() { w.groupErr["staff"], w.groupErr["ops"] = notFound, notFound }, "", time.Minute},
		{"one mistyped, the other down", func() { w.groupErr["ops"] = errors.New("connection refused") }, OutageAuthentik, 2 * time.Minute},
		{"one mistyped, the other read", func() { delete(w.groupErr, "ops") }, "", time.Minute},
		{"every room without the bot", func() {
			clear(w.groupErr)
			w.roomErr[roomA], w.roomErr[roomB] = notIn, notIn
		}, "", time.Minute},
		{"one room without the bot, the other unreachable", func() { w.roomErr[roomB] = errors.New("HTTP 502") }, OutageHomeserver, 2 * time.Minute},
	})
}
