package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/faultproxy"
	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/plan"
)

// The fault suite: each scenario breaks Authentik (through the fake's faults) or the
// homeserver (through a fault proxy between the bot and Synapse), then checks the rooms as
// Synapse reports them and the bot's store. The bots run in client mode, so the scenarios run
// in parallel, each with its own rooms, groups and admin room.

// behindProxy points the bot at a fault proxy in front of Synapse, keeping other edits.
func behindProxy(t *testing.T, edit func(map[string]any)) (*faultproxy.Proxy, func(map[string]any)) {
	t.Helper()
	p, err := faultproxy.Start(env.hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, func(conf map[string]any) {
		if edit != nil {
			edit(conf)
		}
		conf["homeserver"].(map[string]any)["address"] = p.URL()
	}
}

// authentikTimeout sets the Authentik client's time limit, keeping other edits.
func authentikTimeout(d time.Duration, edit func(map[string]any)) func(map[string]any) {
	return func(conf map[string]any) {
		if edit != nil {
			edit(conf)
		}
		conf["authentik"].(map[string]any)["timeout"] = d.String()
	}
}

// faultDirectory is the directory every Authentik fault scenario starts from: staff (alice,
// bob) and ops (carol), with dave and erin not in any group yet.
func faultDirectory(t *testing.T) *authentiktest.Server {
	ak := newAuthentik(t)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		ak.AddUser(u)
	}
	ak.AddGroup("staff", "")
	ak.AddMembers("staff", "alice", "bob")
	ak.AddGroup("ops", "")
	ak.AddMembers("ops", "carol")
	return ak
}

// storeIsClean fails the test if the bot's store holds a pending removal or a removal.
func storeIsClean(t *testing.T, dataDir string) {
	t.Helper()
	pending, removals := pendingRemovals(t, dataDir)
	if len(pending) != 0 || len(removals) != 0 {
		t.Fatalf("removal planned from data that could not be trusted: pending %v, removals %v", pending, removals)
	}
}

// stillJoined fails the test unless every user is joined to room.
func stillJoined(t *testing.T, room id.RoomID, users ...string) {
	t.Helper()
	ms, err := env.hs.Memberships(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if got := ms[uid(u)].Membership; got != "join" {
			t.Errorf("%s is %q in %s, want join", u, got, room)
		}
	}
}

// logValues returns the field of every log line whose message contains msg.
func (b *bot) logValues(msg, field string) []string {
	var out []string
	for _, l := range b.logLines(msg) {
		out = append(out, fmt.Sprint(l[field]))
	}
	return out
}

