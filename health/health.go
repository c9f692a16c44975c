// Package health serves the liveness (/health) and readiness (/ready) endpoints that container
// orchestrators poll, routes the metrics listener, and holds the
// client side that the `healthcheck` subcommand runs inside the container.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"authentik-matrix-sync/httpserver"
	"authentik-matrix-sync/reconcile"
)

// Cycles gives the latest finished cycle (nil before the first).
type Cycles interface {
	LastCycle() *reconcile.CycleResult
}

// Report is the JSON body of GET /health.
type Report struct {
	Status    string      `json:"status"`
	Started   time.Time   `json:"started"`
	LastCycle *CycleBrief `json:"last_cycle,omitempty"`
}

// CycleBrief sums up a cycle for the health body.
type CycleBrief struct {
	ID       string         `json:"id"`
	Started  time.Time      `json:"started"`
	Duration string         `json:"duration"`
	Ok       bool           `json:"ok"`
	Error    string         `json:"error,omitempty"`
	Done     map[string]int `json:"done"`
	Failed   map[string]int `json:"failed"`
	Warnings int            `json:"warnings"`
}

// Handler serves GET /health: 200 while the process runs. It reports the last cycle so a person
// can read it, but a failing cycle does not make the process unhealthy (a restart would not help).
func Handler(started time.Time, cycles Cycles) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		rep := Report{Status: "ok", Started: started.UTC()}
		if c := cycles.LastCycle(); c != nil {
			b := &CycleBrief{ID: c.ID, Started: c.Started.UTC(), Duration: c.Duration.String(), Ok: c.Ok(),
				Done: c.Done, Failed: c.Failed, Warnings: len(c.Warnings)}
			if c.Err != nil {
				b.Error = c.Err.Error()
			}
			rep.LastCycle = b
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
	return mux
}

// Serve runs the HTTP server on addr until ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := Listen(addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, ln, h)
}

// Listen binds addr for ServeListener. The program binds it before anything else starts, so an
// address in use stops it at once with this error.
func Listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for metrics and health checks on %s: %w (set metrics.listen / METRICS_LISTEN to a free address, or empty to disable)", addr, err)
	}
	return ln, nil
}

// ServeListener is Serve on a listener bound by Listen; it closes ln.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := httpserver.NewServer(ln.Addr().String(), h)
	// Scrapes and health checks are small and quick; the profiler's 30 s CPU profile is the
	// longest answer, within httpserver.WriteTimeout.
	srv.ReadHeaderTimeout, srv.ReadTimeout = 5*time.Second, 10*time.Second
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Paths a Check may ask.
const (
	PathReady  = "/ready"
	PathHealth = "/health"
)

// Check asks a running instance's path (PathReady or PathHealth) and returns nil when it answers
// 200. A /ready that answers otherwise is reported with the checks that failed, so the reason
// shows in `docker inspect`.
func Check(ctx context.Context, addr, path string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("health listen address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s unreachable: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var rep ReadyReport
	if path == PathReady && json.Unmarshal(body, &rep) == nil && len(rep.Checks) > 0 {
		var failed []string
		for _, name := range slices.Sorted(maps.Keys(rep.Checks)) {
			if c := rep.Checks[name]; !c.OK {
				failed = append(failed, name+": "+c.Error)
			}
		}
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.Join(failed, "; "))
	}
	return fmt.Errorf("%s answered %s", url, resp.Status)
}
