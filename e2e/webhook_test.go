package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

const webhookSecret = "e2e-webhook-secret-3f9a1c77"

// authentikDefaultBody is what Authentik's generic webhook transport sends without a body
// mapping after a group's members changed: the event summary, its context a Python dict.
func authentikDefaultBody(action, group string) string {
	summary := fmt.Sprintf("%s: {'model': {'app': 'authentik_core', 'model_name': 'group', 'pk': '5d9e0c1a2b3c4d5e6f7a8b9c0d1e2f3a', 'name': '%s'}, "+
		"'http_request': {'args': {}, 'path': '/api/v3/core/groups/5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a/add_user/', 'method': 'POST'}}", action, group)
	body, _ := json.Marshal(map[string]any{"body": summary, "severity": "notice", "user_email": "root@example.org",
		"user_username": "akadmin", "event_user_email": "root@example.org", "event_user_username": "akadmin"})
	return string(body)
}

// mappedBody is what the webhook body mapping in docs/authentik.md sends.
func mappedBody(action, group string) string {
	body, _ := json.Marshal(map[string]any{"action": action,
		"model": map[string]any{"app": "authentik_core", "model_name": "group", "pk": "aa", "name": group}})
	return string(body)
}

// postWebhook calls the bot's webhook as Authentik's transport does and returns the status.
func postWebhook(tb testing.TB, addr, secret, body string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/webhook/authentik", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// withWebhook turns on the webhook listener and makes polling too slow to matter.
func withWebhook(listen string) func(map[string]any) {
	return func(conf map[string]any) {
		conf["sync"].(map[string]any)["interval"] = "1h"
		conf["webhook"] = map[string]any{"listen": listen, "secret": webhookSecret}
	}
}

// registerUsers creates Matrix accounts (through the appservice, which is quick) for users the
// fake Authentik will hold.
func registerUsers(tb testing.TB, ak *authentiktest.Server, names ...string) {
	tb.Helper()
	for _, n := range names {
		if err := registerAppserviceUser(context.Background(), env.hs.URL, env.asToken, n); err != nil {
			tb.Fatal(err)
		}
		ak.AddUser(n)
	}
}

// joinedWithin waits for user to be joined to room and fails if it takes longer than limit.
func joinedWithin(t *testing.T, room id.RoomID, user id.UserID, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	err := harness.WaitFor(context.Background(), limit, func() (bool, error) {
		ms, err := env.hs.Memberships(context.Background(), room)
		if err != nil {
			return false, err
		}
		return ms[user].Membership == "join", fmt.Errorf("%s is %q", user, ms[user].Membership)
	})
	if err != nil {
		t.Fatalf("%s not joined within %s of the webhook (polling is 1 h): %v", user, limit, err)
	}
	return time.Since(start)
}

// With polling at one hour, a webhook call makes a user added in Authentik join within seconds:
// for the mapped group itself (Authentik's default body) and for a subgroup of it (the body
// mapping of docs/authentik.md), whose change reaches the parent's rooms through the group tree.
func TestWebhookJoinsWithinSeconds(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "webhook")
	ak := newAuthentik(t)
	registerUsers(t, ak, "wh-amy", "wh-ben", "wh-cat")
	ak.AddGroup("wh-team", "")
	ak.AddGroup("wh-sub", "wh-team")
	ak.AddGroup("wh-other", "")
	ak.AddMembers("wh-team", "wh-amy")
	listen := freeAddr(t)
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		mappings: []mapping{{Group: "wh-team", Room: room}}, edit: withWebhook(listen)}, "")
	waitMembership(t, room, uid("wh-amy"), "join")

	ak.AddMembers("wh-team", "wh-ben")
	if code := postWebhook(t, listen, "", authentikDefaultBody("model_updated", "wh-team")); code != http.StatusUnauthorized {
		t.Fatalf("call without the secret: %d, want 401", code)
	}
	if code := postWebhook(t, listen, "wrong-secret-wrong-secret", "{}"); code != http.StatusUnauthorized {
		t.Fatalf("call with a wrong secret: %d, want 401", code)
	}
	// An unmapped group with no mapped parent runs no cycle at all.
	if code := postWebhook(t, listen, webhookSecret, mappedBody("model_updated", "wh-other")); code != http.StatusNoContent {
		t.Fatalf("call for an unmapped group: %d, want 204", code)
	}
	time.Sleep(3 * time.Second) // longer than the debounce window
	if m := membership(t, room, uid("wh-ben")).Membership; m != "" {
		t.Fatalf("wh-ben is %q after refused calls and an unrelated one; nothing should have run", m)
	}

	if code := postWebhook(t, listen, webhookSecret, authentikDefaultBody("model_updated", "wh-team")); code != http.StatusNoContent {
		t.Fatalf("authenticated call: %d, want 204", code)
	}
	took := joinedWithin(t, room, uid("wh-ben"), 15*time.Second)
	t.Logf("wh-ben joined %s after the webhook", took.Round(time.Millisecond))

	ak.AddMembers("wh-sub", "wh-cat")
	if code := postWebhook(t, listen, webhookSecret, mappedBody("model_updated", "wh-sub")); code != http.StatusNoContent {
		t.Fatalf("authenticated call for the subgroup: %d, want 204", code)
	}
	joinedWithin(t, room, uid("wh-cat"), 15*time.Second)

	metrics := b.scrape(t)
	for result, want := range map[string]float64{"accepted": 3, "unauthorized": 2} {
		if got := metrics.value("webhook_requests_total", map[string]string{"result": result}); got != want {
			t.Errorf("webhook_requests_total{result=%q} = %v, want %v", result, got, want)
		}
	}
	// Each of the two accepted calls for a mapped group runs a cycle at once and one more when its
	// debounce window ends (the check again that covers Authentik writing the change a moment
	// after its event); the unmapped group runs none. A check again that comes before the
	// first cycle started merges with it, hence three or four. The join shows in Synapse a moment
	// before the cycle logs its end.
	var scopes []string
	_ = harness.WaitFor(context.Background(), 10*time.Second, func() (bool, error) {
		scopes = nil
		for _, line := range b.logLines("Cycle finished") {
			if s, ok := line["scope"].([]any); ok {
				scopes = append(scopes, fmt.Sprint(s))
			}
		}
		return len(scopes) >= 4, nil
	})
	if len(scopes) < 3 || len(scopes) > 4 || slices.ContainsFunc(scopes, func(s string) bool { return s != "[wh-team]" }) {
		t.Errorf("scoped cycles %v, want three or four, each covering [wh-team]", scopes)
	}
	if n := len(b.logLines("Webhook accepted")); n != 3 {
		t.Errorf("%d accepted calls logged, want 3", n)
	}
}