func TestAuthentikFaultsRemoveNobody(t *testing.T) {
	t.Parallel()
	staffPK := func(ak *authentiktest.Server) string { g, _ := ak.Group("staff"); return g.PK }
	tests := []struct {
		name string
		// scoped faults break the staff group only; the others break all of Authentik.
		scoped  bool
		timeout time.Duration // the bot's Authentik time limit; 0 keeps the default
		inject  func(ak *authentiktest.Server)
		recover func(ak *authentiktest.Server)
	}{
		{name: "unreachable", inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.Unreachable()) }},
		{name: "500", inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.Failing(500)) }},
		{name: "403 token revoked", inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.TokenRevoked()) }},
		{name: "timeout", timeout: time.Second, inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.Hanging(5 * time.Second)) }},
		{name: "truncated body", inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.TruncatedBodies()) }},
		{name: "malformed JSON", inject: func(ak *authentiktest.Server) { ak.InjectFault(authentiktest.MalformedJSON()) }},
		{name: "staff's member read fails", scoped: true, inject: func(ak *authentiktest.Server) {
			for _, f := range authentiktest.MemberReadFails(staffPK(ak), 502, "<html>Bad Gateway</html>") {
				ak.InjectFault(f)
			}
		}},
		{name: "group member listing 404", scoped: true, inject: func(ak *authentiktest.Server) {
			ak.InjectFault(authentiktest.GroupGone(staffPK(ak)))
		}},
		{name: "group vanished", scoped: true,
			inject: func(ak *authentiktest.Server) { ak.DeleteGroup("staff") },
			recover: func(ak *authentiktest.Server) {
				ak.AddGroup("staff", "")
				ak.AddMembers("staff", "alice", "bob")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			staffRoom := newRoom(t, false, "fault-staff-"+tt.name)
			opsRoom := newRoom(t, false, "fault-ops-"+tt.name)
			admin := adminRoomFor(t, false)
			ak := faultDirectory(t)
			edit := withAdmin(admin, 10)
			if tt.timeout > 0 {
				edit = authentikTimeout(tt.timeout, edit)
			}
			b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0, pageSize: 1, edit: edit,
				mappings: []mapping{{Group: "staff", Room: staffRoom}, {Group: "ops", Room: opsRoom}}}, "")
			waitMembership(t, staffRoom, uid("alice"), "join")
			waitMembership(t, staffRoom, uid("bob"), "join")
			waitMembership(t, opsRoom, uid("carol"), "join")

			// Alice and bob would be removed if a failed read were taken for an empty group;
			// dave joins ops, which the scoped faults leave readable.
			tt.inject(ak)
			ak.AddMembers("ops", "dave")
			if _, err := awaitNotice(admin, false, "", "could not be read"); err != nil {
				t.Fatal(err)
			}
			if tt.scoped {
				waitMembership(t, opsRoom, uid("dave"), "join") // added what it safely could
			}
			b.waitCycles(3)
			stillJoined(t, staffRoom, "alice", "bob")
			storeIsClean(t, b.dataDir)
			if len(b.logLines("Group membership unknown")) == 0 {
				t.Error("no log line says the group's membership is unknown")
			}
			if got := b.scrape(t).value("group_read_errors_total", map[string]string{"group": "staff"}); got < 3 {
				t.Errorf("group_read_errors_total{group=staff} = %v after 3 failing cycles", got)
			}
			if !tt.scoped {
				// Authentik down as a whole: the cycles back off.
				if waits := b.logValues("backing off", "next_in_seconds"); len(waits) < 2 {
					t.Errorf("back-off waits logged: %v, want a growing wait", waits)
				}
				if m := membership(t, opsRoom, uid("dave")); m.Membership != "" {
					t.Errorf("dave is %q in ops during a full outage: added from unread data?", m.Membership)
				}
			}

			if tt.recover != nil {
				tt.recover(ak)
			}
			ak.ClearFaults()
			if _, err := awaitNotice(admin, false, "", "every mapped group reads again"); err != nil {
				t.Fatal(err)
			}
			waitMembership(t, opsRoom, uid("dave"), "join")
			b.waitCycles(2)
			stillJoined(t, staffRoom, "alice", "bob")
			storeIsClean(t, b.dataDir)
			if n := botNotices(t, false, admin, "could not be read"); n != 1 {
				t.Errorf("%d failure notices over several failing cycles, want exactly 1", n)
			}
			if n := botNotices(t, false, admin, "every mapped group reads again"); n != 1 {
				t.Errorf("%d recovery notices, want exactly 1", n)
			}
		})
	}
}

// TestKickFailingOnTheHomeserverKeepsTheRemovalPending breaks every kick with a 500: the
// removal stays pending (nothing recorded, nobody lost), the admin room hears once, and the
// kick goes through once the homeserver recovers.
func TestKickFailingOnTheHomeserverKeepsTheRemovalPending(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "fault-kick-500")
	admin := adminRoomFor(t, false)
	ak := faultDirectory(t)
	p, edit := behindProxy(t, withAdmin(admin, 10))
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0, edit: edit,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "join")

	rule := p.Add(faultproxy.Rule{Name: "kick 500", Method: http.MethodPost, Path: "rooms/{room}/kick", Status: 500})
	ak.RemoveMembers("staff", "bob")
	waitFor(t, "three failed kicks", func() bool { return p.Hits(rule) >= 3 })
	stillJoined(t, room, "alice", "bob")
	pending, removals := pendingRemovals(t, b.dataDir)
	if _, ok := pending[plan.RoomUser{Room: room, User: uid("bob")}]; !ok || len(removals) != 0 {
		t.Fatalf("after failed kicks: pending %v removals %v, want bob pending and nothing recorded", pending, removals)
	}
	if len(b.logLines("Action failed")) < 3 {
		t.Error("the failed kicks are not logged")
	}
	if got := b.scrape(t).value("actions_total", map[string]string{"action": "kick", "result": "failed"}); got < 3 {
		t.Errorf("actions_total{kick,failed} = %v, want at least 3", got)
	}

	p.Remove(rule)
	m := waitMembership(t, room, uid("bob"), "leave")
	if m.Sender != env.client.ID {
		t.Errorf("bob removed by %s, want the bot", m.Sender)
	}
	if _, err := awaitNotice(admin, false, "", "room changes succeed again"); err != nil {
		t.Fatal(err)
	}
	b.waitCycles(1)
	if _, removals := pendingRemovals(t, b.dataDir); len(removals) != 1 {
		t.Errorf("%d removals recorded, want 1", len(removals))
	}
	if n := botNotices(t, false, admin, "room change failed"); n != 1 {
		t.Errorf("%d notices of the failing kick over %d attempts, want exactly 1", n, p.Hits(rule))
	}
	// Every notice naming bob: the failure once, the removal once; none per failed attempt.
	if n := botNotices(t, false, admin, string(uid("bob"))); n != 2 {
		t.Errorf("%d notices name bob, want 2 (the failure, then the removal)", n)
	}
	stillJoined(t, room, "alice")
}

