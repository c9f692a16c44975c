package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/scim"
	"authentik-matrix-sync/scimstate"
	"authentik-matrix-sync/webhook"
)

// useSCIM loads what Authentik's SCIM provider pushed, when the SCIM endpoint is on or the
// directory comes from it, and with directory.source scim makes it the source of group members
// (mapped to Matrix IDs as Authentik's API users are). It returns nil when SCIM is off.
func (w *world) useSCIM(ctx context.Context, st stateStore) (*scim.Resources, error) {
	cfg := w.cfg
	if !cfg.SCIMEnabled() && cfg.Directory.Source != config.DirectorySourceSCIM {
		return nil, nil
	}
	ss, ok := st.(scimstate.Store)
	if !ok {
		return nil, errors.New("the state store cannot keep the SCIM state")
	}
	res, err := scim.Open(ctx, ss, scim.Settings{Settle: cfg.SCIM.Settle, Log: w.log.With().Str("component", "scim").Logger()})
	if err != nil {
		return nil, err
	}
	if cfg.Directory.Source == config.DirectorySourceSCIM {
		// Authentik pushes direct members only: the group tree comes from its API each cycle.
		if w.ak == nil {
			return nil, scim.ErrNoGroupTree
		}
		src, err := scim.NewSource(res, w.ak)
		if err != nil {
			return nil, err
		}
		w.dir.Source = src
		w.log.Info().Float64("settle_seconds", cfg.SCIM.Settle.Seconds()).
			Msg("Group members come from Authentik's SCIM provider (directory.source: scim); subgroups from Authentik's group tree")
	}
	return res, nil
}

// startSCIM serves the SCIM endpoint when it is on: on scim.listen, or, when that is empty, on
// the webhook's listener, for which it returns the mount. Every push that changes a group's
// members triggers a cycle for that group's rooms (and the rooms of the groups above it) through
// the webhook's trigger, with either directory source.
func startSCIM(ctx context.Context, cfg *config.Config, w *world, res *scim.Resources, m *metrics.Metrics, rec *reconcile.Reconciler, goRun func(func() error)) (func(*http.ServeMux), error) {
	if res == nil || !cfg.SCIMEnabled() {
		return nil, nil
	}
	log := w.log.With().Str("component", "scim").Logger()
	lister, _ := w.dir.Source.(groupLister)
	trig := &webhookTrigger{ctx: ctx, rec: rec, groups: lister, log: log}
	batch := webhook.NewBatcher(nil, cfg.SCIM.Debounce, trig.fire)
	opts := scim.Options{Token: cfg.SCIM.Token, Resources: res, Log: log, Metrics: scim.NewMetrics(m.Registry()),
		OnChange: func(groups []string) {
			log.Debug().Strs("groups", groups).Msg("SCIM change; syncing the groups' rooms soon")
			batch.Add(groups...)
		}}
	h, err := scim.New(opts)
	if err != nil {
		return nil, err
	}
	// With the token in a file, a new token gets a handler of its own (secrets.go).
	live := liveSecretHandler(cfg.LiveSCIMToken(log), cfg.SCIM.Token, h, func(token string) (http.Handler, error) {
		o := opts
		o.Token = token
		return scim.New(o)
	}, log)
	mount := func(mux *http.ServeMux) { mux.Handle(scim.BasePath, live) }
	if cfg.SCIM.Listen == "" {
		log.Info().Str("listen", cfg.Webhook.Listen).Str("path", scim.BasePath).Msg("SCIM endpoint on the webhook listener")
		goRun(func() error { <-ctx.Done(); batch.Close(); return nil })
		return mount, nil
	}
	mux := http.NewServeMux()
	mount(mux)
	goRun(func() error {
		defer batch.Close()
		return serve(ctx, w.listeners.scim, scimListener(cfg.SCIM.Listen, mux), log)
	})
	return nil, nil
}

// scimTimeout bounds reading and writing one SCIM request, on whichever listener: a PATCH of a
// large group carries up to a thousand operations, hence longer than the webhook's.
const scimTimeout = 30 * time.Second

// scimListener is the SCIM endpoint's own listener (scim.listen), serving h.
func scimListener(addr string, h http.Handler) listener {
	return listener{addr: addr, handler: h, timeout: scimTimeout, path: scim.BasePath,
		what: "SCIM", fix: "set scim.listen / SCIM_LISTEN to a free address, or empty to share webhook.listen",
		peer: "Authentik's SCIM provider", name: "SCIM"}
}
