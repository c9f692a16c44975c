package reconcile

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// countingStore is a store that counts its records itself, and notes every full load.
type countingStore struct {
	*fakeWorld
	loads            int
	members, pending map[id.RoomID]int
	err              error
}

func (s *countingStore) LoadState(ctx context.Context) (plan.State, error) {
	s.loads++
	return s.fakeWorld.LoadState(ctx)
}

func (s *countingStore) CountState(context.Context) (map[id.RoomID]int, map[id.RoomID]int, error) {
	return s.members, s.pending, s.err
}

func TestCycleFiguresComeFromTheStoresCount(t *testing.T) {
	roomB := id.RoomID("!unmapped:hs")
	tests := []struct {
		name                  string
		members, pending      map[id.RoomID]int
		err                   error
		wantMembers, wantPend map[id.RoomID]int
	}{
		{name: "counts of mapped rooms only, zero for a room without records",
			members: map[id.RoomID]int{roomA: 7, roomB: 3}, pending: map[id.RoomID]int{roomB: 1},
			wantMembers: map[id.RoomID]int{roomA: 7}, wantPend: map[id.RoomID]int{roomA: 0}},
		{name: "a failed count leaves both figures out", err: errors.New("connection reset")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFakeWorld()
			st := &countingStore{fakeWorld: w, members: tt.members, pending: tt.pending, err: tt.err}
			obs := &recordingObserver{}
			r := New(Options{Directory: w, Rooms: w, Store: st, Backup: w, Interval: time.Minute,
				Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
				Now:    func() time.Time { return w.now }, Log: zerolog.Nop(), Observer: obs})
			w.cycle(t, r)
			if st.loads != 1 {
				t.Errorf("the state was loaded %d times in one cycle; want once, for the plan", st.loads)
			}
			if len(obs.stats) != 1 {
				t.Fatalf("got %d cycle figures, want 1", len(obs.stats))
			}
			got := obs.stats[0]
			if !reflect.DeepEqual(got.ManagedMembers, tt.wantMembers) || !reflect.DeepEqual(got.PendingRemovals, tt.wantPend) {
				t.Errorf("figures %v, %v; want %v, %v", got.ManagedMembers, got.PendingRemovals, tt.wantMembers, tt.wantPend)
			}
		})
	}
}
