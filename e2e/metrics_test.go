package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"authentik-matrix-sync/e2e/harness"
)

// exposition is one scrape of the bot's /metrics.
type exposition struct {
	raw      []byte
	families map[string]*dto.MetricFamily
}

func (b *bot) scrape(t *testing.T) exposition {
	t.Helper()
	resp, err := http.Get("http://" + b.health + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return exposition{raw: raw, families: families}
}

// value sums the counter or gauge series of the metric (without its namespace) whose labels
// include all of want; a series that does not exist counts as 0.
func (e exposition) value(name string, want map[string]string) float64 {
	mf := e.families["authentik_matrix_sync_"+name]
	if mf == nil {
		return 0
	}
	sum := 0.0
series:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		}
	}
	return sum
}

// waitValue waits until the metric reaches want.
func (b *bot) waitValue(t *testing.T, name string, labels map[string]string, want float64) {
	t.Helper()
	var got float64
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		got = b.scrape(t).value(name, labels)
		return got == want, fmt.Errorf("%s%v = %v, want %v", name, labels, got, want)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMetricsFollowRealCycles drives a bot through joins, a user without an account, and a
// kick after the grace period, and checks each metric moved by exactly what happened.
func TestMetricsFollowRealCycles(t *testing.T) {
	room := newRoom(t, true, "metrics")
	r := string(room)
	ak := directory(t, "staff", "alice", "bob", "ghost")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: 4 * time.Second,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "join")
	waitMembership(t, room, uid("bob"), "join")
	b.waitCycles(1)

	e := b.scrape(t)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"actions_total", map[string]string{"action": "force_join", "result": "ok", "room": r}, 2},
		{"actions_total", map[string]string{"action": "force_join", "result": "failed"}, 0},
		{"actions_total", map[string]string{"action": "kick"}, 0},
		{"group_members", map[string]string{"group": "staff"}, 3},
		{"managed_members", map[string]string{"room": r}, 3},
		{"pending_removals", map[string]string{"room": r}, 0},
		{"users_without_matrix_account", nil, 1},
		{"cycles_total", map[string]string{"result": "failed"}, 0},
		{"leader", nil, 1},
		{"backups_total", nil, 0},
		{"build_info", nil, 1},
	}
	for _, c := range checks {
		if got := e.value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Ghost has no account: skipped once per cycle, never failed.
	skipped := e.value("actions_total", map[string]string{"action": "force_join", "result": "skipped"})
	cycles := e.value("cycles_total", map[string]string{"result": "ok"})
	if skipped < 1 || skipped != cycles {
		t.Errorf("ghost skipped %v times in %v cycles, want once per cycle", skipped, cycles)
	}
	for _, c := range []struct{ service, endpoint string }{
		{"authentik", "/api/v3/core/groups/"},
		{"authentik", "/api/v3/core/users/"},
		{"homeserver", "/_matrix/client/v3/rooms/{roomId}/state"},
		{"homeserver", "/_matrix/client/v3/rooms/{roomId}/invite"},
	} {
		if e.value("upstream_requests_total", map[string]string{"service": c.service, "endpoint": c.endpoint}) < 1 {
			t.Errorf("no %s request counted for %s", c.service, c.endpoint)
		}
	}
	if e.value("last_success_timestamp_seconds", nil) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Error("last success timestamp is not recent")
	}
	lintAndCheckLabels(t, e)

	// Bob leaves the group: one removal scheduled, then one kick after one backup.
	ak.RemoveMembers("staff", "bob")
	b.waitValue(t, "actions_total", map[string]string{"action": "schedule", "result": "ok", "room": r}, 1)
	waitMembership(t, room, uid("bob"), "leave")
	b.waitValue(t, "actions_total", map[string]string{"action": "kick", "result": "ok", "room": r}, 1)
	b.waitCycles(1)
	e = b.scrape(t)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"actions_total", map[string]string{"action": "kick", "result": "ok", "room": r}, 1},
		{"actions_total", map[string]string{"action": "schedule", "room": r}, 1},
		{"backups_total", map[string]string{"result": "ok"}, 1},
		{"backups_total", map[string]string{"result": "failed"}, 0},
		{"pending_removals", map[string]string{"room": r}, 0},
		{"managed_members", map[string]string{"room": r}, 2},
		{"group_members", map[string]string{"group": "staff"}, 2},
		{"removals_held", nil, 0},
		{"cycles_total", map[string]string{"result": "failed"}, 0},
	} {
		if got := e.value(c.name, c.labels); got != c.want {
			t.Errorf("after the kick: %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if e.value("last_backup_timestamp_seconds", nil) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Error("last backup timestamp is not recent")
	}

	// Ready: every check named and passing.
	resp, err := http.Get("http://" + b.health + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ready struct {
		Status string                       `json:"status"`
		Checks map[string]struct{ OK bool } `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || ready.Status != "ready" || len(ready.Checks) != 4 {
		t.Errorf("/ready: %d %+v", resp.StatusCode, ready)
	}
	for _, name := range []string{"store", "authentik", "homeserver", "cycle"} {
		if !ready.Checks[name].OK {
			t.Errorf("/ready check %s failed: %+v", name, ready)
		}
	}
	// Every line of a cycle, the upstream requests included, carries the cycle's ID.
	requests := b.logLines("Upstream request")
	if len(requests) == 0 {
		t.Fatal("no upstream request logged at debug level")
	}
	withCycle := 0
	for _, l := range requests {
		if c, _ := l["cycle"].(string); c != "" {
			withCycle++
		}
	}
	if withCycle < len(requests)/2 {
		t.Errorf("only %d of %d upstream request lines carry a cycle ID", withCycle, len(requests))
	}
	for _, l := range b.logLines("Kicked user") {
		if l["group"] != "staff" || l["cycle"] == nil || l["user"] != string(uid("bob")) {
			t.Errorf("kick line lacks group, user or cycle: %v", l)
		}
	}
}

// lintAndCheckLabels runs Prometheus' metric lint over the exposition and checks that no label
// value is a user ID.
func lintAndCheckLabels(t *testing.T, e exposition) {
	t.Helper()
	problems, err := promlint.New(bytes.NewReader(e.raw)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	for name, mf := range e.families {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if strings.HasPrefix(lp.GetValue(), "@") || strings.Contains(lp.GetValue(), "/@") {
					t.Errorf("%s has a user ID in label %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// secrets are the tokens a bot of this suite may hold; none may ever reach its log.
func secrets(t *testing.T) []string {
	t.Helper()
	out := []string{authentikToken, env.asBot.Token, env.client.Token}
	var reg struct {
		HSToken string `yaml:"hs_token"`
	}
	if data, err := os.ReadFile(env.regPath); err == nil && yaml.Unmarshal(data, &reg) == nil && reg.HSToken != "" {
		out = append(out, reg.HSToken)
	}
	return out
}

// checkLogHasNoSecrets fails the test when the bot's log holds a token; every bot of the suite
// runs it when it ends, so a whole run's logs (at debug level) are covered.
func (b *bot) checkLogHasNoSecrets() {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return
	}
	for _, s := range secrets(b.t) {
		if s != "" && bytes.Contains(data, []byte(s)) {
			b.t.Errorf("bot log %s holds a token (%d characters starting %q)", b.logPath, len(s), s[:min(4, len(s))])
		}
	}
}
