package plan

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func TestProtects(t *testing.T) {
	p := protecting([]id.UserID{"@root:hs"}, `@ops-.*:hs`)
	tests := []struct {
		user id.UserID
		want bool
	}{
		{"@root:hs", true},
		{"@ops-anna:hs", true},
		{"@ops-anna:hs.evil", false}, // the pattern covers the whole ID
		{"@xops-anna:hs", false},
		{"@rooted:hs", false},
		{alice, false},
	}
	for _, tc := range tests {
		if got := p.Protects(tc.user); got != tc.want {
			t.Errorf("Protects(%s) = %v, want %v", tc.user, got, tc.want)
		}
	}
	var none *Protection
	if none.Protects("@root:hs") || !none.Empty() || none.Entries() != nil {
		t.Error("a nil Protection protects somebody")
	}
	if got, want := p.Entries(), []string{"@root:hs", "/@ops-.*:hs/"}; !slices.Equal(got, want) {
		t.Errorf("Entries = %q, want %q", got, want)
	}
}

// TestProtectedUsersAreNeverRemovedNorDemoted: whatever path leads to a kick, a ban or a
// demotion, a protected user (by ID or by pattern) gets a warning line instead of the action.
func TestProtectedUsersAreNeverRemovedNorDemoted(t *testing.T) {
	root := id.UserID("@root:hs")
	opsAnna := id.UserID("@ops-anna:hs")
	protection := protecting([]id.UserID{root}, `@ops-.*:hs`)
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	modsA := Mapping{Group: "moderators", Room: roomA, Method: MethodInvite, PowerLevel: 50}
	protected := func(ms ...Mapping) Policy {
		p := policy(ms...)
		p.Protected = protection
		return p
	}
	inRoom := func(users ...id.UserID) map[id.RoomID]RoomObservation {
		m := map[id.UserID]RoomMember{}
		for _, u := range users {
			m[u] = joined(earlier)
		}
		return map[id.RoomID]RoomObservation{roomA: roomWith(m)}
	}
	due := func(room id.RoomID, u id.UserID) PendingRemoval {
		return PendingRemoval{Room: room, User: u, DueAt: earlier, Reason: "no longer in Authentik group staff", CreatedAt: earlier.Add(-grace)}
	}
	withBan := func(p Policy) Policy { p.RemoveAction = RemoveBan; return p }
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []Warning
	}{
		{
			name:   "protected by ID, out of every group: no removal scheduled, a warning instead",
			policy: protected(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inRoom(root)},
			state:  stateWith([]ManagedMember{tracked(roomA, root, earlier)}, nil),
			want: []Action{
				NewTrackMember(ManagedMember{Room: roomA, User: root}, "no longer in Authentik group staff"),
			},
			warnings: []Warning{{Room: roomA, User: root, Message: "protected (protected_users): not removed"}},
		},
		{
			name:   "protected by pattern, pending removal coming due: cancelled, never kicked",
			policy: protected(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inRoom(opsAnna)},
			state:  stateWith([]ManagedMember{{Room: roomA, User: opsAnna}}, []PendingRemoval{due(roomA, opsAnna)}),
			want:   []Action{CancelRemoval{Room: roomA, User: opsAnna, Reason: "protected (protected_users)"}},
			warnings: []Warning{
				{Room: roomA, User: opsAnna, Message: "protected (protected_users): not removed"},
			},
		},
		{
			name:   "ban action and grace 0: still no ban; an unprotected user in the same room is banned",
			policy: withBan(protected(staffA)),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inRoom(root, alice)},
			state: stateWith([]ManagedMember{{Room: roomA, User: root}, {Room: roomA, User: alice}},
				[]PendingRemoval{due(roomA, root), due(roomA, alice)}),
			want: []Action{
				CancelRemoval{Room: roomA, User: root, Reason: "protected (protected_users)"},
				Ban{Room: roomA, User: alice, Reason: "no longer in Authentik group staff"},
			},
			warnings: []Warning{{Room: roomA, User: root, Message: "protected (protected_users): not removed"}},
		},
		{
			name: "a released room's pending removal coming due: cancelled, not kicked",
			policy: func() Policy {
				p := protected(staffA)
				p.Released = []ReleasedRoom{{Room: roomB, Groups: []string{"old"}, RemoveAction: RemoveKick}}
				return p
			}(),
			obs: Observed{Groups: groups(group("staff"), group("old")), Rooms: map[id.RoomID]RoomObservation{
				roomA: roomWith(nil), roomB: roomWith(map[id.UserID]RoomMember{opsAnna: joined(earlier)}),
			}},
			state: stateWith([]ManagedMember{{Room: roomB, User: opsAnna}}, []PendingRemoval{due(roomB, opsAnna)}),
			want:  []Action{CancelRemoval{Room: roomB, User: opsAnna, Reason: "protected (protected_users)"}},
			warnings: []Warning{
				{Room: roomB, User: opsAnna, Message: "protected (protected_users): not removed"},
			},
		},
		{
			name:   "a power level the bot gave, out of the group: no demotion scheduled",
			policy: protected(modsA),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: map[id.RoomID]RoomObservation{roomA: plRoom(map[id.UserID]int{root: 50})}},
			state:  grantsOf(PowerGrant{Room: roomA, User: root, Level: 50, GrantedAt: earlier}),
			want:   []Action{NewTrackMember(ManagedMember{Room: roomA, User: root}, "no longer in Authentik group moderators")},
			warnings: []Warning{
				{Room: roomA, User: root, Message: "protected (protected_users): not removed"},
				{Room: roomA, User: root, Message: "protected (protected_users): not demoted"},
			},
		},
		{
			name:   "a pending demotion coming due: cancelled, never lowered",
			policy: protected(modsA),
			obs:    Observed{Groups: groups(group("moderators")), Rooms: map[id.RoomID]RoomObservation{roomA: plRoom(map[id.UserID]int{opsAnna: 50})}},
			state: func() State {
				s := grantsOf(PowerGrant{Room: roomA, User: opsAnna, Level: 50, GrantedAt: earlier.Add(-grace), DemoteAt: earlier})
				s.Members.Set(ManagedMember{Room: roomA, User: opsAnna}) // out of the group since the demotion was scheduled
				return s
			}(),
			want: []Action{CancelDemotion{Room: roomA, User: opsAnna, Reason: "protected (protected_users)"}},
			warnings: []Warning{
				{Room: roomA, User: opsAnna, Message: "protected (protected_users): not removed"},
				{Room: roomA, User: opsAnna, Message: "protected (protected_users): not demoted"},
			},
		},
		{
			name:   "without the protection the same pending removal is a kick",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inRoom(opsAnna)},
			state:  stateWith([]ManagedMember{{Room: roomA, User: opsAnna}}, []PendingRemoval{due(roomA, opsAnna)}),
			want:   []Action{Kick{Room: roomA, User: opsAnna, Reason: "no longer in Authentik group staff"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.policy, tc.obs, tc.state, now)
			if !reflect.DeepEqual(got.Actions, tc.want) {
				t.Errorf("actions:\n got %#v\nwant %#v", got.Actions, tc.want)
			}
			if !reflect.DeepEqual(got.Warnings, tc.warnings) {
				t.Errorf("warnings:\n got %#v\nwant %#v", got.Warnings, tc.warnings)
			}
			for _, a := range got.Actions {
				if IsRemoval(a) && tc.policy.Protected.Protects(a.Target().User) {
					t.Errorf("a protected user is removed: %s", Describe(a))
				}
				if sp, ok := a.(SetPowerLevels); ok {
					for _, c := range sp.Changes {
						if !c.Promote && tc.policy.Protected.Protects(c.User) {
							t.Errorf("a protected user is demoted: %s", Describe(a))
						}
					}
				}
			}
		})
	}
}

