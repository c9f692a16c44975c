package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// TestUndoneKickIsRepeated runs the whole cycle: the homeserver accepts a kick, then its state
// goes back to the invite the kick replaced (a concurrent event won state resolution). The next
// cycle kicks again, once; an invite sent after the kick is someone's choice and stays.
func TestUndoneKickIsRepeated(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice, bob}
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}))
	w.cycle(t, r) // invites alice and bob
	invitedAlice := w.rooms[roomA][alice]

	w.groups["staff"] = nil
	w.now = w.now.Add(time.Minute)
	w.cycle(t, r) // schedules both removals
	w.now = w.now.Add(grace + time.Minute)
	if res := w.cycle(t, r); res.Done["kick"] != 2 {
		t.Fatalf("kicks after the grace period: %+v, writes %v", res.Done, w.writes)
	}
	if got := w.removals[0].Replaced; got != invitedAlice {
		t.Fatalf("the kick recorded the membership it replaced as %+v, want %+v", got, invitedAlice)
	}

	// The homeserver undoes alice's kick; bob is invited again by a moderator after his.
	w.now = w.now.Add(time.Minute)
	w.rooms[roomA][alice] = invitedAlice
	w.rooms[roomA][bob] = plan.RoomMember{Membership: plan.MembershipInvite, Sender: carol, Since: w.now}
	w.cycle(t, r)
	if got, want := fmt.Sprint(w.writes), "[kick @alice:hs !a:hs]"; got != want {
		t.Fatalf("the cycle after the undone kick wrote %s, want %s", got, want)
	}
	if got := w.removals[len(w.removals)-1].Reason; !strings.Contains(got, "again: the homeserver undid the kick") {
		t.Errorf("the repeated kick's reason is %q", got)
	}
	w.now = w.now.Add(time.Minute)
	w.cycle(t, r)
	if len(w.writes) != 0 {
		t.Fatalf("a kick that held was repeated: %v", w.writes)
	}
}
