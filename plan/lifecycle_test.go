package plan

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func withAccounts(s State, recs ...AccountRecord) State {
	s.Accounts = map[id.UserID]AccountRecord{}
	for _, r := range recs {
		s.Accounts[r.User] = r
	}
	return s
}

func withProfiles(s State, synced map[ProfileKey]string) State {
	s.Profiles = synced
	return s
}

func TestMakePlanLifecycle(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	staffB := Mapping{Group: "staff", Room: roomB, Method: MethodInvite}
	opsB := Mapping{Group: "ops", Room: roomB, Method: MethodInvite}
	bothRooms := map[id.RoomID]RoomObservation{
		roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier)}),
		roomB: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier)}),
	}
	// Bob was in staff (both rooms) until this cycle; alice still is.
	managed := stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier),
		tracked(roomB, alice, earlier), tracked(roomB, bob, earlier)}, nil)
	untracked := func(room id.RoomID) TrackMember {
		return NewTrackMember(ManagedMember{Room: room, User: bob}, "no longer in Authentik group staff")
	}
	two := policy(staffA, staffB)
	lifecyclePolicy := func(d DeactivationPolicy, ms ...Mapping) Policy {
		p := policy(ms...)
		p.Deactivated = d
		return p
	}
	protected := func(p Policy) Policy {
		p.Protected = &Protection{Patterns: []*regexp.Regexp{regexp.MustCompile(`^@bob:hs$`)}}
		return p
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
			name:   "a deactivated user is removed now from every managed room, due now first",
			policy: two,
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state:  managed,
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, DeactivatedAt: now}, Reason: ReasonDeactivated},
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now, Reason: ReasonDeactivated},
				untracked(roomB),
				ScheduleRemoval{Room: roomB, User: bob, DueAt: now, Reason: ReasonDeactivated},
				Kick{Room: roomA, User: bob, Reason: ReasonDeactivated},
				Kick{Room: roomB, User: bob, Reason: ReasonDeactivated},
			},
		},
		{
			name:   "a removal pending with the group reason is brought forward when the user is deactivated",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), {Room: roomA, User: bob}},
				[]PendingRemoval{{Room: roomA, User: bob, DueAt: later, Reason: "no longer in Authentik group staff", CreatedAt: earlier}}),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, DeactivatedAt: now}, Reason: ReasonDeactivated},
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now, Reason: ReasonDeactivated},
				Kick{Room: roomA, User: bob, Reason: ReasonDeactivated},
			},
		},
		{
			name:   "a lifecycle removal already due is not rescheduled (a held kick is retried as it is)",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), {Room: roomA, User: bob}},
				[]PendingRemoval{{Room: roomA, User: bob, DueAt: earlier, Reason: ReasonDeactivated, CreatedAt: earlier}}),
				AccountRecord{User: bob, DeactivatedAt: earlier}),
			want: []Action{Kick{Room: roomA, User: bob, Reason: ReasonDeactivated}},
		},
		{
			name:   "with remove after_grace a deactivated user takes the grace period",
			policy: lifecyclePolicy(DeactivationPolicy{AfterGrace: true}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "with remove after_grace and logout the deactivation is still recorded and the sessions end",
			policy: lifecyclePolicy(DeactivationPolicy{AfterGrace: true, Logout: true}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, DeactivatedAt: now}, Reason: ReasonDeactivated},
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
				EndSessions{User: bob, Reason: ReasonDeactivated + "; every session ends (deactivated.logout)"},
			},
		},
		{
			name:   "when the listing of inactive users failed nobody is removed at once",
			policy: two,
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{ListErr: errors.New("HTTP 500")}},
			state: managed,
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
				untracked(roomB),
				ScheduleRemoval{Room: roomB, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a user listed inactive but active in another group stays where that group wants them",
			policy: policy(staffA, opsB),
			obs:    Observed{Groups: groups(group("staff", alice), group("ops", alice, bob)), Rooms: bothRooms, Accounts: inactive(bob)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier), tracked(roomB, alice, earlier), tracked(roomB, bob, earlier)}, nil),
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a deactivated user is not removed from a room one of whose groups is unreadable (the safety rule)",
			policy: policy(staffA, Mapping{Group: "ops", Room: roomA}),
			obs: Observed{Groups: map[string]GroupMembers{"staff": group("staff", alice), "ops": {Group: "ops", Err: errors.New("HTTP 500")}},
				Rooms: bothRooms, Accounts: inactive(bob)},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, DeactivatedAt: now}, Reason: ReasonDeactivated},
			},
			warnings: []string{"ops unknown this cycle"},
		},
		{
			name:   "a user only listed inactive, without a lookup that confirms it, takes the grace period",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{Listed: map[id.UserID]DirectoryAccount{bob: {SourceID: "7", Username: "bob"}}}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a deleted user (the lookup of the user answered: no such user) is removed now",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{Confirmed: map[id.UserID]AccountStatus{bob: AccountGone}, SourceIDs: map[id.UserID]DirectoryAccount{bob: {SourceID: "7"}}}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, SourceID: "7", DeactivatedAt: now, Deleted: true}, Reason: ReasonDeleted},
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now, Reason: ReasonDeleted},
				Kick{Room: roomA, User: bob, Reason: ReasonDeleted},
			},
		},
		{
			name:   "a user who only left the group (looked up active) takes the grace period",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{Confirmed: map[id.UserID]AccountStatus{bob: AccountActive}}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "when the lookup failed a possibly deleted user takes the grace period",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{Confirmed: map[id.UserID]AccountStatus{bob: AccountUnknown}, LookupErr: errors.New("HTTP 502")}},
			state: stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				untracked(roomA),
				ScheduleRemoval{Room: roomA, User: bob, DueAt: now.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a lifecycle removal of a user active again goes back to the grace period, counted from its creation",
			policy: policy(staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms,
				Accounts: AccountsObserved{Confirmed: map[id.UserID]AccountStatus{bob: AccountActive}}},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), {Room: roomA, User: bob}},
				[]PendingRemoval{{Room: roomA, User: bob, DueAt: earlier, Reason: ReasonDeactivated, CreatedAt: earlier}}),
				AccountRecord{User: bob, DeactivatedAt: earlier}),
			want: []Action{
				ForgetDeactivation{User: bob, Reason: "active again in Authentik"},
				ScheduleRemoval{Room: roomA, User: bob, DueAt: earlier.Add(grace), Reason: "no longer in Authentik group staff"},
			},
		},
		{
			name:   "a lifecycle removal whose status is unknown this cycle waits for the grace period",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: AccountsObserved{ListErr: errors.New("timeout")}},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), {Room: roomA, User: bob}},
				[]PendingRemoval{{Room: roomA, User: bob, DueAt: earlier, Reason: ReasonDeactivated, CreatedAt: earlier}}),
				AccountRecord{User: bob, DeactivatedAt: earlier}),
			want: nil,
		},
		{
			name:   "a protected deactivated user is neither removed, logged out nor locked",
			policy: protected(lifecyclePolicy(DeactivationPolicy{Logout: true, LockAfter: lockAfter(0)}, staffA)),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(bob)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: bob, DeactivatedAt: now}, Reason: ReasonDeactivated},
				untracked(roomA),
			},
			warnings: []string{"protected (protected_users): not removed", "protected (protected_users): not logged out", "protected (protected_users): not locked"},
		},
		{
			name:   "logout happens once, when the deactivation is first seen",
			policy: lifecyclePolicy(DeactivationPolicy{Logout: true}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), {Room: roomA, User: carol}}, nil),
			want: []Action{
				TrackDeactivation{Record: AccountRecord{User: carol, DeactivatedAt: now}, Reason: ReasonDeactivated},
				ForgetMember{Room: roomA, User: carol, Reason: "no longer in the room nor in its groups"},
				EndSessions{User: carol, Reason: ReasonDeactivated + "; every session ends (deactivated.logout)"},
			},
		},
		{
			name:   "a user already logged out is not logged out again",
			policy: lifecyclePolicy(DeactivationPolicy{Logout: true}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, LoggedOutAt: earlier}),
			want:   nil,
		},
		{
			name:   "an account is not locked before lock_after has passed",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(30 * 24 * time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: now.Add(-30*24*time.Hour + time.Second)}),
			want:   nil,
		},
		{
			name:   "an account is locked once deactivated for lock_after",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(30 * 24 * time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: now.Add(-30 * 24 * time.Hour)}),
			want: []Action{LockAccount{User: carol,
				Reason: ReasonDeactivated + " since 2026-10-27T12:00:00Z (deactivated.lock_after 720h0m0s)"}},
		},
		{
			name:   "a locked account is not locked again",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(0)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, LockedByBot: true, LockedAt: earlier}),
			want:   nil,
		},
		{
			name:   "an account the bot locked is unlocked when the user is active again",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(0)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice, carol)), Rooms: bothRooms, Accounts: inactive()},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, carol, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, LockedByBot: true, LockedAt: earlier}),
			want: []Action{
				Invite{Room: roomA, User: carol, Reason: "member of Authentik group staff"},
				UnlockAccount{User: carol, Reason: "active again in Authentik; the bot had locked the account"},
			},
		},
		{
			name:   "an account locked by someone else is not unlocked: only its record is dropped",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(0)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice, carol)), Rooms: bothRooms, Accounts: inactive()},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, carol, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, LockedAt: earlier}),
			want: []Action{
				ForgetDeactivation{User: carol, Reason: "active again in Authentik"},
				Invite{Room: roomA, User: carol, Reason: "member of Authentik group staff"},
			},
		},
		{
			name:   "an unlock needs proof of activity: a user merely absent from the inactive listing keeps the lock",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(0)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive()},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, LockedByBot: true, LockedAt: earlier}),
			want:   nil,
		},
		{
			name:   "a deleted record confirmed again by the lookup of the user: its lock comes due",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: confirmed(AccountGone, carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, Deleted: true}),
			want:   []Action{LockAccount{User: carol, Reason: ReasonDeleted + " since 2026-11-26T11:00:00Z (deactivated.lock_after 1h0m0s)"}},
		},
		{
			name:   "a deletion confirmed again, but the Matrix ID came back in a group since (a new account under the username): no lock, no logout",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(0), Logout: true}, staffA, Mapping{Group: "eng", Room: roomB}),
			// The groups are unreadable this cycle and the search by username left the new account out.
			obs: Observed{Groups: map[string]GroupMembers{"staff": {Group: "staff", Err: errors.New("HTTP 503")}, "eng": {Group: "eng", Err: errors.New("HTTP 503")}},
				Rooms: bothRooms, Accounts: confirmed(AccountGone, carol)},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomB, carol, now.Add(-time.Minute))}, nil),
				AccountRecord{User: carol, DeactivatedAt: earlier, Deleted: true}),
			want:     nil,
			warnings: []string{"staff unknown this cycle", "eng unknown this cycle"},
		},
		{
			name:   "the lookup found a new account under a deleted one's username: the record follows it while the bot's lock is lifted",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(time.Hour)}, staffA),
			obs: Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: AccountsObserved{
				Confirmed: map[id.UserID]AccountStatus{carol: AccountActive}, SourceIDs: map[id.UserID]DirectoryAccount{carol: {SourceID: "12", Username: "carol"}}}},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
				AccountRecord{User: carol, SourceID: "9", Username: "carol", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier}),
			want: []Action{
				FollowAccount{Record: AccountRecord{User: carol, SourceID: "12", Username: "carol", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier},
					Reason: "the Matrix ID's account is now Authentik user carol (pk 12), made again under the deleted one's username"},
				UnlockAccount{User: carol, Reason: "active again in Authentik; the bot had locked the account"},
			},
		},
		{
			name:   "a deleted record is no evidence on its own: without this cycle's lookup nothing is locked",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: confirmed(AccountUnknown, carol)},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, Deleted: true}),
			want:   nil,
		},
		{
			name:   "a deleted record whose lookup finds the account active again: the bot's lock is lifted",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: confirmed(AccountActive, carol)},
			state: withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
				AccountRecord{User: carol, SourceID: "9", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier}),
			want: []Action{UnlockAccount{User: carol, Reason: "active again in Authentik; the bot had locked the account"}},
		},
		{
			name:   "nothing is locked while the listing of inactive users fails",
			policy: lifecyclePolicy(DeactivationPolicy{LockAfter: lockAfter(time.Hour)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: AccountsObserved{ListErr: errors.New("down")}},
			state:  withAccounts(stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil), AccountRecord{User: carol, DeactivatedAt: earlier, Deleted: true}),
			want:   nil,
		},
		{
			name:   "an inactive user the bot never managed is left alone",
			policy: lifecyclePolicy(DeactivationPolicy{Logout: true, LockAfter: lockAfter(0)}, staffA),
			obs:    Observed{Groups: groups(group("staff", alice)), Rooms: bothRooms, Accounts: inactive(carol)},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
			want:   nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.policy, tc.obs, tc.state, now)
			if !reflect.DeepEqual(got.Actions, tc.want) {
				t.Errorf("actions:\n got  %s\n want %s", describeAll(got.Actions), describeAll(tc.want))
			}
			checkWarnings(t, got.Warnings, tc.warnings)
		})
	}
}

