package plan

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func TestMakePlan(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []string // substrings, one per warning
	}{
		{
			name:   "a new group member is tracked and invited",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)}},
			state:  NewState(),
			want: []Action{
				NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"),
				Invite{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:   "a cycle with no changes plans nothing",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice, bob)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: joined(earlier), bob: {Membership: MembershipInvite, Sender: bot, Since: earlier},
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want:  nil,
		},
		{
			name:   "a force mapping joins, and joins an already invited user",
			policy: policy(Mapping{Group: "staff", Room: roomA, Method: MethodForce}),
			obs: Observed{Groups: groups(group("staff", alice, bob)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				bob: {Membership: MembershipInvite, Sender: bot, Since: earlier},
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				ForceJoin{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
				ForceJoin{Room: roomA, User: bob, AlreadyInvited: true, Reason: "member of Authentik group staff"},
			},
		},
		{
			name: "two groups into one room: union, force wins over invite, reason names both",
			policy: policy(staffA, Mapping{Group: "admins", Room: roomA, Method: MethodForce},
				Mapping{Group: "admins", Room: roomB, Method: MethodInvite}),
			obs: Observed{Groups: groups(group("staff", alice, bob), group("admins", bob)), Rooms: map[id.RoomID]RoomObservation{
				roomA: roomWith(nil), roomB: roomWith(nil),
			}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier), tracked(roomB, bob, earlier)}, nil),
			want: []Action{
				Invite{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
				ForceJoin{Room: roomA, User: bob, Reason: "member of Authentik group admins, staff"},
				Invite{Room: roomB, User: bob, Reason: "member of Authentik group admins"},
			},
		},
		{
			name:   "a user who declined the invite is not invited again",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipLeave, Sender: alice, Since: now.Add(-time.Minute)},
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:  nil,
		},
		{
			name:   "a user who left before re-entering the group is invited again",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipLeave, Sender: alice, Since: earlier},
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}}, nil), // out of the group until now
			want: []Action{
				NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"),
				Invite{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:   "a force mapping with rejoin joins back a user who left",
			policy: policy(Mapping{Group: "staff", Room: roomA, Method: MethodForce, Rejoin: true}),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipLeave, Sender: alice, Since: now.Add(-time.Minute)},
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:  []Action{ForceJoin{Room: roomA, User: alice, Reason: "member of Authentik group staff"}},
		},
		{
			name:   "a force mapping without rejoin leaves a user who left alone",
			policy: policy(Mapping{Group: "staff", Room: roomA, Method: MethodForce}),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipLeave, Sender: alice, Since: now.Add(-time.Minute)},
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:  nil,
		},
		{
			name:   "a user banned by the bot and back in the group is unbanned, then invited",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipBan, Sender: bot, Since: earlier},
			})}},
			state: NewState(),
			want: []Action{
				NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"),
				Unban{Room: roomA, User: alice, Reason: "back in Authentik group staff"},
				Invite{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:   "a user banned by a moderator is left banned, with a warning",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipBan, Sender: carol, Since: earlier},
			})}},
			state:    stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:     nil,
			warnings: []string{"banned by @carol:hs"},
		},
		{
			name:   "a user who left the group gets a pending removal due after the grace period",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: joined(earlier),
			})}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want: []Action{
				NewTrackMember(ManagedMember{Room: roomA, User: alice}, "no longer in Authentik group staff"),
				ScheduleRemoval{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a pending removal not yet due waits",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: joined(earlier),
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: later, Reason: "no longer in Authentik group staff"}}),
			want: nil,
		},
		{
			name:   "a due removal kicks with the stored reason",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: joined(earlier),
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: now, Reason: "no longer in Authentik group staff"}}),
			want: []Action{Kick{Room: roomA, User: alice, Reason: "no longer in Authentik group staff"}},
		},
		{
			name:   "a due removal bans when the policy says ban, and revokes an invite too",
			policy: Policy{Mappings: []Mapping{staffA}, GracePeriod: grace, RemoveAction: RemoveBan, Bot: bot},
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipInvite, Sender: bot, Since: earlier},
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "gone"}}),
			want: []Action{Ban{Room: roomA, User: alice, Reason: "gone"}},
		},
		{
			name:   "back in the group before the deadline cancels the removal",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: joined(earlier),
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: later, Reason: "x"}}),
			want: []Action{
				NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"),
				CancelRemoval{Room: roomA, User: alice, Reason: "back in Authentik group staff"},
			},
		},
		{
			name:   "a user the bot does not manage is never removed",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				carol: joined(earlier),
			})}},
			state: NewState(),
			want:  nil,
		},
		{
			name:   "a managed user who already left is forgotten, pending removal and all",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{
				alice: {Membership: MembershipLeave, Sender: alice, Since: earlier},
			})}},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "x"}}),
			want: []Action{ForgetMember{Room: roomA, User: alice, Reason: "no longer in the room nor in its groups"}},
		},
		{
			name:   "an unknown group plans no removal, but known groups still add",
			policy: policy(staffA, Mapping{Group: "admins", Room: roomA, Method: MethodInvite}),
			obs: Observed{
				Groups: map[string]GroupMembers{"staff": group("staff", bob), "admins": {Group: "admins", Err: errors.New("page 2: 500")}},
				Rooms:  map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})},
			},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}, tracked(roomA, bob, earlier)},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "x"}}),
			// alice's absence is not confirmed this cycle: her grace period counts again from now.
			want: []Action{
				RestartGrace{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: "x"},
				Invite{Room: roomA, User: bob, Reason: "member of Authentik group staff"},
			},
			warnings: []string{"admins unknown this cycle: no removals"},
		},
		{
			name:   "an unknown group restarts no grace of a user found in a group, nor of a lifecycle removal, nor one already awaiting a read",
			policy: policy(staffA, Mapping{Group: "admins", Room: roomA, Method: MethodInvite}),
			obs: Observed{
				Groups: map[string]GroupMembers{"staff": group("staff", bob), "admins": {Group: "admins", Err: errors.New("timeout")}},
				Rooms:  map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier), carol: joined(earlier), dave: joined(earlier)})},
			},
			state: stateWith([]ManagedMember{tracked(roomA, bob, earlier), {Room: roomA, User: alice}, {Room: roomA, User: carol}, {Room: roomA, User: dave}},
				[]PendingRemoval{
					{Room: roomA, User: bob, DueAt: earlier, Reason: "x"},
					{Room: roomA, User: alice, DueAt: earlier, Reason: ReasonDeactivated},
					{Room: roomA, User: carol, DueAt: earlier, Reason: "x", AwaitingRead: true},
					{Room: roomA, User: dave, DueAt: now.Add(time.Minute), Reason: "x"},
				}),
			want: []Action{
				CancelRemoval{Room: roomA, User: bob, Reason: "back in Authentik group staff"},
				RestartGrace{Room: roomA, User: dave, DueAt: now.Add(grace), Reason: "x"},
			},
			warnings: []string{"admins unknown this cycle: no removals"},
		},
		{
			name:   "the first complete read after an unknown group starts the grace period over",
			policy: policy(staffA),
			obs: Observed{
				Groups: map[string]GroupMembers{"staff": group("staff")},
				Rooms:  map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})},
			},
			state: stateWith([]ManagedMember{{Room: roomA, User: alice}},
				[]PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "x", AwaitingRead: true}}),
			want: []Action{ScheduleRemoval{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: "x"}},
		},
		{
			name:   "a partly read group adds the members it has but removes nobody",
			policy: policy(staffA),
			obs: Observed{
				Groups: map[string]GroupMembers{"staff": {Group: "staff", Members: group("staff", bob).Members, Err: errors.New("1 member has no valid Matrix ID")}},
				Rooms:  map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})},
			},
			state:    stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want:     []Action{Invite{Room: roomA, User: bob, Reason: "member of Authentik group staff"}},
			warnings: []string{"staff unknown this cycle"},
		},
		{
			name:     "a group missing from the observation counts as unknown",
			policy:   policy(staffA),
			obs:      Observed{Groups: map[string]GroupMembers{}, Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})}},
			state:    stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:     nil,
			warnings: []string{"staff unknown this cycle"},
		},
		{
			name:     "an unreadable room is skipped entirely",
			policy:   policy(staffA),
			obs:      Observed{Groups: groups(group("staff", bob)), Rooms: map[id.RoomID]RoomObservation{roomA: {Err: errors.New("bot is not joined")}}},
			state:    stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: earlier}}),
			want:     nil,
			warnings: []string{"bot is not joined"},
		},
		{
			name:   "an unreadable room whose groups are unknown too: its pending removals still wait for a complete read",
			policy: policy(staffA),
			obs: Observed{Groups: map[string]GroupMembers{"staff": {Group: "staff", Err: errors.New("HTTP 500")}},
				Rooms: map[id.RoomID]RoomObservation{roomA: {Err: errors.New("HTTP 502")}}},
			state:    stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: later, Reason: "r"}}),
			want:     []Action{RestartGrace{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: "r"}},
			warnings: []string{"HTTP 502"},
		},
		{
			name:   "the bot never removes itself",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", bot)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)}},
			state:  NewState(),
			want:   nil,
		},
		{
			name:   "a user the bot cannot outrank is not removed, with a warning",
			policy: policy(staffA),
			obs: func() Observed {
				ro := roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})
				ro.State.PowerLevels.Users[alice] = 100
				return Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: ro}}
			}(),
			state:    stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: earlier}}),
			want:     nil,
			warnings: []string{"power level 100 is not below the bot's 100"},
		},
		{
			name:   "a room creator with unlimited power is never removed",
			policy: policy(staffA),
			obs: func() Observed {
				ro := roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})
				ro.State.PowerLevels.Creators = map[id.UserID]bool{alice: true}
				return Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: ro}}
			}(),
			state:    stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: earlier}}),
			want:     nil,
			warnings: []string{"not removed"},
		},
		{
			name:   "a bot below the kick level does not kick",
			policy: policy(staffA),
			obs: func() Observed {
				ro := roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})
				ro.State.PowerLevels.Users[bot] = 10
				return Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: ro}}
			}(),
			state:    stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: earlier}}),
			want:     nil,
			warnings: []string{"below the kick level 50"},
		},
		{
			name:   "a bot below the invite level does not invite",
			policy: policy(staffA),
			obs: func() Observed {
				ro := roomWith(nil)
				ro.State.PowerLevels.Invite = 101
				return Observed{Groups: groups(group("staff", alice)), Rooms: map[id.RoomID]RoomObservation{roomA: ro}}
			}(),
			state:    stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:     nil,
			warnings: []string{"below the invite level 101"},
		},
		{
			name:   "a room whose mapping was removed from the config is left alone",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)}},
			state:  stateWith([]ManagedMember{{Room: roomB, User: alice}}, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier}}),
			want:   nil,
		},
		{
			name:   "actions come state first, then additions, then removals",
			policy: policy(staffA, Mapping{Group: "admins", Room: roomB, Method: MethodInvite}),
			obs: Observed{Groups: groups(group("staff", bob), group("admins")), Rooms: map[id.RoomID]RoomObservation{
				roomA: roomWith(nil), roomB: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)}),
			}},
			state: stateWith([]ManagedMember{{Room: roomB, User: alice}}, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want: []Action{
				NewTrackMember(tracked(roomA, bob, now), "in Authentik group staff"),
				Invite{Room: roomA, User: bob, Reason: "member of Authentik group staff"},
				Kick{Room: roomB, User: alice, Reason: "r"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MakePlan(tt.policy, tt.obs, tt.state, now)
			if !reflect.DeepEqual(got.Actions, tt.want) {
				t.Errorf("actions:\n got %s\nwant %s", render(got.Actions), render(tt.want))
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings: got %v, want %d matching %q", got.Warnings, len(tt.warnings), tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(got.Warnings[i].String(), w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got.Warnings[i], w)
				}
			}
		})
	}
}

