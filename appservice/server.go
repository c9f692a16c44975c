package appservice

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"

	"authentik-matrix-sync/httpserver"
)

const (
	defaultMaxBodyBytes = 8 << 20
	defaultQueueSize    = 512
	// rememberedTxns bounds the memory of seen transaction IDs; the homeserver only repeats the
	// transaction it is currently retrying, so a short memory suffices.
	rememberedTxns = 1000
)

// ServerOptions configures the transactions server.
type ServerOptions struct {
	// HSToken is the registration's hs_token, which the homeserver presents on every request.
	HSToken string
	// OnEvent receives each pushed event, one at a time, from a single goroutine. It may be slow:
	// the homeserver's request is answered before it runs. Nil drops every event.
	OnEvent func(ctx context.Context, evt *event.Event)
	// OnReceive sees each event of a new transaction as it arrives, before the queue, so it
	// misses none even when the queue is full. It runs in the homeserver's request and must
	// return at once. Nil sees nothing.
	OnReceive func(evt *event.Event)
	// MaxBodyBytes bounds a transaction's size; zero means 8 MiB.
	MaxBodyBytes int64
	// QueueSize bounds the events waiting for OnEvent; when full, new events are dropped with a
	// warning. Zero means 512.
	QueueSize int
	Log       zerolog.Logger
}

// Server answers the homeserver's appservice API: it receives pushed transactions and pings,
// and refuses the user and room queries, because the sync never creates users or rooms on
// demand. It is an http.Handler; ListenAndServe also runs the event delivery.
//
// A non-exclusive namespace over all local users makes the homeserver push nearly all of its
// traffic here, so transactions are acknowledged at once and their events handed on through a
// bounded queue.
type Server struct {
	hsToken []byte
	onEvent func(context.Context, *event.Event)
	peek    func(*event.Event)
	maxBody int64
	log     zerolog.Logger
	queue   chan *event.Event
	mux     *http.ServeMux

	mu       sync.Mutex
	seen     map[string]struct{}
	seenRing []string // insertion order, for forgetting the oldest
}

// NewServer builds the server; it starts no goroutine.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.HSToken == "" {
		return nil, errors.New("appservice server: hs_token is empty: load it from the registration file")
	}
	s := &Server{
		hsToken: []byte(opts.HSToken),
		onEvent: opts.OnEvent,
		peek:    opts.OnReceive,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Log.With().Str("component", "appservice-server").Logger(),
		seen:    make(map[string]struct{}, rememberedTxns),
	}
	if s.maxBody <= 0 {
		s.maxBody = defaultMaxBodyBytes
	}
	size := opts.QueueSize
	if size <= 0 {
		size = defaultQueueSize
	}
	s.queue = make(chan *event.Event, size)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("PUT /_matrix/app/v1/transactions/{txnId}", s.authed(s.putTransaction))
	s.mux.HandleFunc("POST /_matrix/app/v1/ping", s.authed(s.postPing))
	s.mux.HandleFunc("GET /_matrix/app/v1/users/{userId}", s.authed(notHere))
	s.mux.HandleFunc("GET /_matrix/app/v1/rooms/{alias}", s.authed(notHere))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized request")
	})
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// ListenAndServe serves on addr and delivers events until ctx ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("appservice server: listen on %s: %w (is another process using the port?)", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener, which it closes.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := httpserver.NewServer(ln.Addr().String(), s)
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		s.RunDelivery(ctx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info().Stringer("address", ln.Addr()).Msg("Listening for the homeserver")

	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		err = srv.Shutdown(shutdownCtx)
		stop()
		<-served
	}
	cancel()
	<-delivered
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("appservice server on %s: %w", ln.Addr(), err)
	}
	return nil
}

// RunDelivery hands queued events to OnEvent until ctx ends. ListenAndServe and Serve run it;
// call it yourself only when mounting the Server in another HTTP server.
func (s *Server) RunDelivery(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case evt := <-s.queue:
			s.deliver(ctx, evt)
		}
	}
}

func (s *Server) deliver(ctx context.Context, evt *event.Event) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error().Any("panic", p).Stringer("event_id", evt.ID).Msg("Event handler panicked; event skipped")
		}
	}()
	if s.onEvent != nil {
		s.onEvent(ctx, evt)
	}
}

// authed checks the hs_token, from the Authorization header or the legacy access_token query
// parameter that older homeservers send.
func (s *Server) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = r.URL.Query().Get("access_token")
		}
		switch {
		case token == "":
			writeError(w, http.StatusUnauthorized, "M_MISSING_TOKEN", "Missing homeserver token")
		case subtle.ConstantTimeCompare([]byte(token), s.hsToken) != 1:
			s.log.Warn().Str("remote", r.RemoteAddr).Str("path", r.URL.Path).Msg("Request with a wrong hs_token refused")
			writeError(w, http.StatusForbidden, "M_FORBIDDEN", "Invalid homeserver token")
		default:
			next(w, r)
		}
	}
}

func (s *Server) putTransaction(w http.ResponseWriter, r *http.Request) {
	txnID := r.PathValue("txnId")
	if s.wasSeen(txnID) {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.log.Warn().Str("txn_id", txnID).Int64("limit", s.maxBody).Msg("Transaction too large; refused")
			writeError(w, http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "Transaction too large")
			return
		}
		writeError(w, http.StatusBadRequest, "M_UNKNOWN", "Could not read the request body")
		return
	}
	events, skipped, err := decodeTransaction(body)
	if err != nil {
		code := "M_BAD_JSON"
		if errors.Is(err, errNotJSON) {
			code = "M_NOT_JSON"
		}
		writeError(w, http.StatusBadRequest, code, err.Error())
		return
	}
	if skipped > 0 {
		s.log.Warn().Str("txn_id", txnID).Int("skipped", skipped).Msg("Transaction held events that could not be read; skipped them")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.seen[txnID]; dup {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	s.remember(txnID)
	dropped := 0
	for _, evt := range events {
		if s.peek != nil {
			s.peek(evt)
		}
		select {
		case s.queue <- evt:
		default:
			dropped++
		}
	}
	if dropped > 0 {
		s.log.Warn().Str("txn_id", txnID).Int("dropped", dropped).Msg("Event queue full; events dropped")
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) wasSeen(txnID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.seen[txnID]
	return ok
}

// remember records a transaction ID, forgetting the oldest beyond rememberedTxns. The caller
// holds s.mu.
func (s *Server) remember(txnID string) {
	s.seen[txnID] = struct{}{}
	s.seenRing = append(s.seenRing, txnID)
	if len(s.seenRing) > rememberedTxns {
		delete(s.seen, s.seenRing[0])
		s.seenRing = s.seenRing[1:]
	}
}

func (s *Server) postPing(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TxnID string `json:"transaction_id"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req)
	s.log.Debug().Str("txn_id", req.TxnID).Msg("Pinged by the homeserver")
	writeJSON(w, http.StatusOK, struct{}{})
}

// notHere answers user and room queries: the sync never creates either on demand.
func notHere(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "M_NOT_FOUND", "Not created on demand")
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"errcode": code, "error": msg})
}
