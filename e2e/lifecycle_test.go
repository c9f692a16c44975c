package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/plan"
)

// The account lifecycle of users deactivated in Authentik, and profile sync, against the real
// Synapse. Each test registers Matrix users of its own: locks and logouts must not reach the
// accounts other scenarios share.

// lifecycleUser registers a fresh Matrix account and the same user in the fake Authentik.
func lifecycleUser(t *testing.T, ak *authentiktest.Server, name string, opts ...authentiktest.UserOption) harness.User {
	t.Helper()
	u, err := env.hs.RegisterUser(context.Background(), name, "pw-"+name, false)
	if err != nil {
		t.Fatal(err)
	}
	ak.AddUser(name, opts...)
	return u
}

// withLifecycle adds the deactivated and profile_sync sections to a bot's config.
func withLifecycle(deactivated, profileSync map[string]any) func(map[string]any) {
	return func(conf map[string]any) {
		if deactivated != nil {
			conf["deactivated"] = deactivated
		}
		if profileSync != nil {
			conf["profile_sync"] = profileSync
		}
	}
}

// cycleOf returns the cycle IDs of the bot's log lines with msg about user.
func cycleOf(b *bot, msg string, user id.UserID) []string {
	var out []string
	for _, l := range b.logLines(msg) {
		if l["user"] == string(user) {
			c, _ := l["cycle"].(string)
			out = append(out, c)
		}
	}
	return out
}

// cyclesSince counts the cycles that finished after the n-th "Cycle finished" line up to and
// including the cycle named id.
func cyclesSince(b *bot, n int, cycle string) int {
	lines := b.logLines("Cycle finished")
	for i := n; i < len(lines); i++ {
		if lines[i]["cycle"] == cycle {
			return i - n + 1
		}
	}
	return -1
}

func TestLifecycleDeactivatedUserLeavesEveryRoomInOneCycle(t *testing.T) {
	roomA, roomB := newRoom(t, true, "lifecycle-a"), newRoom(t, true, "lifecycle-b")
	ak := newAuthentik(t)
	dora := lifecycleUser(t, ak, "lc-dora")
	hank := lifecycleUser(t, ak, "lc-hank")
	keep := lifecycleUser(t, ak, "lc-keep")
	ak.AddGroup("lc-staff", "")
	ak.AddGroup("lc-ops", "")
	ak.AddMembers("lc-staff", "lc-dora", "lc-hank", "lc-keep")
	ak.AddMembers("lc-ops", "lc-dora", "lc-hank", "lc-keep")
	// A long grace period: only the lifecycle can remove anyone within this test. Two of three
	// members leaving a room trip the guard's max_removal_fraction (the unit tests show the
	// lifecycle held by it): this test turns that rule off and keeps max_removals_per_cycle.
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: 24 * time.Hour,
		mappings: []mapping{{Group: "lc-staff", Room: roomA}, {Group: "lc-ops", Room: roomB}},
		edit:     func(conf map[string]any) { conf["sync"].(map[string]any)["max_removal_fraction"] = 0 }}, "")
	for _, room := range []id.RoomID{roomA, roomB} {
		for _, u := range []harness.User{dora, hank, keep} {
			waitMembership(t, room, u.ID, "join")
		}
	}
	b.waitCycles(1)

	// Dora is deactivated, Hank deleted: both leave both rooms, each in a single cycle.
	finished := len(b.logLines("Cycle finished"))
	start := time.Now()
	ak.SetActive("lc-dora", false)
	ak.DeleteUser("lc-hank")
	for _, room := range []id.RoomID{roomA, roomB} {
		m := waitMembership(t, room, dora.ID, "leave")
		if m.Sender != env.asBot.ID || m.Reason != plan.ReasonDeactivated {
			t.Errorf("dora left %s by %s with reason %q, want the bot with %q", room, m.Sender, m.Reason, plan.ReasonDeactivated)
		}
		m = waitMembership(t, room, hank.ID, "leave")
		if m.Sender != env.asBot.ID || m.Reason != plan.ReasonDeleted {
			t.Errorf("hank left %s by %s with reason %q, want the bot with %q", room, m.Sender, m.Reason, plan.ReasonDeleted)
		}
	}
	took := time.Since(start)
	for _, u := range []harness.User{dora, hank} {
		cycles := cycleOf(b, "Kicked user", u.ID)
		if len(cycles) != 2 || cycles[0] != cycles[1] {
			t.Fatalf("%s kicked in cycles %v, want both rooms in one cycle", u.ID, cycles)
		}
		n := cyclesSince(b, finished, cycles[0])
		t.Logf("%s: out of both rooms %s after the change in Authentik, in cycle %d after it (1 s interval)", u.ID, took.Round(100*time.Millisecond), n)
		if n < 1 || n > 2 {
			t.Errorf("%s removed %d cycles after the change, want the next cycle (at most the one in flight and the next)", u.ID, n)
		}
	}
	if got := membership(t, roomA, keep.ID).Membership; got != "join" {
		t.Errorf("an active member is %q, want join", got)
	}
	// The safety rule: a deactivation or deletion is confirmed by a lookup of the user, never
	// taken from absence in a listing.
	if n := len(b.logLines("Looking Authentik accounts up one by one")); n < 1 {
		t.Error("the deactivation and deletion were not confirmed by a lookup of each user")
	}
	// Both removals went through the backup before removals, and nothing stays pending.
	if len(b.logLines("State backed up before removals")) == 0 {
		t.Error("no backup before the lifecycle removals")
	}
	b.waitCycles(2)
	pending, removals := pendingRemovals(t, b.dataDir)
	if len(pending) != 0 || len(removals) != 4 {
		t.Errorf("pending %v, %d removals recorded; want none pending and 4 recorded", pending, len(removals))
	}
}