// webhookBot is a bot process for the latency benchmark, which cannot use startBot (it needs a
// *testing.T): appservice mode, force joins, polling once an hour, the webhook on.
type webhookBot struct {
	cmd     *exec.Cmd
	done    chan struct{}
	listen  string
	logPath string
}

func launchWebhookBot(tb testing.TB, ak *authentiktest.Server, room id.RoomID, group string, edits ...func(map[string]any)) *webhookBot {
	tb.Helper()
	dir := tb.TempDir()
	listen, health := freeAddrTB(tb), freeAddrTB(tb)
	conf := map[string]any{
		"homeserver": map[string]any{"address": env.hs.URL, "domain": serverName},
		"authentik":  map[string]any{"url": ak.URL(), "token": authentikToken},
		"appservice": map[string]any{"registration": env.regPath, "hostname": "127.0.0.1", "port": env.asPort},
		"sync": map[string]any{"interval": "1h", "grace_period": "1h", "join_method": "force",
			"mappings": []map[string]any{{"group": group, "room": string(room)}}},
		"database": map[string]any{"data_dir": filepath.Join(dir, "data")},
		"metrics":  map[string]any{"listen": health},
		"webhook":  map[string]any{"listen": listen, "secret": webhookSecret},
		"logging":  map[string]any{"level": "info", "format": "json"},
	}
	for _, edit := range edits {
		edit(conf)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := writeYAML(path, conf); err != nil {
		tb.Fatal(err)
	}
	b := &webhookBot{listen: listen, done: make(chan struct{}), logPath: filepath.Join(dir, "bot.log")}
	logFile, err := os.Create(b.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	b.cmd = exec.Command(env.bin, "-c", path)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); logFile.Close(); close(b.done) }()
	tb.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(15 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.done
		}
	})
	err = harness.WaitFor(context.Background(), 60*time.Second, func() (bool, error) {
		resp, err := http.Get("http://" + health + "/health")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		var rep struct {
			LastCycle *struct{} `json:"last_cycle"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&rep)
		return rep.LastCycle != nil, fmt.Errorf("no cycle yet")
	})
	if err != nil {
		data, _ := os.ReadFile(b.logPath)
		tb.Fatalf("bot did not finish its first cycle: %v\n%s", err, tailLines(string(data), 30))
	}
	return b
}

func freeAddrTB(tb testing.TB) string {
	port, err := freePort()
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// BenchmarkWebhookToJoin measures the time from a webhook call to the user's join in the real
// Synapse, over webhookChanges changes made one after another: add a user to the mapped group
// in the fake Authentik, post the webhook as Authentik would, wait for the join. It reports the
// median and 95th percentile, with the default debounce window.
func BenchmarkWebhookToJoin(b *testing.B) {
	const webhookChanges = 50
	ctx := context.Background()
	b.StopTimer()
	var all []time.Duration
	for iter := 0; iter < b.N; iter++ {
		group := fmt.Sprintf("bench-wh-%d", iter)
		room := newRoom(b, true, group)
		ak := authentiktest.New(authentikToken)
		b.Cleanup(ak.Close)
		users := make([]string, webhookChanges)
		for i := range users {
			users[i] = fmt.Sprintf("bench-wh-%d-u%02d", iter, i)
		}
		registerUsers(b, ak, users...)
		ak.AddGroup(group, "")
		bot := launchWebhookBot(b, ak, room, group)
		for _, u := range users {
			ak.AddMembers(group, u)
			start := time.Now()
			b.StartTimer()
			if code := postWebhook(b, bot.listen, webhookSecret, authentikDefaultBody("model_updated", group)); code != http.StatusNoContent {
				b.Fatalf("webhook answered %d", code)
			}
			err := harness.WaitFor(ctx, 60*time.Second, func() (bool, error) {
				ms, err := env.hs.Memberships(ctx, room)
				if err != nil {
					return false, err
				}
				m := ms[uid(u)].Membership
				return m == "join" || m == "invite", fmt.Errorf("%s is %q", u, m)
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(start))
		}
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(all[len(all)/2]), "median_ms")
	b.ReportMetric(ms(all[(len(all)*95+99)/100-1]), "p95_ms")
	b.ReportMetric(float64(len(all)), "changes")
}

// BenchmarkWebhookBurst measures how a burst is coalesced: webhookBurst users are added to the
// mapped group one after another, each with its own webhook call sent at once, as Authentik
// would during a bulk change. It reports the calls, the cycles they caused (counted from the
// bot's "Cycle finished" lines), and the time from the first call until every user has joined.
func BenchmarkWebhookBurst(b *testing.B) {
	const webhookBurst = 100
	ctx := context.Background()
	b.StopTimer()
	var cycles, calls int
	var took []time.Duration
	for iter := 0; iter < b.N; iter++ {
		group := fmt.Sprintf("bench-burst-%d", iter)
		room := newRoom(b, true, group)
		ak := authentiktest.New(authentikToken)
		b.Cleanup(ak.Close)
		users := make([]string, webhookBurst)
		for i := range users {
			users[i] = fmt.Sprintf("bench-burst-%d-u%03d", iter, i)
		}
		registerUsers(b, ak, users...)
		ak.AddGroup(group, "")
		bot := launchWebhookBot(b, ak, room, group)
		before := len(logLinesAt(bot.logPath, "Cycle finished"))
		start := time.Now()
		b.StartTimer()
		for _, u := range users {
			ak.AddMembers(group, u)
			if code := postWebhook(b, bot.listen, webhookSecret, authentikDefaultBody("model_updated", group)); code != http.StatusNoContent {
				b.Fatalf("webhook answered %d", code)
			}
			calls++
		}
		err := harness.WaitFor(ctx, 120*time.Second, func() (bool, error) {
			ms, err := env.hs.Memberships(ctx, room)
			if err != nil {
				return false, err
			}
			for _, u := range users {
				if m := ms[uid(u)].Membership; m != "join" {
					return false, fmt.Errorf("%s is %q", u, m)
				}
			}
			return true, nil
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		// The window after the last call ends with one more cycle: wait for it, then count.
		time.Sleep(2 * time.Second)
		cycles += len(logLinesAt(bot.logPath, "Cycle finished")) - before
	}
	slices.Sort(took)
	b.ReportMetric(float64(calls)/float64(b.N), "calls")
	b.ReportMetric(float64(cycles)/float64(b.N), "cycles")
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "all_joined_ms")
}
