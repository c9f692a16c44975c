package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/store/pgtest"
)

// kickGate is a reverse proxy to the homeserver for the leader: it lets the first kick through and
// holds every later one until its caller goes away, never forwarding it, so the leader can be
// killed at a known point in the middle of its removals.
type kickGate struct {
	kicks atomic.Int32
	held  chan string // the path of each held kick
}

func newKickGate(t *testing.T, target string) (*kickGate, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &kickGate{held: make(chan string, 16)}
	proxy := httputil.NewSingleHostReverseProxy(u)
	closing := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/kick") && g.kicks.Add(1) > 1 {
			// The server notices a vanished client only once the body has been read.
			_, _ = io.Copy(io.Discard, r.Body)
			g.held <- r.URL.Path
			select {
			case <-r.Context().Done():
			case <-closing:
				http.Error(w, "held by the test", http.StatusServiceUnavailable)
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(closing); srv.Close() })
	return g, srv.URL
}

// TestFailoverMidRemovals runs two bots on one Postgres. The leader is killed with SIGKILL in the
// middle of the cycle that removes four users, after its first kick; the follower takes over and
// every due removal happens exactly once: one leave event per user in the room, one row per user
// in the store's removal history, no kick tried twice.
func TestFailoverMidRemovals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	pg, err := pgtest.Start(ctx)
	if err != nil {
		t.Fatalf("no PostgreSQL for the failover test: %v", err)
	}
	t.Cleanup(pg.Stop)
	dbURL, err := pg.CreateDatabase(ctx, "failover")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.DropDatabase(context.Background(), dbURL) }) // a TEST_DATABASE_URL server outlives the test

	users := []string{"alice", "bob", "carol", "dave"}
	room := newRoom(t, false, "failover")
	ak := directory(t, "failover-staff", users...)
	gate, proxied := newKickGate(t, env.hs.URL)
	cfg := func(homeserver string) botConfig {
		return botConfig{joinMethod: "force", grace: 2 * time.Second, databaseURL: dbURL,
			mappings: []mapping{{Group: "failover-staff", Room: room}},
			edit: func(conf map[string]any) {
				conf["homeserver"].(map[string]any)["address"] = homeserver
				// All four leave the room's group at once: past the fraction rule, on purpose.
				conf["sync"].(map[string]any)["max_removal_fraction"] = 0
			}}
	}

	leader := startBot(t, ak, cfg(proxied), "")
	for _, u := range users {
		waitMembership(t, room, uid(u), "join")
	}
	follower := launchBot(t, ak, cfg(env.hs.URL), "")
	waitLog(t, follower, "Following")
	// A follower is alive and ready: it runs no cycles, and /ready says so instead of failing.
	rep := waitReady(t, follower)
	if c := rep.Checks["cycle"]; !c.OK || c.Detail != "follower: not running cycles" {
		t.Errorf("the follower's cycle check = %+v, want ok with the follower note", c)
	}
	if resp, err := http.Get("http://" + follower.health + "/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the follower's /health: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	st, err := store.OpenPostgres(ctx, store.PostgresOptions{URL: dbURL, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	ak.RemoveMembers("failover-staff", users...)
	select {
	case path := <-gate.held:
		// Kill once the first kick is logged and recorded, whether the leader sends its kicks
		// one by one or several at once: the rest are held, so exactly one has happened.
		err := harness.WaitFor(ctx, 10*time.Second, func() (bool, error) {
			rs, err := st.Removals(ctx, 10)
			return err == nil && len(rs) == 1 && len(leader.logLines("Kicked user")) == 1, fmt.Errorf("removals %v (%v)", rs, err)
		})
		if err != nil {
			t.Fatalf("the first kick was not recorded: %v", err)
		}
		if err := leader.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-leader.done
		t.Logf("%s: leader killed while its second kick (%s) was held", time.Since(start).Round(time.Millisecond), path)
	case <-time.After(30 * time.Second):
		t.Fatalf("the leader never sent a second kick; its log:\n%s", leader.logTail(40))
	}
	if n := len(leader.logLines("Kicked user")); n != 1 {
		t.Fatalf("the leader logged %d kicks before it was killed, want 1", n)
	}
	if len(leader.logLines("State backed up before removals")) != 1 {
		t.Errorf("the leader removed without a backup first")
	}

	waitLog(t, follower, "Leading")
	for _, u := range users {
		waitMembership(t, room, uid(u), "leave")
	}
	t.Logf("%s: every user gone", time.Since(start).Round(time.Millisecond))
	follower.waitCycles(2) // later cycles must not try again

	leaves := leaveEvents(t, room)
	for _, u := range users {
		if leaves[uid(u)] != 1 {
			t.Errorf("%s left the room %d times, want exactly 1", u, leaves[uid(u)])
		}
	}
	kickedBy := map[string]string{}
	for name, b := range map[string]*bot{"leader": leader, "follower": follower} {
		for _, line := range b.logLines("Kicked user") {
			u, _ := line["user"].(string)
			if prev, dup := kickedBy[u]; dup {
				t.Errorf("%s was kicked by the %s and again by the %s", u, prev, name)
			}
			kickedBy[u] = name
		}
		for _, line := range b.logLines("Action failed") {
			t.Errorf("the %s had a failed action: %v", name, line)
		}
	}
	if len(kickedBy) != len(users) {
		t.Errorf("kicks logged for %v, want all of %v", kickedBy, users)
	}

	removals, err := st.Removals(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[id.UserID]int{}
	for _, r := range removals {
		if r.Room == room {
			recorded[r.User]++
		}
	}
	for _, u := range users {
		if recorded[uid(u)] != 1 {
			t.Errorf("the store recorded %d removals of %s, want 1 (all: %+v)", recorded[uid(u)], u, removals)
		}
	}
	state, err := st.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Pending) != 0 {
		t.Errorf("pending removals left after the takeover: %+v", state.Pending)
	}
	// The new leader is ready too, by its own cycles now.
	if rep := waitReady(t, follower); rep.Checks["cycle"].Detail != "" {
		t.Errorf("the new leader's cycle check = %+v, want a plain pass", rep.Checks["cycle"])
	}
}

