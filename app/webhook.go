package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/httpserver"
	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/webhook"
)

// groupLister reads Authentik's group tree, to find the groups above a changed one.
type groupLister interface {
	ListGroups(ctx context.Context) ([]directory.Group, error)
}

// groupTreeTimeout bounds the one group listing a webhook trigger makes.
const groupTreeTimeout = 30 * time.Second

// startWebhook serves Authentik's notification webhooks on webhook.listen, when it is set, and
// whatever mount adds to the listener (the SCIM endpoint, whose longer timeouts the listener then
// takes; nil adds nothing).
func startWebhook(ctx context.Context, cfg *config.Config, w *world, m *metrics.Metrics, rec *reconcile.Reconciler, goRun func(func() error), mount func(*http.ServeMux)) {
	if cfg.Webhook.Listen == "" {
		return
	}
	log := w.log.With().Str("component", "webhook").Logger()
	lister, _ := w.dir.Source.(groupLister)
	trig := &webhookTrigger{ctx: ctx, rec: rec, groups: lister, log: log}
	h := newWebhookHandler(cfg, log, trig.fire, webhook.NewMetrics(m.Registry())) // secrets.go
	mux := http.NewServeMux()
	mux.Handle(webhook.Path, h)
	if mount != nil {
		mount(mux)
	}
	goRun(func() error {
		defer h.Close()
		return serve(ctx, w.listeners.webhook, webhookListener(cfg.Webhook.Listen, mux, mount != nil), log)
	})
}

// webhookTimeout bounds reading and writing one webhook request: Authentik's calls are small and
// answered at once.
const webhookTimeout = 10 * time.Second

// webhookListener is the webhook's listener, serving h. When the SCIM endpoint is mounted on it,
// its requests get SCIM's longer timeouts.
func webhookListener(addr string, h http.Handler, scimMounted bool) listener {
	timeout := webhookTimeout
	if scimMounted {
		timeout = scimTimeout
	}
	return listener{addr: addr, handler: h, timeout: timeout, path: webhook.Path,
		what: "Authentik webhooks", fix: "set webhook.listen / WEBHOOK_LISTEN to a free address, or empty to disable",
		peer: "Authentik webhooks", name: "webhook"}
}

// listener is one HTTP listener of the program: where it listens, what it serves, how long a
// request may take, and the words its log and error messages use.
type listener struct {
	addr    string
	handler http.Handler
	timeout time.Duration // for reading and for writing one request
	path    string        // logged with the address
	what    string        // "listen for <what> on <addr>" when the address is refused
	fix     string        // what to do then
	peer    string        // "Listening for <peer>"
	name    string        // "<name> listener on <addr>" when serving fails
}

// server is the HTTP server for l, with its timeouts.
func (l listener) server() *http.Server {
	srv := httpserver.NewServer(l.addr, l.handler)
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, l.timeout, l.timeout
	return srv
}

// serve runs l on ln (bound at start-up by bindListeners; nil: bound here) until ctx ends.
func serve(ctx context.Context, ln net.Listener, l listener, log zerolog.Logger) error {
	if ln == nil {
		var err error
		if ln, err = l.listen(); err != nil {
			return err
		}
	}
	srv := l.server()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info().Str("listen", ln.Addr().String()).Str("path", l.path).Msg("Listening for " + l.peer)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener on %s: %w", l.name, l.addr, err)
	}
	return nil
}

// groupTrigger is the reconciler's side of a webhook.
type groupTrigger interface {
	TriggerGroups(groups []string)
}

var _ groupTrigger = (*reconcile.Reconciler)(nil)

// webhookTrigger turns a debounced batch of webhook calls into a reconciler trigger.
type webhookTrigger struct {
	ctx    context.Context
	rec    groupTrigger
	groups groupLister // nil: every change syncs every mapping
	log    zerolog.Logger
}

// fire triggers a cycle for the named groups and every group above them (a member of a subgroup
// is a member of its parents), or for everything when that cannot be worked out.
func (t *webhookTrigger) fire(groups []string) {
	if groups == nil || t.groups == nil {
		t.rec.TriggerGroups(nil)
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, groupTreeTimeout)
	defer cancel()
	tree, err := t.groups.ListGroups(ctx)
	if err != nil {
		t.log.Warn().Err(err).Strs("groups", groups).Msg("Group tree unreadable; syncing every mapping for this webhook")
		t.rec.TriggerGroups(nil)
		return
	}
	scope, ok := withAncestors(tree, groups)
	if !ok {
		// Most likely a deleted group: nobody can say which rooms it fed.
		t.log.Info().Strs("groups", groups).Msg("Webhook names a group Authentik no longer lists; syncing every mapping")
		t.rec.TriggerGroups(nil)
		return
	}
	t.rec.TriggerGroups(scope)
}

// withAncestors returns names with the names of every group above them, sorted; ok is false when
// a name is not in tree.
func withAncestors(tree []directory.Group, names []string) (scope []string, ok bool) {
	byName := make(map[string]string, len(tree))
	nameOf := make(map[string]string, len(tree))
	parents := map[string][]string{}
	for _, g := range tree {
		byName[g.Name], nameOf[g.PK] = g.PK, g.Name
		for _, child := range g.Children {
			parents[child] = append(parents[child], g.PK)
		}
	}
	seen := map[string]bool{}
	var queue []string
	for _, n := range names {
		pk, found := byName[n]
		if !found {
			return nil, false
		}
		queue = append(queue, pk)
	}
	for len(queue) > 0 {
		pk := queue[0]
		queue = queue[1:]
		if seen[pk] {
			continue
		}
		seen[pk] = true
		if name, known := nameOf[pk]; known {
			scope = append(scope, name)
		}
		queue = append(queue, parents[pk]...)
	}
	slices.Sort(scope)
	return scope, true
}
