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
	"net"
	"net/http"
	"time"

	syncer "authentik-matrix-sync/sync"
)

// Cycles gives the latest finished cycle (nil before the first).
type Cycles interface {
	LastCycle() *syncer.CycleResult
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
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics and health checks on %s: %w (set metrics.listen / METRICS_LISTEN to a free address, or empty to disable)", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: time.Minute}
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

// Check asks a running instance's /health and returns nil when it answers 200.
func Check(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("health listen address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/health", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health endpoint unreachable: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health endpoint answered %s", resp.Status)
	}
	return nil
}
