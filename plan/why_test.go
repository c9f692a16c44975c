package plan

import (
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestExplain plans as a cycle would, then asks Explain about one user in one room: each case
// compares the whole verdict with its chain of reasons.
func TestExplain(t *testing.T) {
	space := id.RoomID("!space:hs")
	child := id.RoomID("!child:hs")
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	modsA := Mapping{Group: "moderators", Room: roomA, Method: MethodInvite, PowerLevel: 50}
	engineering := Mapping{Group: "engineering", Room: space, Method: MethodForce, SpaceOptions: SpaceOptions{IncludeChildren: true}}
	in := func(users ...id.UserID) RoomObservation {
		m := map[id.UserID]RoomMember{}
		for _, u := range users {
			m[u] = joined(earlier)
		}
		return roomWith(m)
	}
	due := later.Add(5 * time.Hour)
	tests := []struct {
		name   string
		policy Policy
		obs    Observed
		state  State
		room   id.RoomID
		user   id.UserID
		want   RoomWhy
	}{
		{
			name:   "a direct member who is joined",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: in(alice)}},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			room:   roomA, user: alice,
			want: RoomWhy{Room: roomA, Verdict: VerdictMember, Membership: MembershipJoin, Groups: []GroupWhy{{Group: "staff"}}},
		},
		{
			name: "a member through a subgroup, in a space's child room",
			policy: func() Policy {
				p := policy(engineering)
				p.Mappings = ExpandSpaces(p.Mappings, map[id.RoomID][]id.RoomID{space: {child}})
				return p
			}(),
			obs: Observed{Groups: func() map[string]GroupMembers {
				g := group("engineering", alice, bob)
				g.Via.Set(1, "backend") // bob
				return groups(g)
			}(), Rooms: map[id.RoomID]RoomObservation{space: in(bob), child: in()}},
			state: stateWith([]ManagedMember{tracked(space, bob, earlier), tracked(child, bob, earlier)}, nil),
			room:  child, user: bob,
			want: RoomWhy{Room: child, Space: space, Verdict: VerdictWillJoin, Groups: []GroupWhy{{Group: "engineering", Via: "backend"}},
				Reasons: []string{"next cycle: force_join: member of Authentik group engineering"}},
		},
		{
			name:   "a pending removal with its deadline",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: in(carol)}},
			state: stateWith([]ManagedMember{{Room: roomA, User: carol}},
				[]PendingRemoval{{Room: roomA, User: carol, DueAt: due, Reason: "no longer in Authentik group staff", CreatedAt: earlier}}),
			room: roomA, user: carol,
			want: RoomWhy{Room: roomA, Verdict: VerdictPendingRemoval, At: due, Membership: MembershipJoin, Reasons: []string{
				"in none of the room's Authentik groups (staff)",
				"managed: the bot saw them in the room's groups before, so it removes them once they are out",
				"pending removal due 2026-11-26 18:00 UTC: no longer in Authentik group staff",
			}},
		},
		{
			name:   "a user who has just left the group: the grace period starts",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: in(carol)}},
			state:  stateWith([]ManagedMember{tracked(roomA, carol, earlier)}, nil),
			room:   roomA, user: carol,
			want: RoomWhy{Room: roomA, Verdict: VerdictWillRemove, At: now.Add(grace), Membership: MembershipJoin, Reasons: []string{
				"in none of the room's Authentik groups (staff)",
				"managed: the bot saw them in the room's groups before, so it removes them once they are out",
				"next cycle: schedule_removal: no longer in Authentik group staff",
			}},
		},
		{
			name:   "an exempt user out of the group",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: in(bob)}},
			state: func() State {
				s := stateWith([]ManagedMember{{Room: roomA, User: bob}}, nil)
				s.Exempt[RoomUser{Room: "", User: bob}] = Exemption{User: bob, By: "@ops:hs", Reason: "exempt"}
				return s
			}(),
			room: roomA, user: bob,
			want: RoomWhy{Room: roomA, Verdict: VerdictExempt, Membership: MembershipJoin, Reasons: []string{
				"in none of the room's Authentik groups (staff)",
				"managed: the bot saw them in the room's groups before, so it removes them once they are out",
				"exempt in every room (exempt by @ops:hs)",
			}},
		},
		{
			name: "a protected user out of the group",
			policy: func() Policy {
				p := policy(staffA)
				p.Protected = protecting([]id.UserID{bob})
				return p
			}(),
			obs:   Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: in(bob)}},
			state: stateWith([]ManagedMember{{Room: roomA, User: bob}}, nil),
			room:  roomA, user: bob,
			want: RoomWhy{Room: roomA, Verdict: VerdictProtected, Membership: MembershipJoin, Reasons: []string{
				"in none of the room's Authentik groups (staff)",
				"managed: the bot saw them in the room's groups before, so it removes them once they are out",
				"protected (protected_users): never removed, banned, demoted or locked",
				"warning: protected (protected_users): not removed",
			}},
		},
		{
			name:   "a power level the group's mapping grants",
			policy: policy(staffA, modsA),
			obs:    Observed{Groups: groups(group("staff", alice), group("moderators", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: plRoom(nil, alice)}},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			room:   roomA, user: alice,
			want: RoomWhy{Room: roomA, Verdict: VerdictMember, Membership: MembershipJoin,
				Groups: []GroupWhy{{Group: "moderators", PowerLevel: 50}, {Group: "staff"}}, Reasons: []string{
					"power level 50 from the mapping of Authentik group moderators; has 0",
					"next cycle: power level 0 → 50",
				}},
		},
		{
			name:   "a pending demotion of a level the bot set",
			policy: policy(staffA, modsA),
			obs:    Observed{Groups: groups(group("staff", alice), group("moderators")), Rooms: map[id.RoomID]RoomObservation{roomA: plRoom(map[id.UserID]int{alice: 50})}},
			state: func() State {
				s := grantsOf(PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: earlier, DemoteAt: due})
				return s
			}(),
			room: roomA, user: alice,
			want: RoomWhy{Room: roomA, Verdict: VerdictMember, Membership: MembershipJoin, Groups: []GroupWhy{{Group: "staff"}}, Reasons: []string{
				"power level 50 set by the bot at 2026-11-26 11:00 UTC; back to the room default due 2026-11-26 18:00 UTC (out of every group that gives it)",
			}},
		},
		{
			name:   "a user in no group and not in the room",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: in(alice)}},
			state:  NewState(),
			room:   roomA, user: carol,
			want: RoomWhy{Room: roomA, Verdict: VerdictNotMember, Reasons: []string{"in none of the room's Authentik groups (staff)"}},
		},
		{
			name:   "a user in the room on their own, never in its groups",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: in(carol)}},
			state:  NewState(),
			room:   roomA, user: carol,
			want: RoomWhy{Room: roomA, Verdict: VerdictNotManaged, Membership: MembershipJoin, Reasons: []string{
				"in none of the room's Authentik groups (staff)",
				"never seen in the room's groups: in the room on their own, the bot never removes them",
			}},
		},
		{
			name:   "a new member is invited",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: in()}},
			state:  NewState(),
			room:   roomA, user: alice,
			want: RoomWhy{Room: roomA, Verdict: VerdictWillInvite, Groups: []GroupWhy{{Group: "staff"}},
				Reasons: []string{"next cycle: invite: member of Authentik group staff"}},
		},
		{
			name:   "an unreadable room decides nothing",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: {Err: errString("HTTP 500")}}},
			state:  NewState(),
			room:   roomA, user: alice,
			want: RoomWhy{Room: roomA, Verdict: VerdictUnknown, Groups: []GroupWhy{{Group: "staff"}},
				Reasons: []string{"warning: room state unreadable, nothing done in this room this cycle: HTTP 500"}},
		},
		{
			name:   "a room no mapping covers",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: in(alice)}},
			state:  NewState(),
			room:   roomB, user: alice,
			want: RoomWhy{Room: roomB, Verdict: VerdictNotMapped,
				Reasons: []string{"no mapping covers this room (nor a space mapping with include_children): the bot never changes it"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			planned := MakePlan(tc.policy, tc.obs, tc.state, now)
			why := Explain(WhyInput{Policy: tc.policy, Observed: tc.obs, State: tc.state, Plan: planned, User: tc.user, Room: tc.room, Now: now})
			if len(why.Rooms) != 1 {
				t.Fatalf("%d rooms explained, want 1: %+v", len(why.Rooms), why.Rooms)
			}
			if got := why.Rooms[0]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n %#v\nwant\n %#v", got, tc.want)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestExplainEveryRoom: without a room, every mapped room (space children included) is
// explained, and the newest audit entry about the user is the last action.
func TestExplainEveryRoom(t *testing.T) {
	space := id.RoomID("!space:hs")
	child := id.RoomID("!child:hs")
	p := policy(Mapping{Group: "staff", Room: roomA, Method: MethodInvite},
		Mapping{Group: "engineering", Room: space, Method: MethodInvite, SpaceOptions: SpaceOptions{IncludeChildren: true}})
	p.Mappings = ExpandSpaces(p.Mappings, map[id.RoomID][]id.RoomID{space: {child}})
	p.Protected = protecting(nil, `@b.*:hs`)
	obs := Observed{Groups: groups(group("staff", bob), group("engineering")),
		Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil), space: roomWith(nil), child: roomWith(nil)}}
	state := NewState()
	state.Exempt[RoomUser{Room: roomA, User: bob}] = Exemption{User: bob, Room: roomA, By: "@ops:hs", Reason: "exempt"}
	audit := []AuditEntry{
		{At: later, Actor: "@ops:hs", Command: "exempt", Target: bob, Room: roomA, Result: "ok"},
		{At: earlier, Actor: "cycle 1", Command: "invite", Target: bob, Room: roomA, Result: "ok"},
	}
	why := Explain(WhyInput{Policy: p, Observed: obs, State: state, Plan: MakePlan(p, obs, state, now), User: bob, Now: now, Audit: audit})
	var rooms []id.RoomID
	for _, r := range why.Rooms {
		rooms = append(rooms, r.Room)
	}
	if want := []id.RoomID{roomA, child, space}; !reflect.DeepEqual(rooms, want) {
		t.Errorf("rooms %v, want %v", rooms, want)
	}
	if !why.Protected || len(why.Exemptions) != 1 || why.LastAction == nil || why.LastAction.Command != "exempt" {
		t.Errorf("protected %v, exemptions %v, last action %+v", why.Protected, why.Exemptions, why.LastAction)
	}
	if why.Rooms[0].Verdict != VerdictWillInvite || why.Rooms[1].Verdict != VerdictNotMember || why.Rooms[1].Space != space {
		t.Errorf("verdicts: %+v", why.Rooms)
	}
}