func TestLifecycleLockAfterThenUnlockWhenReactivated(t *testing.T) {
	ctx := context.Background()
	room := newRoom(t, false, "lifecycle-lock")
	ak := newAuthentik(t)
	erik := lifecycleUser(t, ak, "lc-erik")
	ak.AddGroup("lc-lock", "")
	ak.AddMembers("lc-lock", "lc-erik")
	b := startBot(t, ak, botConfig{joinMethod: "force", grace: 24 * time.Hour, mappings: []mapping{{Group: "lc-lock", Room: room}},
		edit: withLifecycle(map[string]any{"lock_after": "3s"}, nil)}, "")
	waitMembership(t, room, erik.ID, "join")

	ak.SetActive("lc-erik", false)
	deactivated := time.Now()
	waitMembership(t, room, erik.ID, "leave")
	if acc, err := env.hs.Account(ctx, erik.ID); err != nil || acc.Locked {
		t.Fatalf("account %+v (%v): locked before lock_after", acc, err)
	}
	waitAccount(t, erik.ID, func(a harness.Account) bool { return a.Locked }, "locked")
	t.Logf("locked %s after the deactivation (lock_after 3s)", time.Since(deactivated).Round(100*time.Millisecond))
	if _, err := env.hs.Whoami(ctx, erik.Token); !harness.IsErrCode(err, "M_USER_LOCKED") {
		t.Errorf("whoami with a locked account's token: %v, want M_USER_LOCKED", err)
	}
	if n := len(b.logLines("Account locked")); n != 1 {
		t.Errorf("%d locks logged, want 1", n)
	}

	ak.SetActive("lc-erik", true)
	waitAccount(t, erik.ID, func(a harness.Account) bool { return !a.Locked }, "unlocked")
	waitMembership(t, room, erik.ID, "join")
	if who, err := env.hs.Whoami(ctx, erik.Token); err != nil || who != erik.ID {
		t.Errorf("whoami after the unlock = %s, %v", who, err)
	}
	b.waitCycles(2)
	if n := len(b.logLines("Account locked")); n != 1 {
		t.Errorf("%d locks logged after the unlock, want still 1", n)
	}
}

func TestLifecycleLockNeverLiftsSomeoneElsesLock(t *testing.T) {
	ctx := context.Background()
	room := newRoom(t, false, "lifecycle-foreign-lock")
	ak := newAuthentik(t)
	ivy := lifecycleUser(t, ak, "lc-ivy")
	ak.AddGroup("lc-foreign", "")
	ak.AddMembers("lc-foreign", "lc-ivy")
	b := startBot(t, ak, botConfig{joinMethod: "force", grace: 24 * time.Hour, mappings: []mapping{{Group: "lc-foreign", Room: room}},
		edit: withLifecycle(map[string]any{"lock_after": "0s"}, nil)}, "")
	waitMembership(t, room, ivy.ID, "join")
	// An admin locks Ivy by hand, then Authentik deactivates her and later reactivates her.
	if err := env.hs.SetLocked(ctx, ivy.ID, true); err != nil {
		t.Fatal(err)
	}
	ak.SetActive("lc-ivy", false)
	waitMembership(t, room, ivy.ID, "leave")
	b.waitCycles(2)
	if len(b.logLines("Account already locked by someone else")) != 1 {
		t.Error("the bot did not notice the lock was someone else's")
	}
	ak.SetActive("lc-ivy", true)
	waitMembership(t, room, ivy.ID, "join")
	b.waitCycles(2)
	if acc, err := env.hs.Account(ctx, ivy.ID); err != nil || !acc.Locked {
		t.Errorf("account %+v (%v): the admin's lock was lifted", acc, err)
	}
}