// TestInviteFailingOnTheHomeserverIsRetried answers every invite with 502: the client library
// retries it within the request, the action fails, the cycles back off, and the user is invited
// once the homeserver recovers.
func TestInviteFailingOnTheHomeserverIsRetried(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "fault-invite-502")
	ak := faultDirectory(t)
	ak.RemoveMembers("staff", "bob")
	p, edit := behindProxy(t, nil)
	b := startBot(t, ak, botConfig{grace: time.Hour, edit: edit, mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "invite")

	rule := p.Add(faultproxy.Rule{Name: "invite 502", Method: http.MethodPost, Path: "rooms/{room}/invite", Status: http.StatusBadGateway})
	ak.AddMembers("staff", "dave")
	waitFor(t, "two cycles of failed invites", func() bool { return len(b.logLines("Action failed")) >= 2 })
	if m := membership(t, room, uid("dave")); m.Membership != "" {
		t.Fatalf("dave is %q while every invite fails", m.Membership)
	}
	if hits, fails := p.Hits(rule), len(b.logLines("Action failed")); hits < 2*fails {
		t.Errorf("%d invite requests for %d failed actions: the 502s were not retried within the request", hits, fails)
	}
	if len(b.logValues("backing off", "failing")) == 0 {
		t.Error("cycles whose only write failed did not back off")
	}
	p.Remove(rule)
	waitMembership(t, room, uid("dave"), "invite")
	if got := b.scrape(t).value("actions_total", map[string]string{"action": "invite", "result": "failed"}); got < 2 {
		t.Errorf("actions_total{invite,failed} = %v, want at least 2", got)
	}
}

// TestRateLimitIsWaitedOut answers the first invite with 429 and retry_after_ms and measures,
// at the proxy, how long the bot waited before trying again.
func TestRateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "fault-429")
	ak := faultDirectory(t)
	ak.RemoveMembers("staff", "bob") // one invite, so the request after the 429 is its retry
	p, edit := behindProxy(t, nil)
	const retryAfter = 1500 * time.Millisecond
	rule := p.Add(faultproxy.RateLimited("invite 429", http.MethodPost, "rooms/{room}/invite", retryAfter, 1))
	startBot(t, ak, botConfig{grace: time.Hour, edit: edit, mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "invite")
	reqs := p.Matched(rule)
	if len(reqs) < 2 || reqs[0].Status != http.StatusTooManyRequests {
		t.Fatalf("invites seen: %+v, want a 429 then the retry", reqs)
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < retryAfter-50*time.Millisecond {
		t.Errorf("retried %s after a 429 asking for %s", gap, retryAfter)
	}
	if reqs[1].Status != http.StatusOK {
		t.Errorf("the retry got %d", reqs[1].Status)
	}
}

// TestRoomStateTimeoutIsRetried holds one room's state past the bot's 30 s request limit: the
// request is retried, the cycle finishes, nobody is removed and the other room is served.
func TestRoomStateTimeoutIsRetried(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the homeserver client's 30 s time limit")
	}
	t.Parallel()
	slow := newRoom(t, false, "fault-timeout-slow")
	other := newRoom(t, false, "fault-timeout-other")
	ak := faultDirectory(t)
	p, edit := behindProxy(t, nil)
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0, edit: edit,
		mappings: []mapping{{Group: "staff", Room: slow}, {Group: "ops", Room: other}}}, "")
	waitMembership(t, slow, uid("bob"), "join")
	rule := p.Add(faultproxy.Rule{Name: "slow state", Method: http.MethodGet, Path: "/_matrix/client/v3/rooms/" + string(slow) + "/state",
		Delay: 40 * time.Second, Times: 1})
	ak.AddMembers("ops", "dave")
	waitFor(t, "the state request to time out and be retried", func() bool { return len(p.Matched(rule)) >= 2 })
	reqs := p.Matched(rule)
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 25*time.Second {
		t.Errorf("retried after %s: the request was not held until the client gave up", gap)
	}
	waitMembership(t, other, uid("dave"), "join")
	b.waitCycles(1)
	stillJoined(t, slow, "alice", "bob")
	storeIsClean(t, b.dataDir)
}

