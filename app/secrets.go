package app

import (
	"io"
	"net/http"
	"sync"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/webhook"
)

// Secrets read from files follow their files while the program runs (config.SecretFile): the
// Authentik token through the client's token source, the bot's access token through the
// homeserver client's transport, and the webhook secret and the SCIM token by building their
// handler again when the file holds a new one.

// secretSource is a secret that may change: config.SecretFile.
type secretSource interface {
	Current() string
	Recheck() bool
}

var _ secretSource = (*config.SecretFile)(nil)

// authentikToken is the Authentik token's file for the client to follow, or nil when the token
// is given as a value.
func authentikToken(cfg *config.Config, log zerolog.Logger) authentik.TokenSource {
	if f := cfg.LiveAuthentikToken(log); f != nil {
		return f
	}
	return nil
}

// withLiveAccessToken makes client (nil: a plain one) send the bot's access token as its file
// holds it now, when it comes from a file and the bot runs in client mode; otherwise client is
// returned as it is.
func withLiveAccessToken(client *http.Client, cfg *config.Config, log zerolog.Logger) *http.Client {
	f := cfg.LiveMatrixAccessToken(log)
	if f == nil || cfg.AppserviceMode() {
		return client
	}
	c := &http.Client{}
	if client != nil {
		c2 := *client
		c = &c2
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &liveBearer{base: base, started: cfg.Matrix.AccessToken, token: f}
	return c
}

// liveBearer sends, in place of the access token the program started with, the token its file
// holds now; after a 401 it reads the file again and, when that holds another token, sends the
// request once more with it (a 401 means the homeserver did nothing with the request).
// Requests carrying any other token (a MAS admin token) pass untouched.
type liveBearer struct {
	base    http.RoundTripper
	started string
	token   secretSource
}

func (t *liveBearer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "Bearer "+t.started {
		return t.base.RoundTrip(req)
	}
	resp, err := t.send(req, t.token.Current())
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) || !t.token.Recheck() {
		return resp, err
	}
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return t.send(retry, t.token.Current())
}

func (t *liveBearer) send(req *http.Request, token string) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return t.base.RoundTrip(r)
}

// liveSecretHandler serves with a handler built for the secret its file holds now, built again
// by build when the file holds another (build's error keeps the handler before, logged). After a
// 401 it reads the file at once, so that a caller already sending a new secret gets through on
// its next try. With no file (secret nil) it is h itself.
func liveSecretHandler(secret *config.SecretFile, started string, h http.Handler, build func(secret string) (http.Handler, error), log zerolog.Logger) http.Handler {
	if secret == nil {
		return h
	}
	return &liveHandler{secret: secret, build: build, log: log, value: started, h: h}
}

type liveHandler struct {
	secret secretSource
	build  func(string) (http.Handler, error)
	log    zerolog.Logger

	mu    sync.Mutex
	value string // the secret h was built for
	h     http.Handler
}

func (l *liveHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	l.current().ServeHTTP(rec, r)
	if rec.status == http.StatusUnauthorized {
		l.secret.Recheck()
	}
}

func (l *liveHandler) current() http.Handler {
	v := l.secret.Current()
	l.mu.Lock()
	defer l.mu.Unlock()
	if v != l.value {
		h, err := l.build(v)
		if err != nil {
			l.log.Error().Err(err).Msg("The new secret cannot be used; keeping the one before")
		} else {
			l.h, l.value = h, v
		}
	}
	return l.h
}

// statusRecorder notes the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// webhookHandler is the webhook endpoint with a Close that drops a trigger still waiting.
type webhookHandler interface {
	http.Handler
	Close()
}

// newWebhookHandler serves Authentik's webhooks, calling fire once per debounce window. With the
// secret in a file, the handler is built again for a new secret, so the debounce window lives
// outside it, in one Batcher that outlasts the handlers (each of which fires at once into it).
func newWebhookHandler(cfg *config.Config, log zerolog.Logger, fire func([]string), metrics *webhook.Metrics) webhookHandler {
	opts := webhook.Options{Secret: cfg.Webhook.Secret, Header: cfg.Webhook.Header, Debounce: cfg.Webhook.Debounce,
		Trigger: fire, Log: log, Metrics: metrics}
	secret := cfg.LiveWebhookSecret(log)
	if secret == nil {
		return webhook.New(opts)
	}
	batch := webhook.NewBatcher(nil, cfg.Webhook.Debounce, fire)
	opts.Debounce, opts.Trigger = 0, func(groups []string) { batch.Add(groups...) }
	build := func(s string) (http.Handler, error) {
		o := opts
		o.Secret = s
		return webhook.New(o), nil
	}
	h, _ := build(cfg.Webhook.Secret)
	return closingHandler{Handler: liveSecretHandler(secret, cfg.Webhook.Secret, h, build, log), close: batch.Close}
}

type closingHandler struct {
	http.Handler
	close func()
}

func (h closingHandler) Close() { h.close() }
