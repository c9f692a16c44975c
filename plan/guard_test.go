package plan

import (
	"fmt"
	"reflect"
	"testing"

	"maunium.net/go/mautrix/id"
)

func kicks(room id.RoomID, users ...id.UserID) []Action {
	var out []Action
	for _, u := range users {
		out = append(out, Kick{Room: room, User: u, Reason: "gone"})
	}
	return out
}

func managedIn(room id.RoomID, n int) []ManagedMember {
	var out []ManagedMember
	for i := range n {
		out = append(out, tracked(room, id.UserID(fmt.Sprintf("@u%d:hs", i)), earlier))
	}
	return out
}

func TestCheckRemovals(t *testing.T) {
	invite := Invite{Room: roomA, User: carol, Reason: "in staff"}
	limits := GuardLimits{MaxRemovals: 3, MaxFraction: 0.25}
	tests := []struct {
		name    string
		limits  GuardLimits
		actions []Action
		managed []ManagedMember
		tripped bool
		held    int
	}{
		{"no removals", limits, []Action{invite}, managedIn(roomA, 4), false, 0},
		{"one removal of two managed is not mass removal", limits, kicks(roomA, alice), managedIn(roomA, 2), false, 0},
		{"two of ten is below the fraction", limits, kicks(roomA, alice, bob), managedIn(roomA, 10), false, 0},
		{"two of four exceeds the fraction", limits, kicks(roomA, alice, bob), managedIn(roomA, 4), true, 2},
		{"four of a hundred exceeds the count", limits, kicks(roomA, alice, bob, carol, bot), managedIn(roomA, 100), true, 4},
		{"exactly the count is allowed", limits, kicks(roomA, alice, bob, carol), managedIn(roomA, 100), false, 0},
		{"fraction is per room", limits, append(kicks(roomA, alice), kicks(roomB, bob)...), append(managedIn(roomA, 2), managedIn(roomB, 2)...), false, 0},
		{"zero limits disable the guard", GuardLimits{}, kicks(roomA, alice, bob, carol, bot), managedIn(roomA, 4), false, 0},
		{"bans count like kicks", limits, []Action{Ban{Room: roomA, User: alice}, Ban{Room: roomA, User: bob}}, managedIn(roomA, 3), true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckRemovals(tc.limits, Plan{Actions: tc.actions}, stateWith(tc.managed, nil))
			if v.Tripped() != tc.tripped || len(v.Held) != tc.held {
				t.Fatalf("tripped %v with %d held (%v), want %v with %d", v.Tripped(), len(v.Held), v.Why, tc.tripped, tc.held)
			}
		})
	}
}

// TestFractionRule pins the fraction rule at its edges: a room may lose max(1, fraction ×
// managed members) in one cycle; more trips the guard.
func TestFractionRule(t *testing.T) {
	users := []id.UserID{alice, bob, carol, "@dave:hs", "@erin:hs"}
	tests := []struct {
		name     string
		fraction float64
		managed  int
		removals int
		tripped  bool
	}{
		{"one of one: a single departure never waits", 0.25, 1, 1, false},
		{"one of two", 0.25, 2, 1, false},
		{"one of three, a third, still a single departure", 0.25, 3, 1, false},
		{"both of two", 0.25, 2, 2, true},
		{"two of three", 0.25, 3, 2, true},
		{"two of eight is exactly the fraction", 0.25, 8, 2, false},
		{"three of eight is more", 0.25, 8, 3, true},
		{"two of nine: the allowance is 2.25, not rounded down", 0.25, 9, 2, false},
		{"three of twelve", 0.25, 12, 3, false},
		{"four of twelve", 0.25, 12, 4, true},
		{"half: two of four", 0.5, 4, 2, false},
		{"half: three of four", 0.5, 4, 3, true},
		{"a fraction of one never trips", 1, 5, 5, false},
		{"a fraction of zero disables the rule", 0, 5, 5, false},
		{"two from a room with no managed members", 0.25, 0, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckRemovals(GuardLimits{MaxFraction: tc.fraction}, Plan{Actions: kicks(roomA, users[:tc.removals]...)}, stateWith(managedIn(roomA, tc.managed), nil))
			if v.Tripped() != tc.tripped {
				t.Fatalf("%d of %d at %.2f: tripped %v (%v), want %v", tc.removals, tc.managed, tc.fraction, v.Tripped(), v.Why, tc.tripped)
			}
			if tc.tripped && len(v.Held) != tc.removals {
				t.Errorf("held %d, want all %d", len(v.Held), tc.removals)
			}
		})
	}
	v := CheckRemovals(GuardLimits{MaxFraction: 0.25}, Plan{Actions: kicks(roomA, users[:3]...)}, stateWith(managedIn(roomA, 8), nil))
	if want := "3 of 8 managed members of " + string(roomA) + " would leave, more than max_removal_fraction 0.25 allows (2)"; len(v.Why) != 1 || v.Why[0] != want {
		t.Errorf("why = %q, want %q", v.Why, want)
	}
}

