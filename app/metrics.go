package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/health"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/reconcile"
)

// minReadyAge keeps /ready from flapping with very short sync intervals (tests, demos), where
// three intervals are less than one slow cycle.
const minReadyAge = 30 * time.Second

func newMetrics() *metrics.Metrics { return metrics.New(metrics.ReadBuildInfo(Version)) }

// httpClientFor returns a client whose requests to service are counted, or nil (the client's
// own default) without metrics.
func httpClientFor(m *metrics.Metrics, service string) *http.Client {
	if m == nil {
		return nil
	}
	return &http.Client{Transport: m.Transport(service, nil)}
}

// listenerHandler is everything the metrics listener serves. /ready holds a leader to its cycles
// and their upstream answers; a follower and a paused bot pass those checks with a note, since
// neither is expected to run cycles, and only the store must answer everywhere.
func listenerHandler(cfg *config.Config, m *metrics.Metrics, cycles health.Cycles, st reconcile.Store, lead *health.Leadership) http.Handler {
	maxAge := max(3*cfg.Sync.Interval, minReadyAge)
	answered := func(service string) func() time.Time {
		return func() time.Time { return m.LastAnswer(service) }
	}
	excuse := health.Excuse(lead, cycles, maxAge, time.Now)
	recent := func(what string, last func() time.Time) func(context.Context) error {
		return health.RecentSinceLeading(what, last, lead, maxAge, time.Now)
	}
	ready := health.ReadyHandler(
		health.Condition{Name: "store", Run: storeCheck(st)},
		health.Condition{Name: "authentik", Run: recent("answer from Authentik", answered(metrics.ServiceAuthentik)), Note: excuse},
		health.Condition{Name: "homeserver", Run: recent("answer from the homeserver", answered(metrics.ServiceHomeserver)), Note: excuse},
		health.Condition{Name: "cycle", Run: recent("finished cycle", health.LastCycleEnd(cycles)), Note: excuse},
	)
	return health.Mux(health.Endpoints{Health: health.Handler(time.Now(), cycles), Ready: ready,
		Metrics: m.Handler(), Pprof: cfg.Metrics.Pprof})
}

// Healthcheck is the subcommand Docker's HEALTHCHECK runs: exit 0 when the running bot's /ready
// answers 200, or its /health with live set.
func Healthcheck(ctx context.Context, path string, live bool) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	if cfg.Metrics.Listen == "" {
		return errors.New("metrics.listen / METRICS_LISTEN is empty: the health endpoints are disabled, so there is nothing to check")
	}
	endpoint := health.PathReady
	if live {
		endpoint = health.PathHealth
	}
	return health.Check(ctx, cfg.Metrics.Listen, endpoint)
}

// storeCheck asks the store to answer: with Ping where the store has one, else by reading the
// state, which is small.
func storeCheck(st reconcile.Store) func(context.Context) error {
	if p, ok := st.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := st.LoadState(ctx)
		return err
	}
}
