package app

import (
	"context"

	"authentik-matrix-sync/usermap"
)

// useExternalIDs maps users through Synapse's external IDs when the config asks for it, caching
// the answers in st. With readOnly (the plan subcommand's store) the cached answers are used and
// new ones are not stored.
func (w *world) useExternalIDs(st any, readOnly bool) {
	if !w.cfg.UsesExternalIDs() {
		return
	}
	e := w.cfg.UserMapping.ExternalID
	cache, _ := st.(usermap.ExternalCache)
	if cache != nil && readOnly {
		cache = readCache{cache}
	}
	provider, lookup := w.externalLookup()
	w.dir.External = &usermap.ExternalResolver{Provider: provider, Subject: e.Subject, Refresh: e.Refresh,
		Lookup: lookup, Cache: cache}
}

// checkExternalIDs refuses to start when external-ID mapping is configured but the bot may not
// use Synapse's admin API: every user would otherwise count as unmappable, every cycle.
func (w *world) checkExternalIDs(ctx context.Context) error {
	if !w.cfg.UsesExternalIDs() {
		return nil
	}
	if w.mas != nil {
		return w.checkMASLookup(ctx)
	}
	return w.matrix.CheckExternalIDAccess(ctx, w.cfg.UserMapping.ExternalID.AuthProvider)
}

// readCache serves cached lookups and drops new ones, for a store opened read-only.
type readCache struct{ usermap.ExternalCache }

func (readCache) PutExternalID(context.Context, string, string, usermap.CachedID) error { return nil }
