package plan

import (
	"errors"
	"reflect"
	"testing"

	"maunium.net/go/mautrix/id"
)

// TestUnreadableRoomStillCancelsReturnedUsers: a user back in the group while the bot cannot
// read the room gets their pending removal cancelled all the same; nothing else happens there.
func TestUnreadableRoomStillCancelsReturnedUsers(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	state := stateWith(
		[]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)},
		[]PendingRemoval{{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: "left staff"},
			{Room: roomA, User: bob, DueAt: now, Reason: "left staff"}})
	obs := Observed{Groups: groups(group("staff", alice, carol)),
		Rooms: map[id.RoomID]RoomObservation{roomA: {Err: errors.New("read state of !a:hs: bot is not joined to the room")}}}
	plan := MakePlan(policy(staffA), obs, state, now)
	want := []Action{CancelRemoval{Room: roomA, User: alice, Reason: "back in Authentik group staff"}}
	if !reflect.DeepEqual(plan.Actions, want) {
		t.Fatalf("actions = %#v\nwant only alice's cancellation (bob stays pending, carol is not added, nobody is kicked): %#v", plan.Actions, want)
	}
	if len(plan.Warnings) != 1 {
		t.Errorf("warnings = %v, want the one about the unreadable room", plan.Warnings)
	}
}
