package appservice

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

// fakeHS is a homeserver stand-in: each test registers the answers it needs by "METHOD /path"
// and reads back the requests made. Unregistered routes answer 404 M_UNRECOGNIZED, as Synapse
// does for unknown endpoints.
type fakeHS struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	calls  []fakeCall
}

type fakeCall struct {
	Route  string // "METHOD /path"
	UserID string // ?user_id=
	Auth   string // Authorization header
	Body   map[string]any
}

func newFakeHS(t *testing.T) *fakeHS {
	t.Helper()
	f := &fakeHS{t: t, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHS) serve(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	call := fakeCall{Route: route, UserID: r.URL.Query().Get("user_id"), Auth: r.Header.Get("Authorization")}
	_ = json.NewDecoder(r.Body).Decode(&call.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call)
	h := f.routes[route]
	f.mu.Unlock()
	if h == nil {
		writeError(w, http.StatusNotFound, "M_UNRECOGNIZED", "Unrecognized request")
		return
	}
	h(w, r)
}

func (f *fakeHS) on(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[route] = h
}

// reply registers a fixed answer.
func (f *fakeHS) reply(route string, status int, body any) {
	f.on(route, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, status, body) })
}

func (f *fakeHS) routesCalled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.Route
		if c.UserID != "" {
			out[i] += "?user_id=" + c.UserID
		}
	}
	return out
}

func (f *fakeHS) lastCall() fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		f.t.Fatal("no request was made")
	}
	return f.calls[len(f.calls)-1]
}

func matrixError(code, msg string) map[string]any {
	return map[string]any{"errcode": code, "error": msg}
}

const (
	testBot     = id.UserID("@sync:example.org")
	testToken   = "secret-access-token"
	testASToken = "secret-as-token"
)

// newTestMatrix connects to the fake in client mode (appservice=false) or appservice mode.
func newTestMatrix(t *testing.T, f *fakeHS, appservice bool, via string) *Matrix {
	t.Helper()
	opts := Options{
		HomeserverURL: f.srv.URL,
		BotUserID:     testBot,
		AccessToken:   testToken,
		ForceJoinVia:  via,
		Timeout:       5 * time.Second,
		Log:           zerolog.Nop(),
	}
	if appservice {
		opts.Appservice = true
		opts.AccessToken = ""
		opts.ASToken = testASToken
		opts.RegistrationID = "authentik-sync"
	}
	m, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	m.maxRateLimitWait = time.Second
	return m
}
