package plan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestPlanUndoneRemovals covers a removal the homeserver undid: the room's current membership
// for the user is still the event the recorded kick replaced.
func TestPlanUndoneRemovals(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	invited := RoomMember{Membership: MembershipInvite, Sender: bot, Since: earlier.Add(-time.Hour)}
	kickedAt := earlier
	kick := Removal{Room: roomA, User: alice, Action: RemoveKick, Reason: "no longer in Authentik group staff", At: kickedAt, Replaced: invited}
	settled := SettleRemoval{Room: roomA, User: alice, UpTo: kickedAt}
	again := Kick{Room: roomA, User: alice, Reason: "no longer in Authentik group staff (again: the homeserver undid the kick of " + kickedAt.Format(time.RFC3339) + ")"}
	withRemoval := func(r Removal, edit func(*State)) State {
		s := NewState()
		s.Removals = map[RoomUser]Removal{{r.Room, r.User}: r}
		if edit != nil {
			edit(&s)
		}
		return s
	}
	room := func(m RoomMember) map[id.RoomID]RoomObservation {
		return map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: m})}
	}
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []string
	}{
		{
			name:   "the room still shows the invite the kick replaced: kicked again",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(invited)},
			state:  withRemoval(kick, nil),
			want:   []Action{again},
		},
		{
			name:   "a join the kick replaced is kicked again too, banned where the room bans",
			policy: Policy{Mappings: []Mapping{staffA}, GracePeriod: grace, RemoveAction: RemoveBan, Bot: bot},
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(RoomMember{Membership: MembershipJoin, Sender: alice, Since: earlier.Add(-time.Hour)})},
			state: withRemoval(Removal{Room: roomA, User: alice, Action: RemoveKick, Reason: "r", At: kickedAt,
				Replaced: RoomMember{Membership: MembershipJoin, Sender: alice, Since: earlier.Add(-time.Hour)}}, nil),
			want: []Action{Ban{Room: roomA, User: alice, Reason: "r (again: the homeserver undid the kick of " + kickedAt.Format(time.RFC3339) + ")"}},
		},
		{
			name:   "the kick held: no longer watched",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(RoomMember{Membership: MembershipLeave, Sender: bot, Since: kickedAt})},
			state:  withRemoval(kick, nil),
			want:   []Action{settled},
		},
		{
			name:   "invited again since (a newer event, by anyone): left alone",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(RoomMember{Membership: MembershipInvite, Sender: bot, Since: now})},
			state:  withRemoval(kick, nil),
			want:   []Action{settled},
		},
		{
			name:   "the same invite by another sender is another event: left alone",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(RoomMember{Membership: MembershipInvite, Sender: bob, Since: invited.Since})},
			state:  withRemoval(kick, nil),
			want:   []Action{settled},
		},
		{
			name:     "a group of the room unknown: no removal",
			policy:   policy(staffA),
			obs:      Observed{Groups: map[string]GroupMembers{"staff": {Group: "staff", Err: errors.New("page 2: 500")}}, Rooms: room(invited)},
			state:    withRemoval(kick, nil),
			warnings: []string{"unknown this cycle: no removals"},
		},
		{
			name:   "back in the group: the normal addition path, no removal",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: room(invited)},
			state:  withRemoval(kick, nil),
			want:   []Action{NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"), settled},
		},
		{
			name:   "exempted since: left alone",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(invited)},
			state:  withRemoval(kick, func(s *State) { s.Exempt[RoomUser{roomA, alice}] = Exemption{Room: roomA, User: alice} }),
		},
		{
			name:   "the mapping no longer removes: left alone",
			policy: policy(Mapping{Group: "staff", Room: roomA, Method: MethodInvite, MappingOverrides: MappingOverrides{NoRemove: true}}),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(invited)},
			state:  withRemoval(kick, nil),
		},
		{
			name:     "protected: left alone, with the protection's warning",
			policy:   Policy{Mappings: []Mapping{staffA}, GracePeriod: grace, RemoveAction: RemoveKick, Bot: bot, Protected: protecting([]id.UserID{alice})},
			obs:      Observed{Groups: groups(group("staff")), Rooms: room(invited)},
			state:    withRemoval(kick, nil),
			warnings: []string{"protected"},
		},
		{
			name:   "a removal found done after a restart has no replaced membership: never repeated",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: room(RoomMember{Membership: MembershipInvite, Sender: bot, Since: time.Time{}})},
			state:  withRemoval(Removal{Room: roomA, User: alice, Action: RemoveKick, Reason: "r", At: kickedAt}, nil),
			want:   []Action{settled},
		},
		{
			name:   "another room's removal is not this room's",
			policy: policy(staffA, Mapping{Group: "staff", Room: roomB, Method: MethodInvite}),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{
				roomA: roomWith(map[id.UserID]RoomMember{alice: invited}), roomB: roomWith(nil),
			}},
			state: withRemoval(Removal{Room: roomB, User: alice, Action: RemoveKick, Reason: "r", At: kickedAt, Replaced: invited}, nil),
			want:  []Action{SettleRemoval{Room: roomB, User: alice, UpTo: kickedAt}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.policy, tc.obs, tc.state, now)
			if !reflect.DeepEqual(got.Actions, tc.want) {
				t.Errorf("actions:\n got %#v\nwant %#v", got.Actions, tc.want)
			}
			if len(got.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings: got %v, want ones containing %q", got.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if !strings.Contains(got.Warnings[i].String(), w) {
					t.Errorf("warning %d: %q does not contain %q", i, got.Warnings[i], w)
				}
			}
		})
	}
}
