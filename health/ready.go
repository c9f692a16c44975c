package health

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"
)

// Condition is one readiness condition.
type Condition struct {
	Name string
	// Run returns nil while the condition holds, else why not.
	Run func(ctx context.Context) error
	// Note, if set, is asked first. A non-empty note says why the condition does not apply to
	// this instance now (a follower runs no cycles, a paused bot reads nothing): the check
	// passes with the note as its detail, and Run is not asked.
	Note func() string
}

// ReadyReport is the JSON body of GET /ready.
type ReadyReport struct {
	// Status is "ready" (HTTP 200) or "not ready" (HTTP 503).
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// CheckResult is one check's outcome.
type CheckResult struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// checkTimeout bounds each check, so that a hung store cannot hang the probe.
const checkTimeout = 2 * time.Second

// ReadyHandler serves GET /ready: 200 when every check holds, else 503, with a body naming each
// check either way.
func ReadyHandler(checks ...Condition) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rep := ReadyReport{Status: "ready", Checks: make(map[string]CheckResult, len(checks))}
		for _, c := range checks {
			if c.Note != nil {
				if note := c.Note(); note != "" {
					rep.Checks[c.Name] = CheckResult{OK: true, Detail: note}
					continue
				}
			}
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := c.Run(ctx)
			cancel()
			res := CheckResult{OK: err == nil}
			if err != nil {
				res.Error = err.Error()
				rep.Status = "not ready"
			}
			rep.Checks[c.Name] = res
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.Status != "ready" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// Recent returns a check that holds while last() is at most maxAge before now(). what names the
// event in the error ("answer from Authentik").
func Recent(what string, last func() time.Time, maxAge time.Duration, now func() time.Time) func(context.Context) error {
	return func(context.Context) error {
		at := last()
		if at.IsZero() {
			return fmt.Errorf("no %s yet", what)
		}
		if age := now().Sub(at); age > maxAge {
			return fmt.Errorf("last %s was %s ago, more than %s", what, age.Round(time.Second), maxAge)
		}
		return nil
	}
}

// LastCycleEnd is when the latest cycle ended, or the zero time before the first one; a cycle
// that failed counts too, since /ready asks whether cycles run, not whether they succeed.
func LastCycleEnd(cycles Cycles) func() time.Time {
	return func() time.Time {
		c := cycles.LastCycle()
		if c == nil {
			return time.Time{}
		}
		return c.Started.Add(c.Duration)
	}
}

// Endpoints are what the one HTTP listener serves.
type Endpoints struct {
	Health  http.Handler // GET /health
	Ready   http.Handler // GET /ready
	Metrics http.Handler // GET /metrics; nil leaves it out
	// Pprof serves Go's profiler under /debug/pprof/. It exposes internals (and costs CPU while
	// profiling), so it is off unless asked for.
	Pprof bool
}

// Mux routes the listener's paths to their handlers.
func Mux(e Endpoints) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /health", e.Health)
	mux.Handle("GET /ready", e.Ready)
	if e.Metrics != nil {
		mux.Handle("GET /metrics", e.Metrics)
	}
	if e.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