func render(as []Action) string {
	var b strings.Builder
	for _, a := range as {
		b.WriteString("\n  ")
		b.WriteString(Describe(a))
	}
	return b.String()
}

// TestMakePlanOverrides covers per-mapping remove_action, grace_period and remove: false, and the
// rule for a room several mappings share: the longest grace, kick over ban, remove: false wins.
func TestMakePlanOverrides(t *testing.T) {
	hours := func(h int) *time.Duration { d := time.Duration(h) * time.Hour; return &d }
	with := func(m Mapping, o MappingOverrides) Mapping { m.MappingOverrides = o; return m }
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	adminsA := Mapping{Group: "admins", Room: roomA, Method: MethodInvite}
	gone := Observed{Groups: groups(group("staff"), group("admins")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier)})}}
	leftGroup := stateWith([]ManagedMember{{Room: roomA, User: alice}}, nil)
	due := stateWith([]ManagedMember{{Room: roomA, User: alice}}, []PendingRemoval{{Room: roomA, User: alice, DueAt: earlier, Reason: "r"}})
	const reason2 = "no longer in any of the Authentik groups admins, staff"
	tests := []struct {
		name     string
		policy   Policy
		state    State
		want     []Action
		warnings []string
	}{
		{
			name:   "a mapping's grace period replaces the global one",
			policy: policy(with(staffA, MappingOverrides{GracePeriod: hours(72)})),
			state:  leftGroup,
			want:   []Action{ScheduleRemoval{Room: roomA, User: alice, DueAt: now.Add(72 * time.Hour), Reason: "no longer in Authentik group staff"}},
		},
		{
			name:   "a zero grace period override is kept, not taken as unset",
			policy: policy(with(staffA, MappingOverrides{GracePeriod: hours(0)})),
			state:  leftGroup,
			want:   []Action{ScheduleRemoval{Room: roomA, User: alice, DueAt: now, Reason: "no longer in Authentik group staff"}},
		},
		{
			name:   "a mapping's remove action replaces the global one",
			policy: policy(with(staffA, MappingOverrides{RemoveAction: RemoveBan})),
			state:  due,
			want:   []Action{Ban{Room: roomA, User: alice, Reason: "r"}},
		},
		{
			name:   "two mappings of one room: the longest grace period wins",
			policy: policy(with(staffA, MappingOverrides{GracePeriod: hours(1)}), with(adminsA, MappingOverrides{GracePeriod: hours(48)})),
			state:  leftGroup,
			want:   []Action{ScheduleRemoval{Room: roomA, User: alice, DueAt: now.Add(48 * time.Hour), Reason: reason2}},
		},
		{
			name:   "an unset grace period counts as the global one when comparing",
			policy: policy(with(staffA, MappingOverrides{GracePeriod: hours(1)}), adminsA),
			state:  leftGroup,
			want:   []Action{ScheduleRemoval{Room: roomA, User: alice, DueAt: now.Add(grace), Reason: reason2}},
		},
		{
			name:   "two mappings of one room: kick wins over ban",
			policy: policy(with(staffA, MappingOverrides{RemoveAction: RemoveBan}), with(adminsA, MappingOverrides{RemoveAction: RemoveKick})),
			state:  due,
			want:   []Action{Kick{Room: roomA, User: alice, Reason: "r"}},
		},
		{
			name:   "ban everywhere bans",
			policy: Policy{Mappings: []Mapping{with(staffA, MappingOverrides{RemoveAction: RemoveBan}), adminsA}, GracePeriod: grace, RemoveAction: RemoveBan, Bot: bot},
			state:  due,
			want:   []Action{Ban{Room: roomA, User: alice, Reason: "r"}},
		},
		{
			name:   "an invite-only mapping schedules no removal",
			policy: policy(with(staffA, MappingOverrides{NoRemove: true})),
			state:  leftGroup,
			want:   nil,
		},
		{
			name:   "one invite-only mapping keeps everybody in a shared room and cancels what was pending",
			policy: policy(with(staffA, MappingOverrides{RemoveAction: RemoveBan, GracePeriod: hours(0)}), with(adminsA, MappingOverrides{NoRemove: true})),
			state:  due,
			want:   []Action{CancelRemoval{Room: roomA, User: alice, Reason: "the mapping of Authentik group admins never removes (remove: false)"}},
		},
		{
			name:   "an invite-only mapping still adds",
			policy: policy(with(staffA, MappingOverrides{NoRemove: true})),
			state:  NewState(),
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := gone
			if tt.name == "an invite-only mapping still adds" {
				obs = Observed{Groups: groups(group("staff", bob)), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)}}
				tt.want = []Action{
					NewTrackMember(tracked(roomA, bob, now), "in Authentik group staff"),
					Invite{Room: roomA, User: bob, Reason: "member of Authentik group staff"},
				}
			}
			got := MakePlan(tt.policy, obs, tt.state, now)
			if !reflect.DeepEqual(got.Actions, tt.want) {
				t.Errorf("actions:\n got %s\nwant %s", render(got.Actions), render(tt.want))
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Errorf("warnings: got %v, want %q", got.Warnings, tt.warnings)
			}
		})
	}
}

