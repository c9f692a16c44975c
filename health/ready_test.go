package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"authentik-matrix-sync/reconcile"
)

func TestReady(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	at := func(sec int64) func() time.Time { return func() time.Time { return time.Unix(sec, 0) } }
	tests := []struct {
		name       string
		conds      []Condition
		wantStatus int
		want       map[string]CheckResult
	}{
		{"all hold", []Condition{
			{Name: "store", Run: func(context.Context) error { return nil }},
			{Name: "authentik", Run: Recent("answer from Authentik", at(900), 180*time.Second, clock)},
		}, 200, map[string]CheckResult{"store": {OK: true}, "authentik": {OK: true}}},
		{"one stale, one never", []Condition{
			{Name: "store", Run: func(context.Context) error { return errors.New("database is locked") }},
			{Name: "homeserver", Run: Recent("answer from the homeserver", at(700), 180*time.Second, clock)},
			{Name: "cycle", Run: Recent("cycle", func() time.Time { return time.Time{} }, time.Minute, clock)},
		}, 503, map[string]CheckResult{
			"store":      {Error: "database is locked"},
			"homeserver": {Error: "last answer from the homeserver was 5m0s ago, more than 3m0s"},
			"cycle":      {Error: "no cycle yet"},
		}},
		{"a note passes the check without running it", []Condition{
			{Name: "cycle", Run: func(context.Context) error { panic("ran a noted check") }, Note: func() string { return "follower: not running cycles" }},
			{Name: "store", Run: func(context.Context) error { return nil }, Note: func() string { return "" }},
		}, 200, map[string]CheckResult{"cycle": {OK: true, Detail: "follower: not running cycles"}, "store": {OK: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ReadyHandler(tt.conds...).ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
			var rep ReadyReport
			if err := json.NewDecoder(rec.Body).Decode(&rep); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.wantStatus || len(rep.Checks) != len(tt.want) {
				t.Fatalf("status %d, report %+v", rec.Code, rep)
			}
			for name, want := range tt.want {
				if rep.Checks[name] != want {
					t.Errorf("check %s = %+v, want %+v", name, rep.Checks[name], want)
				}
			}
			if (rep.Status == "ready") != (tt.wantStatus == 200) {
				t.Errorf("status text %q with code %d", rep.Status, rec.Code)
			}
		})
	}
}

func TestLastCycleEnd(t *testing.T) {
	if !LastCycleEnd(fixedCycles{})().IsZero() {
		t.Error("an end time before any cycle")
	}
	c := &reconcile.CycleResult{Started: time.Unix(100, 0), Duration: 3 * time.Second}
	if got := LastCycleEnd(fixedCycles{c})(); !got.Equal(time.Unix(103, 0)) {
		t.Errorf("end = %v", got)
	}
}

func TestMuxServesPprofOnlyWhenAsked(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics here")) })
	for _, pprof := range []bool{false, true} {
		srv := httptest.NewServer(Mux(Endpoints{Health: Handler(time.Now(), fixedCycles{}), Ready: ReadyHandler(), Metrics: ok, Pprof: pprof}))
		codes := map[string]int{}
		for _, path := range []string{"/health", "/ready", "/metrics", "/debug/pprof/", "/nothing"} {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes[path] = resp.StatusCode
		}
		srv.Close()
		wantPprof := map[bool]int{false: 404, true: 200}[pprof]
		if codes["/health"] != 200 || codes["/ready"] != 200 || codes["/metrics"] != 200 || codes["/nothing"] != 404 || codes["/debug/pprof/"] != wantPprof {
			t.Errorf("pprof=%v: codes %v", pprof, codes)
		}
	}
}

// TestReadyForEachRole runs the checks /ready makes of the cycles (listenerHandler's) for each
// role an instance can be in: only a leader whose cycles stopped fails them.
func TestReadyForEachRole(t *testing.T) {
	const maxAge = 30 * time.Second
	now := time.Unix(10_000, 0)
	clock := func() time.Time { return now }
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cycle := func(endedAgo time.Duration, paused bool) *reconcile.CycleResult {
		return &reconcile.CycleResult{ID: "c", Started: ago(endedAgo + time.Second), Duration: time.Second, Paused: paused}
	}
	tests := []struct {
		name string
		// role and since set the Leadership; since is how long ago the role began.
		role  Role
		since time.Duration
		last  *reconcile.CycleResult
		// answered is how long ago the upstream services last answered; 0 means never.
		answered time.Duration
		want     CheckResult
	}{
		{"starting, no cycle yet", RoleStarting, 0, nil, 0, CheckResult{Error: "no finished cycle yet"}},
		{"follower", RoleFollower, time.Hour, nil, 0, CheckResult{OK: true, Detail: NoteFollower}},
		{"follower that led before", RoleFollower, time.Hour, cycle(time.Hour, false), time.Hour, CheckResult{OK: true, Detail: NoteFollower}},
		{"leader with a recent cycle", RoleLeader, time.Hour, cycle(5*time.Second, false), 5 * time.Second, CheckResult{OK: true}},
		{"leader with a stale cycle", RoleLeader, time.Hour, cycle(31*time.Second, false), 31 * time.Second,
			CheckResult{Error: "last finished cycle was 31s ago, more than 30s"}},
		{"leader that just took over, its old cycle stale", RoleLeader, 2 * time.Second, cycle(time.Hour, false), time.Hour, CheckResult{OK: true}},
		{"leader that took over too long ago without a cycle", RoleLeader, 40 * time.Second, nil, 0,
			CheckResult{Error: "no finished cycle in the 40s since this instance began leading, more than 30s"}},
		{"paused leader", RoleLeader, time.Hour, cycle(2*time.Second, true), time.Hour, CheckResult{OK: true, Detail: NotePaused}},
		{"paused leader whose loop stalled", RoleLeader, time.Hour, cycle(time.Minute, true), time.Hour,
			CheckResult{Error: "last finished cycle was 1m0s ago, more than 30s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lead := NewLeadership(func() time.Time { return ago(tt.since) })
			if tt.role != RoleStarting {
				lead.Set(tt.role == RoleLeader)
			}
			cycles := fixedCycles{tt.last}
			answered := func() time.Time {
				if tt.answered == 0 {
					return time.Time{}
				}
				return ago(tt.answered)
			}
			excuse := Excuse(lead, cycles, maxAge, clock)
			rec := httptest.NewRecorder()
			ReadyHandler(
				Condition{Name: "store", Run: func(context.Context) error { return nil }},
				Condition{Name: "authentik", Run: RecentSinceLeading("answer from Authentik", answered, lead, maxAge, clock), Note: excuse},
				Condition{Name: "cycle", Run: RecentSinceLeading("finished cycle", LastCycleEnd(cycles), lead, maxAge, clock), Note: excuse},
			).ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
			var rep ReadyReport
			if err := json.NewDecoder(rec.Body).Decode(&rep); err != nil {
				t.Fatal(err)
			}
			if got := rep.Checks["cycle"]; got != tt.want {
				t.Errorf("cycle check = %+v, want %+v", got, tt.want)
			}
			if tt.want.OK && tt.want.Detail != "" && rep.Checks["authentik"] != tt.want {
				t.Errorf("authentik check = %+v, want the same note as the cycle: %+v", rep.Checks["authentik"], tt.want)
			}
			if wantCode := map[bool]int{true: 200, false: 503}[rep.Checks["cycle"].OK && rep.Checks["authentik"].OK]; rec.Code != wantCode {
				t.Errorf("status %d, want %d: %+v", rec.Code, wantCode, rep)
			}
			if !rep.Checks["store"].OK || rep.Checks["store"].Detail != "" {
				t.Errorf("the store check is never excused: %+v", rep.Checks["store"])
			}
		})
	}
}

func TestLeadershipCountsFromTheChange(t *testing.T) {
	now := time.Unix(100, 0)
	lead := NewLeadership(func() time.Time { return now })
	if role, since := lead.Role(); role != RoleStarting || !since.IsZero() {
		t.Fatalf("new Leadership = %v since %v", role, since)
	}
	var told []bool
	set := lead.Tracking(func(b bool) { told = append(told, b) })
	set(false)
	now = now.Add(time.Minute)
	set(true)
	now = now.Add(time.Minute)
	set(true) // still leading: the time does not move
	if role, since := lead.Role(); role != RoleLeader || !since.Equal(time.Unix(160, 0)) {
		t.Errorf("Role = %v since %v, want leader since 160", role, since)
	}
	if len(told) != 3 {
		t.Errorf("the wrapped setter was told %v", told)
	}
}
