package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Path is where Authentik's notification transport posts.
const Path = "/webhook/authentik"

// Defaults of Options.
const (
	DefaultHeader   = "Authorization"
	DefaultMaxBody  = 64 << 10
	DefaultDebounce = 250 * time.Millisecond
)

// Options configure a Handler.
type Options struct {
	// Secret is the shared secret; empty disables the endpoint (every call gets 404).
	Secret string
	// Header carries the secret. For Authorization (the default) its value is "Bearer <secret>";
	// any other header holds the secret itself.
	Header string
	// MaxBody is the largest body read; a larger one gets 413. Zero means DefaultMaxBody.
	MaxBody int64
	// Debounce is the window after a trigger that gathers further calls into one trigger at its
	// end (see debouncer); zero or less fires every call at once.
	Debounce time.Duration
	// Clock starts the debounce timers; nil means real time.
	Clock Clock
	// Trigger is told, once per window, which groups the window's calls named; nil means
	// anything may have changed. It runs on the timer's goroutine.
	Trigger func(groups []string)
	Log     zerolog.Logger
	Metrics *Metrics
}

// Handler serves Path. Any authenticated call means "something changed"; a body naming a group
// narrows that to the group.
type Handler struct {
	opts     Options
	bearer   bool
	wantHash [sha256.Size]byte
	batch    *Batcher
}

var _ http.Handler = (*Handler)(nil)

// New returns a handler; Close stops its pending trigger.
func New(opts Options) *Handler {
	if opts.Header == "" {
		opts.Header = DefaultHeader
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.Trigger == nil {
		opts.Trigger = func([]string) {}
	}
	h := &Handler{opts: opts, bearer: http.CanonicalHeaderKey(opts.Header) == "Authorization",
		wantHash: sha256.Sum256([]byte(opts.Secret))}
	h.batch = NewBatcher(opts.Clock, opts.Debounce, opts.Trigger)
	return h
}

// Close drops a trigger still waiting for its window to end.
func (h *Handler) Close() { h.batch.Close() }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Secret == "" {
		h.opts.Metrics.count(ResultDisabled)
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		h.opts.Metrics.count(ResultBadMethod)
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(r) {
		h.opts.Metrics.count(ResultUnauthorized)
		h.opts.Log.Debug().Str("remote", r.RemoteAddr).Str("header", h.opts.Header).
			Bool("header_present", r.Header.Get(h.opts.Header) != "").Msg("Webhook refused: secret missing or wrong")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.ContentLength > h.opts.MaxBody {
		h.tooLarge(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		h.tooLarge(w)
		return
	case err != nil:
		// The sender went away mid-body; it retries, and polling is the safety net.
		h.opts.Metrics.count(ResultUnreadable)
		http.Error(w, "body unreadable", http.StatusBadRequest)
		return
	}
	change := ParseBody(body)
	h.opts.Metrics.count(ResultAccepted)
	ev := h.opts.Log.Info().Str("remote", r.RemoteAddr).Int("bytes", len(body))
	if change.Action != "" {
		ev = ev.Str("action", change.Action)
	}
	if change.Model != "" {
		ev = ev.Str("model", change.Model)
	}
	if change.Group != "" {
		ev.Str("group", change.Group).Msg("Webhook accepted; syncing the group's rooms soon")
	} else {
		ev.Msg("Webhook accepted; syncing every mapping soon")
	}
	h.batch.Add(change.Group) // "" names no group: anything may have changed
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) tooLarge(w http.ResponseWriter) {
	h.opts.Metrics.count(ResultTooLarge)
	http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
}

// authorized compares the secret in constant time. Hashing both sides first makes the time
// independent of the length of what the caller sent too.
func (h *Handler) authorized(r *http.Request) bool {
	got := r.Header.Get(h.opts.Header)
	if h.bearer {
		scheme, token, ok := strings.Cut(got, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return false
		}
		got = strings.TrimSpace(token)
	}
	if got == "" {
		return false
	}
	gotHash := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(gotHash[:], h.wantHash[:]) == 1
}