// TestMakePlanReleasedRooms covers rooms no mapping covers any more (a child that left its space,
// a mapping removed from the configuration): nothing new is scheduled, what was pending runs at
// its deadline unless the user is back in the group, and the rest is forgotten.
func TestMakePlanReleasedRooms(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	rel := func(groups ...string) Policy {
		p := policy(staffA)
		p.Released = []ReleasedRoom{{Room: roomB, Groups: groups, RemoveAction: RemoveKick}}
		return p
	}
	inB := map[id.RoomID]RoomObservation{roomA: roomWith(nil), roomB: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier)})}
	const released = "room released: no mapping covers it any more"
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []string
	}{
		{
			name:   "members without a pending removal are forgotten, never removed nor invited",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff", bob)), Rooms: inB},
			state:  stateWith([]ManagedMember{{Room: roomB, User: alice}, tracked(roomB, bob, earlier)}, nil),
			want: []Action{
				NewTrackMember(tracked(roomA, bob, now), "in Authentik group staff"),
				ForgetMember{Room: roomB, User: alice, Reason: released},
				ForgetMember{Room: roomB, User: bob, Reason: released},
				Invite{Room: roomA, User: bob, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:   "a removal pending when the room left runs at its deadline",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inB},
			state:  stateWith([]ManagedMember{{Room: roomB, User: alice}}, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:   []Action{Kick{Room: roomB, User: alice, Reason: "r"}},
		},
		{
			name:   "the released room's own remove action is used",
			policy: func() Policy { p := rel("staff"); p.Released[0].RemoveAction = RemoveBan; return p }(),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inB},
			state:  stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:   []Action{Ban{Room: roomB, User: alice, Reason: "r"}},
		},
		{
			name:   "a pending removal waits for its deadline",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inB},
			state:  stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: later, Reason: "r"}}),
			want:   nil,
		},
		{
			name:   "back in the group: the pending removal and the record are dropped",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: inB},
			state:  stateWith([]ManagedMember{{Room: roomB, User: alice}}, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want: []Action{
				NewTrackMember(tracked(roomA, alice, now), "in Authentik group staff"),
				ForgetMember{Room: roomB, User: alice, Reason: "back in Authentik group staff; " + released},
				Invite{Room: roomA, User: alice, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:     "the group unreadable: the due removal waits, and its grace period starts over at the next complete read",
			policy:   rel("staff"),
			obs:      Observed{Groups: map[string]GroupMembers{"staff": {Group: "staff", Err: errors.New("down")}}, Rooms: inB},
			state:    stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:     []Action{RestartGrace{Room: roomB, User: alice, DueAt: now.Add(grace), Reason: "r"}},
			warnings: []string{"membership of Authentik group(s) staff unknown this cycle: no removals", "pending removal not run: membership"},
		},
		{
			name:   "awaiting a complete read, the group read again and the user still out: a full grace period from now",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inB},
			state:  stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r", AwaitingRead: true}}),
			want:   []Action{ScheduleRemoval{Room: roomB, User: alice, DueAt: now.Add(grace), Reason: "r"}},
		},
		{
			name:     "groups unknown (released before they were recorded): kept, never run",
			policy:   rel(),
			obs:      Observed{Groups: groups(group("staff")), Rooms: inB},
			state:    stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:     nil,
			warnings: []string{"groups are unknown"},
		},
		{
			name:   "an exempted user's pending removal is cancelled, even with the groups unknown",
			policy: rel(),
			obs:    Observed{Groups: groups(group("staff")), Rooms: inB},
			state: func() State {
				s := stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}})
				s.Exempt[RoomUser{"", alice}] = Exemption{User: alice}
				return s
			}(),
			want: []Action{CancelRemoval{Room: roomB, User: alice, Reason: "exempted by an admin"}},
		},
		{
			name:   "the user already left the released room: forgotten",
			policy: rel("staff"),
			obs:    Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil), roomB: roomWith(nil)}},
			state:  stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:   []Action{ForgetMember{Room: roomB, User: alice, Reason: "no longer in the room; " + released}},
		},
		{
			name:     "the released room unreadable: nothing removed",
			policy:   rel("staff"),
			obs:      Observed{Groups: groups(group("staff")), Rooms: map[id.RoomID]RoomObservation{roomA: roomWith(nil)}},
			state:    stateWith(nil, []PendingRemoval{{Room: roomB, User: alice, DueAt: earlier, Reason: "r"}}),
			want:     nil,
			warnings: []string{"state is unreadable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MakePlan(tt.policy, tt.obs, tt.state, now)
			if !reflect.DeepEqual(got.Actions, tt.want) {
				t.Errorf("actions:\n got %s\nwant %s", render(got.Actions), render(tt.want))
			}
			if len(got.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings: got %v, want %d matching %q", got.Warnings, len(tt.warnings), tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(got.Warnings[i].String(), w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, got.Warnings[i], w)
				}
			}
		})
	}
}