func describeAll(actions []Action) string {
	lines := make([]string, 0, len(actions))
	for _, a := range actions {
		lines = append(lines, Describe(a))
	}
	return "[" + strings.Join(lines, "; ") + "]"
}

func checkWarnings(t *testing.T, got []Warning, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("warnings %v, want %d matching %q", got, len(want), want)
		return
	}
	for i, w := range want {
		if !strings.Contains(got[i].String(), w) {
			t.Errorf("warning %d = %q, want it to contain %q", i, got[i].String(), w)
		}
	}
}

func TestMakePlanProfiles(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	room := map[id.RoomID]RoomObservation{roomA: roomWith(map[id.UserID]RoomMember{alice: joined(earlier), bob: joined(earlier)})}
	st := stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil)
	on := func(avatar bool) Policy {
		p := policy(staffA)
		p.Profiles = ProfilePolicy{DisplayName: true, Avatar: avatar}
		return p
	}
	withNames := func(g GroupMembers, profiles map[id.UserID]Profile) GroupMembers {
		g.Profiles = profiles
		return g
	}
	names := withNames(group("staff", alice, bob), map[id.UserID]Profile{alice: {DisplayName: "Alice A"}, bob: {DisplayName: "Bob B", AvatarURL: "mxc://hs/bob"}})
	tests := []struct {
		name     string
		policy   Policy
		obs      Observed
		state    State
		want     []Action
		warnings []string
	}{
		{
			name:   "profile sync off plans nothing",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(names), Rooms: room},
			state:  st,
		},
		{
			name:   "never synced: the handler checks first and writes only if different",
			policy: on(false),
			obs:    Observed{Groups: groups(names), Rooms: room},
			state:  st,
			want: []Action{
				SetProfile{User: alice, Field: FieldDisplayName, Value: "Alice A", CheckFirst: true,
					Reason: `follows the Authentik name "Alice A" (first sync: written only if Matrix shows another)`},
				SetProfile{User: bob, Field: FieldDisplayName, Value: "Bob B", CheckFirst: true,
					Reason: `follows the Authentik name "Bob B" (first sync: written only if Matrix shows another)`},
			},
		},
		{
			name:   "the same name as last synced: no action, so no profile request",
			policy: on(false),
			obs:    Observed{Groups: groups(names), Rooms: room},
			state:  withProfiles(st, map[ProfileKey]string{{alice, FieldDisplayName}: "Alice A", {bob, FieldDisplayName}: "Bob B"}),
		},
		{
			name:   "renamed in Authentik: one write, without reading first",
			policy: on(false),
			obs:    Observed{Groups: groups(names), Rooms: room},
			state:  withProfiles(st, map[ProfileKey]string{{alice, FieldDisplayName}: "Alice Old", {bob, FieldDisplayName}: "Bob B"}),
			want: []Action{SetProfile{User: alice, Field: FieldDisplayName, Value: "Alice A",
				Reason: `Authentik name changed from "Alice Old" to "Alice A"`}},
		},
		{
			name:   "the avatar follows its attribute, and an attribute that is no mxc URL is a warning",
			policy: on(true),
			obs: Observed{Groups: groups(withNames(group("staff", alice, bob), map[id.UserID]Profile{
				alice: {DisplayName: "Alice A", AvatarURL: "https://example.org/a.png"}, bob: {DisplayName: "Bob B", AvatarURL: "mxc://hs/bob"}})), Rooms: room},
			state: withProfiles(st, map[ProfileKey]string{{alice, FieldDisplayName}: "Alice A", {bob, FieldDisplayName}: "Bob B", {bob, FieldAvatar}: "mxc://hs/old"}),
			want: []Action{SetProfile{User: bob, Field: FieldAvatar, Value: "mxc://hs/bob",
				Reason: `Authentik avatar attribute changed from "mxc://hs/old" to "mxc://hs/bob"`}},
			warnings: []string{"not an mxc:// URL"},
		},
		{
			name:   "an empty Authentik name leaves the Matrix name alone",
			policy: on(false),
			obs:    Observed{Groups: groups(withNames(group("staff", alice), map[id.UserID]Profile{alice: {}})), Rooms: room},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier)}, nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.policy, tc.obs, tc.state, now)
			if !reflect.DeepEqual(got.Actions, tc.want) {
				t.Errorf("actions:\n got  %s\n want %s", describeAll(got.Actions), describeAll(tc.want))
			}
			checkWarnings(t, got.Warnings, tc.warnings)
		})
	}
}

