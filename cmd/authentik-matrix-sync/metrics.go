package main

import (
	"context"
	"net/http"
	"time"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/health"
	"authentik-matrix-sync/metrics"
	syncer "authentik-matrix-sync/sync"
)

// minReadyAge keeps /ready from flapping with very short sync intervals (tests, demos), where
// three intervals are less than one slow cycle.
const minReadyAge = 30 * time.Second

func newMetrics() *metrics.Metrics { return metrics.New(metrics.ReadBuildInfo(version)) }

// httpClientFor returns a client whose requests to service are counted, or nil (the client's
// own default) without metrics.
func httpClientFor(m *metrics.Metrics, service string) *http.Client {
	if m == nil {
		return nil
	}
	return &http.Client{Transport: m.Transport(service, nil)}
}

// listenerHandler is everything the metrics listener serves.
func listenerHandler(cfg *config.Config, m *metrics.Metrics, cycles health.Cycles, st syncer.Store) http.Handler {
	maxAge := max(3*cfg.Sync.Interval, minReadyAge)
	answered := func(service string) func() time.Time {
		return func() time.Time { return m.LastAnswer(service) }
	}
	ready := health.ReadyHandler(
		health.Condition{Name: "store", Run: storeCheck(st)},
		health.Condition{Name: "authentik", Run: health.Recent("answer from Authentik", answered(metrics.ServiceAuthentik), maxAge, time.Now)},
		health.Condition{Name: "homeserver", Run: health.Recent("answer from the homeserver", answered(metrics.ServiceHomeserver), maxAge, time.Now)},
		health.Condition{Name: "cycle", Run: health.Recent("finished cycle", health.LastCycleEnd(cycles), maxAge, time.Now)},
	)
	return health.Mux(health.Endpoints{Health: health.Handler(time.Now(), cycles), Ready: ready,
		Metrics: m.Handler(), Pprof: cfg.Metrics.Pprof})
}

// storeCheck asks the store to answer: with Ping where the store has one, else by reading the
// state, which is small.
func storeCheck(st syncer.Store) func(context.Context) error {
	if p, ok := st.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := st.LoadState(ctx)
		return err
	}
}
