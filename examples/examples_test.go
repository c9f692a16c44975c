package examples

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/reconcile"
)

// exportedNames lists every series name the bot exports, after moving each metric once so
// that the labelled ones appear.
func exportedNames(t *testing.T) []string {
	t.Helper()
	m := metrics.New(metrics.ReadBuildInfo("test"))
	room := id.RoomID("!r:example.org")
	m.ActionFinished("invite", room, reconcile.ResultOK)
	m.CycleFinished(reconcile.CycleResult{Started: time.Now()}, reconcile.CycleStats{GroupMembers: map[string]int{"g": 1},
		ManagedMembers: map[id.RoomID]int{room: 1}, PendingRemovals: map[id.RoomID]int{room: 0}})
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	resp, err := (&http.Client{Transport: m.Transport(metrics.ServiceAuthentik, nil)}).Get(srv.URL + "/api/v3/core/users/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		n := f.GetName()
		names = append(names, n)
		if f.GetType().String() == "HISTOGRAM" {
			names = append(names, n+"_bucket", n+"_sum", n+"_count")
		}
	}
	return names
}

var metricName = regexp.MustCompile(`\bauthentik_matrix_sync_[a-z_]+`)

func checkExprs(t *testing.T, where string, exprs []string, names []string) {
	t.Helper()
	if len(exprs) == 0 {
		t.Fatalf("%s: no expressions found", where)
	}
	for _, expr := range exprs {
		used := metricName.FindAllString(expr, -1)
		if len(used) == 0 && where != "alerts.yml" {
			t.Errorf("%s: %q names no metric of the bot", where, expr)
		}
		for _, u := range used {
			if !slices.Contains(names, u) {
				t.Errorf("%s: %q uses %s, which the bot does not export", where, expr, u)
			}
		}
	}
}

func TestAlertRulesNameExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %q lacks a name, summary or description", r.Expr)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	checkExprs(t, "alerts.yml", exprs, exportedNames(t))
}

func TestDashboardNamesExportedMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	checkExprs(t, "grafana-dashboard.json", exprs, exportedNames(t))
}

// TestPromtool runs promtool over the rules and the scrape configuration where it is installed
// (Debian: apt-get install prometheus).
func TestPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"check", "config", "prometheus.yml"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "promtool", args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