// waitLog waits until the bot has logged a line whose message contains msg.
func waitLog(t *testing.T, b *bot, msg string) {
	t.Helper()
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		select {
		case <-b.done:
			return false, fmt.Errorf("bot exited")
		default:
		}
		return len(b.logLines(msg)) > 0, fmt.Errorf("no %q in the log yet", msg)
	})
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, b.logTail(30))
	}
}

// readyReport is the body of /ready.
type readyReport struct {
	Status string `json:"status"`
	Checks map[string]struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// waitReady waits until the bot's /ready answers 200 and returns its body.
func waitReady(t *testing.T, b *bot) readyReport {
	t.Helper()
	var rep readyReport
	err := harness.WaitFor(context.Background(), 20*time.Second, func() (bool, error) {
		resp, err := http.Get("http://" + b.health + "/ready")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		rep = readyReport{}
		if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
			return false, err
		}
		return resp.StatusCode == 200, fmt.Errorf("/ready answered %d: %+v", resp.StatusCode, rep)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// leaveEvents counts the leave events per user in the room's timeline, as the owner sees it.
func leaveEvents(t *testing.T, room id.RoomID) map[id.UserID]int {
	t.Helper()
	evs, err := env.hs.Messages(context.Background(), env.users["owner"], room, 200)
	if err != nil {
		t.Fatal(err)
	}
	out := map[id.UserID]int{}
	for _, ev := range evs {
		if ev.Type != "m.room.member" || ev.StateKey == nil {
			continue
		}
		var c struct {
			Membership string `json:"membership"`
		}
		if json.Unmarshal(ev.Content, &c) == nil && c.Membership == "leave" {
			out[id.UserID(*ev.StateKey)]++
		}
	}
	return out
}
