package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	syncer "authentik-matrix-sync/sync"
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
			{"store", func(context.Context) error { return nil }},
			{"authentik", Recent("answer from Authentik", at(900), 180*time.Second, clock)},
		}, 200, map[string]CheckResult{"store": {OK: true}, "authentik": {OK: true}}},
		{"one stale, one never", []Condition{
			{"store", func(context.Context) error { return errors.New("database is locked") }},
			{"homeserver", Recent("answer from the homeserver", at(700), 180*time.Second, clock)},
			{"cycle", Recent("cycle", func() time.Time { return time.Time{} }, time.Minute, clock)},
		}, 503, map[string]CheckResult{
			"store":      {Error: "database is locked"},
			"homeserver": {Error: "last answer from the homeserver was 5m0s ago, more than 3m0s"},
			"cycle":      {Error: "no cycle yet"},
		}},
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
	c := &syncer.CycleResult{Started: time.Unix(100, 0), Duration: 3 * time.Second}
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