func TestBatchIDDependsOnTheSetOnly(t *testing.T) {
	a := []HeldRemoval{{Room: roomA, User: alice, Action: RemoveKick}, {Room: roomA, User: bob, Action: RemoveKick}}
	b := []HeldRemoval{a[1], a[0]}
	c := []HeldRemoval{a[0], {Room: roomA, User: carol, Action: RemoveKick}}
	if BatchID(a) != BatchID(b) {
		t.Errorf("order changed the ID: %s vs %s", BatchID(a), BatchID(b))
	}
	if BatchID(a) == BatchID(c) {
		t.Errorf("different removals share the ID %s", BatchID(a))
	}
	if len(BatchID(a)) != 6 {
		t.Errorf("ID %q is not 6 characters", BatchID(a))
	}
}

func TestWithoutRemovalsKeepsTheRest(t *testing.T) {
	p := Plan{Actions: append([]Action{Invite{Room: roomA, User: carol}}, kicks(roomA, alice)...), Warnings: []Warning{{Message: "w"}}}
	got := p.WithoutRemovals()
	want := Plan{Actions: []Action{Invite{Room: roomA, User: carol}}, Warnings: p.Warnings}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestExemptUsersAreNeverScheduled(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	obs := Observed{Groups: groups(group("staff", carol)),
		Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier), carol: joined(earlier)})}}
	tests := []struct {
		name   string
		exempt Exemption
		want   []Action
	}{
		{"global exemption", Exemption{User: alice},
			[]Action{CancelRemoval{Room: roomA, User: alice, Reason: "exempted by an admin"}}},
		{"exemption in this room", Exemption{User: alice, Room: roomA},
			[]Action{CancelRemoval{Room: roomA, User: alice, Reason: "exempted by an admin"}}},
		{"exemption in another room does not count", Exemption{User: alice, Room: roomB},
			[]Action{Kick{Room: roomA, User: alice, Reason: "no longer in Authentik group staff"}}},
		{"until-back exemption ends when the user is back", Exemption{User: carol, Room: roomA, UntilBack: true},
			[]Action{EndExemption{Room: roomA, User: carol, Reason: "back in Authentik group staff"}, Kick{Room: roomA, User: alice, Reason: "no longer in Authentik group staff"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := stateWith([]ManagedMember{tracked(roomA, alice, now.Add(-48*grace)), tracked(roomA, carol, earlier)},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "no longer in Authentik group staff"}})
			st.Members.Set(ManagedMember{Room: roomA, User: alice})
			st.Exempt[RoomUser{tc.exempt.Room, tc.exempt.User}] = tc.exempt
			got := MakePlan(policy(staffA), obs, st, now)
			if !reflect.DeepEqual(got.Actions, tc.want) {
				t.Errorf("actions\n got %#v\nwant %#v", got.Actions, tc.want)
			}
		})
	}
}