// TestProtectedUserStaysOverManyCycles runs the plan cycle after cycle, applying its bookkeeping
// as the store would, past the grace period: the protected user is never removed.
func TestProtectedUserStaysOverManyCycles(t *testing.T) {
	root := id.UserID("@root:hs")
	p := policy(Mapping{Group: "staff", Room: roomA, Method: MethodInvite})
	p.GracePeriod = 0
	p.Protected = protecting([]id.UserID{root})
	obs := Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{root: joined(earlier)})}}
	state := stateWith([]ManagedMember{tracked(roomA, root, earlier)}, nil)
	at := now
	for cycle := range 5 {
		planned := MakePlan(p, obs, state, at)
		for _, a := range planned.Actions {
			switch a := a.(type) {
			case TrackMember:
				state.Members.Set(a.Member())
			case ScheduleRemoval:
				state.Pending[a.Target()] = PendingRemoval{Room: a.Room, User: a.User, DueAt: a.DueAt, Reason: a.Reason}
			case CancelRemoval:
				delete(state.Pending, a.Target())
			default:
				t.Fatalf("cycle %d: unexpected action %s", cycle, Describe(a))
			}
		}
		if len(planned.Warnings) != 1 || planned.Warnings[0].User != root {
			t.Errorf("cycle %d: warnings %v, want the protected line", cycle, planned.Warnings)
		}
		at = at.Add(time.Minute)
	}
}

func TestWarningString(t *testing.T) {
	tests := []struct {
		w    Warning
		want string
	}{
		{Warning{Room: "!r:hs", User: "@a:hs", Message: "m"}, "@a:hs in !r:hs: m"},
		{Warning{User: "@a:hs", Message: "protected (protected_users): not locked"}, "@a:hs: protected (protected_users): not locked"},
		{Warning{Room: "!r:hs", Message: "m"}, "!r:hs: m"},
		{Warning{Message: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.w.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.w, got, tt.want)
		}
	}
}