func TestHeadline(t *testing.T) {
	tests := []struct {
		r    RoomWhy
		want string
	}{
		{RoomWhy{Verdict: VerdictMember}, "member"},
		{RoomWhy{Verdict: VerdictWillRemove}, "will be removed by the next cycle"},
		{RoomWhy{Verdict: VerdictWillRemove, At: now.Add(grace)}, "will be removed at 2026-11-27 12:00 UTC (in 24h0m0s)"},
		{RoomWhy{Verdict: VerdictWillRemove, At: now}, "will be removed at 2026-11-26 12:00 UTC"},
		{RoomWhy{Verdict: VerdictPendingRemoval, At: later}, "pending removal due 2026-11-26 13:00 UTC (in 1h0m0s)"},
		{RoomWhy{Verdict: VerdictPendingRemoval, At: earlier}, "pending removal due 2026-11-26 11:00 UTC (overdue)"},
	}
	for _, tc := range tests {
		if got := tc.r.Headline(now); got != tc.want {
			t.Errorf("Headline(%+v) = %q, want %q", tc.r, got, tc.want)
		}
	}
}

// TestExplainAccount: what the plan does to a user's account, which has no room, is shown in
// its own section.
func TestExplainAccount(t *testing.T) {
	p := policy(Mapping{Group: "staff", Room: roomA, Method: MethodInvite})
	p.Deactivated = DeactivationPolicy{AfterGrace: true, Logout: true, LockAfter: lockAfter(time.Hour)}
	p.Protected = protecting([]id.UserID{carol})
	obs := Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)},
		Accounts: inactive(bob, carol)}
	state := NewState()
	state.Accounts = map[id.UserID]AccountRecord{
		bob:   {User: bob, DeactivatedAt: earlier},
		carol: {User: carol, DeactivatedAt: earlier, LoggedOutAt: earlier},
	}
	planned := MakePlan(p, obs, state, now)
	explain := func(u id.UserID) Why {
		return Explain(WhyInput{Policy: p, Observed: obs, State: state, Plan: planned, User: u, Now: now})
	}
	bobWhy := explain(bob)
	want := []string{
		"seen deactivated in Authentik since " + WhyTime(earlier),
		"next cycle: logout: " + ReasonDeactivated + "; every session ends (deactivated.logout)",
		"next cycle: lock_account: " + ReasonDeactivated + " since " + earlier.UTC().Format(time.RFC3339) + " (deactivated.lock_after 1h0m0s)",
	}
	if !reflect.DeepEqual(bobWhy.Account, want) {
		t.Errorf("bob's account:\n got  %q\n want %q", bobWhy.Account, want)
	}
	if s := bobWhy.Summary(now); s.Account.Title == "" || !reflect.DeepEqual(s.Account.Lines, want) {
		t.Errorf("summary account block %+v", s.Account)
	}
	carolWhy := explain(carol)
	want = []string{
		"seen deactivated in Authentik since " + WhyTime(earlier),
		"every session ended by the bot at " + WhyTime(earlier),
		"warning: " + ProtectedReason + ": not locked",
	}
	if !reflect.DeepEqual(carolWhy.Account, want) {
		t.Errorf("carol's account:\n got  %q\n want %q", carolWhy.Account, want)
	}
	if a := explain(alice); len(a.Account) != 0 || len(a.Summary(now).Account.Lines) != 0 {
		t.Errorf("alice has nothing to say about her account: %q", a.Account)
	}
}
