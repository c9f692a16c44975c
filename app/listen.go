package app

import (
	"fmt"
	"net"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/health"
)

// boundListeners are the program's TCP listeners, bound before the store opens and before the
// start-up checks and the first cycle: an address in use then stops the program at once with an
// error naming the setting, instead of after a cycle, which under a restart policy would run
// that cycle again on every restart. A nil field is a listener the configuration turns off.
type boundListeners struct {
	metrics    net.Listener // metrics.listen: /metrics, /health, /ready
	appservice net.Listener // appservice.hostname:port, for the homeserver's transactions
	webhook    net.Listener // webhook.listen, with the SCIM endpoint when scim.listen is empty
	scim       net.Listener // scim.listen
}

// bindListeners binds every listener cfg turns on. On an error it closes those already bound.
func bindListeners(cfg *config.Config) (*boundListeners, error) {
	b := &boundListeners{}
	var err error
	if cfg.Metrics.Listen != "" {
		b.metrics, err = health.Listen(cfg.Metrics.Listen)
	}
	if err == nil && cfg.AppserviceMode() {
		b.appservice, err = appserviceListen(cfg)
	}
	if err == nil && cfg.Webhook.Listen != "" {
		b.webhook, err = webhookListener(cfg.Webhook.Listen, nil, false).listen()
	}
	if err == nil && cfg.SCIMEnabled() && cfg.SCIM.Listen != "" {
		b.scim, err = scimListener(cfg.SCIM.Listen, nil).listen()
	}
	if err != nil {
		b.close()
		return nil, err
	}
	return b, nil
}

// appserviceAddr is where the homeserver's transactions arrive.
func appserviceAddr(cfg *config.Config) string {
	return net.JoinHostPort(cfg.Appservice.Hostname, fmt.Sprint(cfg.Appservice.Port))
}

func appserviceListen(cfg *config.Config) (net.Listener, error) {
	addr := appserviceAddr(cfg)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the homeserver's transactions on %s: %w (set appservice.hostname and appservice.port to a free address, and the registration's url to match)", addr, err)
	}
	return ln, nil
}

// listen binds l's address, with an error that names the setting to change.
func (l listener) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return nil, fmt.Errorf("listen for %s on %s: %w (%s)", l.what, l.addr, err, l.fix)
	}
	return ln, nil
}

// close closes every listener. Closing one a server already shut down only returns an error.
func (b *boundListeners) close() {
	if b == nil {
		return
	}
	for _, ln := range []net.Listener{b.metrics, b.appservice, b.webhook, b.scim} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}
