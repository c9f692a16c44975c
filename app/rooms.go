package app

import (
	"maunium.net/go/mautrix/event"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/reconcile"
)

// roomsFor is what the reconciler reads rooms through. In appservice mode the homeserver pushes
// every change of the bot's rooms, so a cache re-reads only the rooms that changed; observe must
// then see every pushed event. Client mode has no such feed and reads every room every cycle.
func roomsFor(cfg *config.Config, w *world) (rooms reconcile.Rooms, observe func(*event.Event)) {
	if !cfg.AppserviceMode() {
		return w.matrix, nil
	}
	cache := appservice.NewRoomCache(w.matrix, cfg.Sync.FullResyncInterval)
	return cache, cache.Observe
}
