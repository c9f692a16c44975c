package reconcile

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// TestHookPoints runs a cycle with an addition, a due removal and a new pending removal, and
// checks that every write is bracketed by its points, in order, with the removal's after_ point
// before its record.
func TestHookPoints(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice}
	w.rooms[roomA][bob] = joined(earlier)
	w.rooms[roomA][carol] = joined(earlier)
	w.state.Members.Set(plan.ManagedMember{Room: roomA, User: bob})
	w.state.Members.Set(plan.ManagedMember{Room: roomA, User: carol})
	w.state.Pending[plan.RoomUser{Room: roomA, User: bob}] = plan.PendingRemoval{Room: roomA, User: bob, DueAt: earlier, CreatedAt: earlier, Reason: "gone"}
	var mu sync.Mutex
	var points []string
	recorded := -1
	st := &recordFails{fakeWorld: w}
	r := New(Options{Directory: w, Rooms: w, Store: st, Backup: w, Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
		Interval: time.Minute, Now: func() time.Time { return w.now }, Log: zerolog.Nop(),
		Hook: func(p string) {
			mu.Lock()
			defer mu.Unlock()
			points = append(points, p)
			if p == "after_kick" {
				recorded = len(w.removals)
			}
		}})
	w.cycle(t, r)
	want := []string{
		"before_track", "after_track", // alice enters the group
		"before_schedule_removal", "after_schedule_removal", // carol left it
		"before_invite", "after_invite",
		"before_kick", "before_backup", "after_backup", "after_kick",
	}
	if !slices.Equal(points, want) {
		t.Errorf("points\n got %v\nwant %v", points, want)
	}
	if recorded != 0 {
		t.Errorf("after_kick reached with %d removals recorded, want 0 (the point lies between the kick and its record)", recorded)
	}
	if len(w.removals) != 1 {
		t.Errorf("removal not recorded after the hook: %v", w.removals)
	}
}