func TestLifecycleLogoutEndsEverySession(t *testing.T) {
	ctx := context.Background()
	room := newRoom(t, false, "lifecycle-logout")
	ak := newAuthentik(t)
	fay := lifecycleUser(t, ak, "lc-fay")
	phone, err := env.hs.Login(ctx, "lc-fay", "pw-lc-fay")
	if err != nil {
		t.Fatal(err)
	}
	ak.AddGroup("lc-logout", "")
	ak.AddMembers("lc-logout", "lc-fay")
	b := startBot(t, ak, botConfig{joinMethod: "force", grace: 24 * time.Hour, mappings: []mapping{{Group: "lc-logout", Room: room}},
		edit: withLifecycle(map[string]any{"logout": true}, nil)}, "")
	waitMembership(t, room, fay.ID, "join")
	for _, tok := range []string{fay.Token, phone.Token} {
		if _, err := env.hs.Whoami(ctx, tok); err != nil {
			t.Fatalf("token works before the deactivation? %v", err)
		}
	}
	ak.SetActive("lc-fay", false)
	waitMembership(t, room, fay.ID, "leave")
	err = harness.WaitFor(ctx, 20*time.Second, func() (bool, error) {
		_, err := env.hs.Whoami(ctx, phone.Token)
		return harness.IsErrCode(err, "M_UNKNOWN_TOKEN"), fmt.Errorf("whoami: %v", err)
	})
	if err != nil {
		t.Fatalf("the session did not end: %v", err)
	}
	if _, err := env.hs.Whoami(ctx, fay.Token); !harness.IsErrCode(err, "M_UNKNOWN_TOKEN") {
		t.Errorf("the other session still works: %v", err)
	}
	if devs, err := env.hs.Devices(ctx, fay.ID); err != nil || len(devs) != 0 {
		t.Errorf("devices left: %v (%v)", devs, err)
	}
	// Once: a new login while still deactivated (a password login Authentik does not guard) is
	// not logged out again by later cycles.
	again, err := env.hs.Login(ctx, "lc-fay", "pw-lc-fay")
	if err != nil {
		t.Fatal(err)
	}
	b.waitCycles(3)
	if _, err := env.hs.Whoami(ctx, again.Token); err != nil {
		t.Errorf("a later session was ended too: %v (logout must happen once)", err)
	}
	if n := len(b.logLines("Every session of the user ended")); n != 1 {
		t.Errorf("%d logouts logged, want 1", n)
	}
}

func TestLifecycleDisplayNameFollowsAuthentik(t *testing.T) {
	for _, mode := range []struct {
		name       string
		appservice bool
	}{{"appservice puppet", true}, {"client mode admin API", false}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			room := newRoom(t, mode.appservice, "lifecycle-profile")
			ak := newAuthentik(t)
			name := "lc-gina"
			if mode.appservice {
				name = "lc-gina-as"
			}
			gina := lifecycleUser(t, ak, name, authentiktest.WithName("Gina G"))
			same := lifecycleUser(t, ak, name+"-same", authentiktest.WithName(name+"-same")) // Synapse's default display name is the localpart
			ak.AddGroup(name, "")
			ak.AddMembers(name, name, name+"-same")
			b := startBot(t, ak, botConfig{appservice: mode.appservice, joinMethod: "force", grace: 24 * time.Hour,
				mappings: []mapping{{Group: name, Room: room}}, edit: withLifecycle(nil, map[string]any{"displayname": true})}, "")
			waitMembership(t, room, gina.ID, "join")
			waitDisplayName(t, gina.ID, "Gina G")
			b.waitCycles(2)
			if n := len(cycleOf(b, "Profile set from Authentik", same.ID)); n != 0 {
				t.Errorf("a display name already right was written %d times", n)
			}
			before := profileRequests(b)
			b.waitCycles(3)
			if n := profileRequests(b) - before; n != 0 {
				t.Errorf("no-change cycles made %d profile requests, want 0", n)
			}

			ak.SetName(name, "Gina Renamed")
			waitDisplayName(t, gina.ID, "Gina Renamed")
			b.waitCycles(3)
			if n := len(cycleOf(b, "Profile set from Authentik", gina.ID)); n != 2 {
				t.Errorf("%d display name writes for one first sync and one rename, want 2", n)
			}
			// The name shows in the room too: Synapse carries it into the membership event.
			err := harness.WaitFor(ctx, 20*time.Second, func() (bool, error) {
				st, err := env.hs.State(ctx, env.users["owner"], room, "m.room.member", string(gina.ID))
				if err != nil {
					return false, err
				}
				return st["displayname"] == "Gina Renamed", fmt.Errorf("member event %v", st)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// profileRequests counts the bot's requests to the profile endpoints and to the admin API's
// user endpoint (client mode writes profiles there), from its debug log.
func profileRequests(b *bot) int {
	n := 0
	for _, l := range b.logLines("Upstream request") {
		ep, _ := l["endpoint"].(string)
		if strings.HasPrefix(ep, "/_matrix/client/v3/profile/") || ep == "/_synapse/admin/v2/users/{userId}" {
			n++
		}
	}
	return n
}

func waitAccount(t *testing.T, user id.UserID, ok func(harness.Account) bool, what string) {
	t.Helper()
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		acc, err := env.hs.Account(context.Background(), user)
		if err != nil {
			return false, err
		}
		return ok(acc), fmt.Errorf("account %+v not %s", acc, what)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func waitDisplayName(t *testing.T, user id.UserID, want string) {
	t.Helper()
	waitAccount(t, user, func(a harness.Account) bool { return a.DisplayName == want }, fmt.Sprintf("named %q", want))
}
