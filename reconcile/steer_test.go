package reconcile

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// fakeSteering is an admin room in memory.
type fakeSteering struct {
	paused   bool
	exempt   []plan.Exemption
	batches  map[string]string // id → status
	held     []plan.HeldBatch
	finished []string
	endedFor []id.UserID
}

func (s *fakeSteering) Paused(context.Context) (bool, error)                 { return s.paused, nil }
func (s *fakeSteering) Exemptions(context.Context) ([]plan.Exemption, error) { return s.exempt, nil }
func (s *fakeSteering) EndExemption(_ context.Context, _ id.RoomID, u id.UserID) error {
	s.endedFor = append(s.endedFor, u)
	return nil
}
func (s *fakeSteering) HoldRemovals(_ context.Context, b plan.HeldBatch) (bool, error) {
	if _, ok := s.batches[b.ID]; !ok {
		s.batches[b.ID] = plan.BatchHeld
		s.held = append(s.held, b)
	}
	return s.batches[b.ID] == plan.BatchConfirmed, nil
}
func (s *fakeSteering) FinishBatch(_ context.Context, id string) error {
	s.finished = append(s.finished, id)
	s.batches[id] = plan.BatchDone
	return nil
}

// leftWorld is a room with alice, bob and carol joined and managed, their removals due, and a
// group holding only dave: three removals and one invite.
func leftWorld() *fakeWorld {
	w := newFakeWorld()
	dave := id.UserID("@dave:hs")
	w.accounts[dave] = true
	w.groups["staff"] = []id.UserID{dave}
	for _, u := range []id.UserID{alice, bob, carol} {
		w.rooms[roomA][u] = joined(earlier)
		w.state.Members.Set(plan.ManagedMember{Room: roomA, User: u})
		w.state.Pending[plan.RoomUser{Room: roomA, User: u}] = plan.PendingRemoval{Room: roomA, User: u, DueAt: earlier, Reason: "no longer in Authentik group staff"}
	}
	return w
}

func steeredReconciler(w *fakeWorld, s *fakeSteering, limits plan.GuardLimits) *Reconciler {
	return New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Steering: s, Guard: limits,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}), Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
}

func TestGuardHoldsRemovalsUntilConfirmed(t *testing.T) {
	w, s := leftWorld(), &fakeSteering{batches: map[string]string{}}
	r := steeredReconciler(w, s, plan.GuardLimits{MaxRemovals: 2})
	res := r.RunCycle(context.Background())
	if res.Held == nil || len(res.Held.Removals) != 3 || len(s.held) != 1 {
		t.Fatalf("held %+v, batches %+v", res.Held, s.held)
	}
	if want := []string{"invite @dave:hs !a:hs"}; !slices.Equal(w.writes, want) {
		t.Fatalf("writes %v, want only the invite %v", w.writes, want)
	}
	r.RunCycle(context.Background())
	if len(s.held) != 1 || len(w.writes) != 1 {
		t.Fatalf("second cycle: %d batches, writes %v", len(s.held), w.writes)
	}
	s.batches[s.held[0].ID] = plan.BatchConfirmed
	r.RunCycle(context.Background())
	if len(w.writes) != 4 || !slices.Equal(s.finished, []string{s.held[0].ID}) || w.backups != 1 {
		t.Fatalf("after confirm: writes %v, finished %v, backups %d", w.writes, s.finished, w.backups)
	}
}

func TestPausedCycleWritesNothing(t *testing.T) {
	w, s := leftWorld(), &fakeSteering{batches: map[string]string{}, paused: true}
	res := steeredReconciler(w, s, plan.GuardLimits{}).RunCycle(context.Background())
	if !res.Paused || len(w.writes) != 0 || len(w.state.Pending) != 3 {
		t.Fatalf("paused cycle: paused %v, writes %v, pending %d", res.Paused, w.writes, len(w.state.Pending))
	}
}

func TestExemptionsFromSteeringAreHonoured(t *testing.T) {
	w := leftWorld()
	s := &fakeSteering{batches: map[string]string{}, exempt: []plan.Exemption{{User: bob}, {User: id.UserID("@dave:hs"), Room: roomA, UntilBack: true}}}
	steeredReconciler(w, s, plan.GuardLimits{}).RunCycle(context.Background())
	want := []string{"invite @dave:hs !a:hs", "kick @alice:hs !a:hs", "kick @carol:hs !a:hs"}
	if !slices.Equal(w.writes, want) {
		t.Errorf("writes %v, want %v", w.writes, want)
	}
	if _, pending := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; pending {
		t.Error("bob's pending removal was not cancelled")
	}
	if !slices.Equal(s.endedFor, []id.UserID{"@dave:hs"}) {
		t.Errorf("ended exemptions %v, want dave's", s.endedFor)
	}
}

// exemptingWorld is a fakeWorld whose store keeps exemptions, as the real stores do.
type exemptingWorld struct {
	*fakeWorld
	exempt []plan.Exemption
	ended  []id.UserID
}

func (w *exemptingWorld) Exemptions(context.Context) ([]plan.Exemption, error) { return w.exempt, nil }
func (w *exemptingWorld) DeleteExemption(_ context.Context, _ id.RoomID, u id.UserID) (bool, error) {
	w.ended = append(w.ended, u)
	return true, nil
}

func TestStoredExemptionsAreHonouredWithoutAnAdminRoom(t *testing.T) {
	w := &exemptingWorld{fakeWorld: leftWorld(),
		exempt: []plan.Exemption{{User: bob}, {User: id.UserID("@dave:hs"), Room: roomA, UntilBack: true}}}
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}), Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
	res := r.RunCycle(context.Background())
	want := []string{"invite @dave:hs !a:hs", "kick @alice:hs !a:hs", "kick @carol:hs !a:hs"}
	if !slices.Equal(w.writes, want) || !res.Ok() {
		t.Errorf("writes %v (ok %v), want %v: bob is exempt", w.writes, res.Ok(), want)
	}
	if !slices.Equal(w.ended, []id.UserID{"@dave:hs"}) {
		t.Errorf("ended exemptions %v, want dave's (back in the group)", w.ended)
	}
}