func TestAccountLookups(t *testing.T) {
	staffA := Mapping{Group: "staff", Room: roomA}
	st := stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier), {Room: roomA, User: carol}}, nil)
	// known are the source IDs the last full cycle saw in the groups.
	known := map[id.UserID]DirectoryAccount{alice: {"1", "alice"}, bob: {"2", "bob"}, carol: {"3", "carol"}}
	listed := func(users ...id.UserID) AccountsObserved {
		a := AccountsObserved{Listed: map[id.UserID]DirectoryAccount{}}
		for _, u := range users {
			a.Listed[u] = DirectoryAccount{SourceID: "L" + known[u].SourceID, Username: string(u)}
		}
		return a
	}
	tests := []struct {
		name   string
		policy Policy
		obs    Observed
		state  State
		known  map[id.UserID]DirectoryAccount
		want   map[id.UserID]DirectoryAccount
	}{
		{
			name:   "a member about to be scheduled for removal is looked up by the ID the last cycle saw",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice))},
			state:  st,
			known:  known,
			want:   map[id.UserID]DirectoryAccount{bob: {"2", "bob"}},
		},
		{
			name:   "without a known ID (the first cycle after a start) nobody is looked up: the grace period applies",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice))},
			state:  st,
		},
		{
			name:   "an exempt member who left their groups is never removed, so never looked up",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice))},
			state: func() State {
				s := stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier)}, nil)
				s.Exempt = map[RoomUser]Exemption{{"", bob}: {User: bob}}
				return s
			}(),
			known: known,
		},
		{
			name:   "nothing is looked up when everyone is still in their groups",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob))},
			state:  st,
			known:  known,
		},
		{
			name:   "a managed user listed inactive is looked up by the listed ID; an unmanaged one is not",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob)), Accounts: listed(carol, "@dan:hs")},
			state:  st,
			known:  known,
			want:   map[id.UserID]DirectoryAccount{carol: {"L3", string(carol)}},
		},
		{
			name:   "a listed user seen active in a group is active: no lookup",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob)), Accounts: listed(bob)},
			state:  st,
			known:  known,
		},
		{
			name:   "nobody is looked up for a room one of whose groups is unknown: nobody is removed there",
			policy: policy(staffA, Mapping{Group: "ops", Room: roomA}),
			obs:    Observed{Groups: map[string]GroupMembers{"staff": group("staff", alice), "ops": {Group: "ops", Err: errors.New("HTTP 500")}}},
			state:  st,
			known:  known,
		},
		{
			name:   "a member who left one group but is in another is active: no lookup",
			policy: policy(staffA, Mapping{Group: "ops", Room: roomB}),
			obs:    Observed{Groups: groups(group("staff", alice), group("ops", bob))},
			state:  stateWith([]ManagedMember{tracked(roomA, alice, earlier), tracked(roomA, bob, earlier), tracked(roomB, bob, earlier)}, nil),
			known:  known,
		},
		{
			name:   "every record is re-checked, deletions included, by the ID it keeps",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob))},
			state: withAccounts(st, AccountRecord{User: carol, SourceID: "3", DeactivatedAt: earlier},
				AccountRecord{User: "@dan:hs", SourceID: "4", Username: "dan", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier}),
			known: known,
			want:  map[id.UserID]DirectoryAccount{carol: {"3", "carol"}, "@dan:hs": {"4", "dan"}},
		},
		{
			name:   "a deleted account's Matrix ID that a new account took over (seen in a group since) is looked up by the new account's ID",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob))},
			state:  withAccounts(st, AccountRecord{User: "@dan:hs", SourceID: "4", Username: "dan", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier}),
			known:  map[id.UserID]DirectoryAccount{alice: {"1", "alice"}, bob: {"2", "bob"}, "@dan:hs": {"9", "dan"}},
			want:   map[id.UserID]DirectoryAccount{"@dan:hs": {"9", "dan"}},
		},
		{
			name:   "a deletion with nothing left to do and no lock by the bot is not looked up again: a pk never comes back",
			policy: policy(staffA),
			obs:    Observed{Groups: groups(group("staff", alice, bob))},
			state:  withAccounts(st, AccountRecord{User: "@dan:hs", SourceID: "4", Username: "dan", DeactivatedAt: earlier, Deleted: true}),
			known:  known,
		},
		{
			name: "a record still listed inactive with nothing left to do is not looked up again",
			policy: func() Policy {
				p := policy(staffA)
				p.Deactivated.LockAfter = lockAfter(time.Hour)
				return p
			}(),
			obs:   Observed{Groups: groups(group("staff", alice, bob)), Accounts: listed("@dan:hs")},
			state: withAccounts(st, AccountRecord{User: "@dan:hs", SourceID: "4", DeactivatedAt: earlier, LockedByBot: true, LockedAt: earlier}),
			known: known,
		},
		{
			name: "remove after_grace without lock or logout looks up records only",
			policy: func() Policy {
				p := policy(staffA)
				p.Deactivated.AfterGrace = true
				return p
			}(),
			obs:   Observed{Groups: groups(group("staff", alice))},
			state: st,
			known: known,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AccountLookups(tc.policy, tc.obs, tc.state, tc.known); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("lookups %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGuardHoldsLocksAndLogoutsWithRemovals(t *testing.T) {
	p := Plan{Actions: []Action{
		TrackDeactivation{Record: AccountRecord{User: bob}},
		Kick{Room: roomA, User: bob}, EndSessions{User: bob}, LockAccount{User: bob},
		SetProfile{User: alice, Field: FieldDisplayName, Value: "A"},
	}}
	got := p.WithoutRemovals().Actions
	want := []Action{TrackDeactivation{Record: AccountRecord{User: bob}}, SetProfile{User: alice, Field: FieldDisplayName, Value: "A"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("without removals: %s, want %s", describeAll(got), describeAll(want))
	}
	if v := CheckRemovals(GuardLimits{MaxRemovals: 1}, Plan{Actions: kicks(roomA, alice, bob)}, NewState()); !v.Tripped() {
		t.Error("two lifecycle kicks passed a guard of one")
	}
	// Locks and logouts count like removals, with or without kicks; one user's are one entry.
	accounts := Plan{Actions: []Action{EndSessions{User: bob, Reason: "out"}, LockAccount{User: bob, Reason: "locked"}, LockAccount{User: carol, Reason: "locked"}}}
	v := CheckRemovals(GuardLimits{MaxRemovals: 2}, accounts, NewState())
	wantHeld := []HeldRemoval{{User: bob, Action: "logout+lock", Reason: "out; locked"}, {User: carol, Action: HeldLock, Reason: "locked"}}
	if !v.Tripped() || !reflect.DeepEqual(v.Held, wantHeld) {
		t.Errorf("three account writes against a guard of two: %+v, want held %+v", v, wantHeld)
	}
	if v := CheckRemovals(GuardLimits{MaxRemovals: 3}, accounts, NewState()); v.Tripped() {
		t.Errorf("three account writes tripped a guard of three: %+v", v)
	}
}

// BenchmarkMakePlanLifecycle is BenchmarkMakePlan's no-change cycle with the account lifecycle
// and profile sync on: 5,000 users listed inactive (none of them managed) and every member's
// profile already synced. It measures what the lifecycle adds to a cycle with nothing to do.
func BenchmarkMakePlanLifecycle(b *testing.B) {
	p, obs, state := planWorld(50_000, 200, 500, true)
	p.Profiles.DisplayName = true
	p.Deactivated.LockAfter = lockAfter(time.Hour)
	obs.Accounts = AccountsObserved{Listed: map[id.UserID]DirectoryAccount{}}
	for i := range 5_000 {
		obs.Accounts.Listed[id.UserID(fmt.Sprintf("@gone%06d:example.org", i))] = DirectoryAccount{SourceID: fmt.Sprint(i), Username: "gone"}
	}
	state.Profiles = map[ProfileKey]string{}
	for name, g := range obs.Groups {
		g.Profiles = map[id.UserID]Profile{}
		for _, m := range g.Members {
			g.Profiles[m.UserID] = Profile{DisplayName: m.Username}
			state.Profiles[ProfileKey{m.UserID, FieldDisplayName}] = m.Username
		}
		obs.Groups[name] = g
	}
	b.ReportAllocs()
	b.ResetTimer()
	var actions int
	for b.Loop() {
		actions = len(MakePlan(p, obs, state, now).Actions)
	}
	b.ReportMetric(float64(actions), "actions")
}