// TestBotKickedFromOneRoomSkipsOnlyThatRoom kicks the bot out of one of two rooms: that room is
// left alone and nothing about it is recorded, the other goes on, the admin room hears once,
// and the room converges once the bot is back.
func TestBotKickedFromOneRoomSkipsOnlyThatRoom(t *testing.T) {
	t.Parallel()
	lost := roomWithBotAt(t, "fault-bot-kicked", 90)
	kept := newRoom(t, false, "fault-bot-kept")
	admin := adminRoomFor(t, false)
	ak := faultDirectory(t)
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0, edit: withAdmin(admin, 10),
		mappings: []mapping{{Group: "staff", Room: lost}, {Group: "staff", Room: kept}}}, "")
	for _, r := range []id.RoomID{lost, kept} {
		waitMembership(t, r, uid("alice"), "join")
		waitMembership(t, r, uid("bob"), "join")
	}
	ctx := context.Background()
	if err := env.hs.Kick(ctx, env.users["owner"], lost, env.client.ID); err != nil {
		t.Fatal(err)
	}
	ak.RemoveMembers("staff", "bob")
	ak.AddMembers("staff", "dave")
	waitMembership(t, kept, uid("bob"), "leave")
	waitMembership(t, kept, uid("dave"), "join")
	if _, err := awaitNotice(admin, false, "", "1 room could not be read"); err != nil {
		t.Fatal(err)
	}
	b.waitCycles(2)
	stillJoined(t, lost, "alice", "bob")
	if m := membership(t, lost, uid("dave")); m.Membership != "" {
		t.Errorf("dave is %q in the room the bot was kicked from", m.Membership)
	}
	pending, removals := pendingRemovals(t, b.dataDir)
	if _, ok := pending[plan.RoomUser{Room: lost, User: uid("bob")}]; ok {
		t.Errorf("a removal was scheduled in the room the bot cannot see: %v", pending)
	}
	if len(removals) != 1 || removals[0].Room != kept {
		t.Errorf("removals %+v, want bob's in the kept room only", removals)
	}
	if len(b.logLines("room state unreadable")) == 0 {
		t.Error("no warning names the unreadable room")
	}
	if n := botNotices(t, false, admin, "could not be read"); n != 1 {
		t.Errorf("%d notices for the lost room, want exactly 1", n)
	}

	// Back in the room, the bot catches up.
	if err := env.hs.Invite(ctx, env.users["owner"], lost, env.client.ID); err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, env.client, lost); err != nil {
		t.Fatal(err)
	}
	if err := env.hs.SetPowerLevel(ctx, env.users["owner"], lost, env.client.ID, 90); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, lost, uid("dave"), "join")
	waitMembership(t, lost, uid("bob"), "leave")
	if _, err := awaitNotice(admin, false, "", "every mapped room reads again"); err != nil {
		t.Fatal(err)
	}
}

// TestBotBelowKickLevelKeepsRemovalPending lowers the bot's power level below the kick level:
// the removal is not attempted, stays pending and a warning says why; restored, the bot kicks.
func TestBotBelowKickLevelKeepsRemovalPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	room := roomWithBotAt(t, "fault-power", 90)
	ak := faultDirectory(t)
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "join")
	if err := env.hs.SetPowerLevel(ctx, env.users["owner"], room, env.client.ID, 10); err != nil {
		t.Fatal(err)
	}
	ak.RemoveMembers("staff", "bob")
	b.waitCycles(3)
	stillJoined(t, room, "alice", "bob")
	pending, removals := pendingRemovals(t, b.dataDir)
	if _, ok := pending[plan.RoomUser{Room: room, User: uid("bob")}]; !ok || len(removals) != 0 {
		t.Fatalf("bot below the kick level: pending %v removals %v, want bob still pending", pending, removals)
	}
	if len(b.logLines("below the kick level")) == 0 {
		t.Error("no warning says the bot is below the kick level")
	}
	if n := len(b.logLines("Kicked user")) + len(b.logLines("Action failed")); n != 0 {
		t.Errorf("%d kicks tried without the power to kick", n)
	}
	if err := env.hs.SetPowerLevel(ctx, env.users["owner"], room, env.client.ID, 90); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, room, uid("bob"), "leave")
}

// waitFor polls cond for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	err := harness.WaitFor(context.Background(), 60*time.Second, func() (bool, error) {
		return cond(), fmt.Errorf("still waiting for %s", what)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// roomWithBotAt creates a room owned by "owner" in which the client-mode bot is joined with the
// given power level, below the owner's, so that the owner can lower it or kick the bot.
func roomWithBotAt(t *testing.T, name string, level int) id.RoomID {
	t.Helper()
	ctx := context.Background()
	room, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: name,
		Invite: []id.UserID{env.client.ID}, PowerLevelUsers: map[id.UserID]int{env.client.ID: level}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, env.client, room); err != nil {
		t.Fatal(err)
	}
	return room
}
