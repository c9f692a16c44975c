package mas

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"authentik-matrix-sync/mas/mastest"
)

// clock is a shared test clock for the fake and the token source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newSource(t *testing.T, f *mastest.Server, c *clock, scope string) *TokenSource {
	t.Helper()
	src, err := NewTokenSource(TokenOptions{URL: f.URL, ClientID: mastest.ClientID, ClientSecret: mastest.ClientSecret,
		Scope: scope, HTTPClient: f.Client(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func newClient(t *testing.T, f *mastest.Server, c *clock) *Client {
	t.Helper()
	cl, err := New(Options{URL: f.URL, ClientID: mastest.ClientID, ClientSecret: mastest.ClientSecret,
		HTTPClient: f.Client(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestRenewAfter(t *testing.T) {
	for _, tc := range []struct{ lifetime, want time.Duration }{
		{5 * time.Minute, 4 * time.Minute},    // both rules agree
		{time.Hour, 48 * time.Minute},         // 80 % comes first
		{100 * time.Second, 50 * time.Second}, // 60 s before would be 40 s: half the lifetime at least
		{30 * time.Second, 15 * time.Second},  // shorter than the margin
		{10 * time.Minute, 8 * time.Minute},   // 80 % (480 s) before 540 s
		{90 * time.Second, 45 * time.Second},  // 30 s (90-60) < 45 s floor
		{120 * time.Second, 60 * time.Second}, // 60 s before = half
		{24 * time.Hour, 19*time.Hour + 12*time.Minute},
	} {
		if got := renewAfter(tc.lifetime); got != tc.want {
			t.Errorf("renewAfter(%s) = %s, want %s", tc.lifetime, got, tc.want)
		}
	}
}

// TestTokenRenewedBeforeExpiry: a token is reused until its renewal time, then replaced while
// it still works, and the replacement is what the admin API gets.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	f.AddUser("alice")
	cl := newClient(t, f, c)
	ctx := t.Context()
	first, err := cl.Tokens().Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(239 * time.Second)
	if tok, _ := cl.Tokens().Token(ctx); tok != first || f.TokensIssued() != 1 {
		t.Fatalf("before the renewal time: token changed (%v) or fetched again (%d issued)", tok != first, f.TokensIssued())
	}
	c.Add(2 * time.Second) // 241 s: past 80 % of 300 s, 59 s before expiry
	if _, err := cl.UserByUsername(ctx, "alice"); err != nil {
		t.Fatalf("admin call near expiry: %v", err)
	}
	second, _ := cl.Tokens().Token(ctx)
	if second == first || f.TokensIssued() != 2 {
		t.Fatalf("near expiry: renewed %v, %d issued; want a new token from a second fetch", second != first, f.TokensIssued())
	}
	// The old token had not expired yet: it was replaced before, not after.
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/api/admin/v1/users/by-username/alice", nil)
	req.Header.Set("Authorization", "Bearer "+first)
	if resp, err := f.Client().Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the replaced token no longer works at 241 s: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	// Nothing was sent with the old token near its end: every admin call so far went out once.
	if n := f.Count("GET /api/admin/v1/users/by-username/"); n != 2 {
		t.Errorf("%d by-username requests, want 2 (the client's, without a 401 and retry, and the test's)", n)
	}
}

// TestConcurrentCallersShareOneFetch: callers that ask while a fetch is under way wait for it.
func TestConcurrentCallersShareOneFetch(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	src := newSource(t, f, c, ScopeAdminAPI)
	release := f.HoldTokens()
	const callers = 20
	var started, done sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			tokens[i], errs[i] = src.Token(t.Context())
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let them all reach Token while the fetch is held
	release()
	done.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != tokens[0] || tokens[i] == "" {
			t.Fatalf("caller %d: token %q err %v; want the one token everyone got", i, tokens[i], errs[i])
		}
	}
	if n := f.TokensIssued(); n != 1 {
		t.Errorf("%d tokens issued for %d concurrent callers, want 1", n, callers)
	}
}

// TestWaiterGivesUpAlone: a caller whose context ends stops waiting; the fetch goes on for the
// others.
func TestWaiterGivesUpAlone(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	src := newSource(t, f, c, ScopeAdminAPI)
	release := f.HoldTokens()
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan error, 1)
	go func() { _, err := src.Token(ctx); got <- err }()
	other := make(chan string, 1)
	go func() { tok, _ := src.Token(t.Context()); other <- tok }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	release()
	if tok := <-other; tok == "" || f.TokensIssued() != 1 {
		t.Errorf("the other caller got %q after %d fetches", tok, f.TokensIssued())
	}
}

// TestUnauthorizedRefreshesOnceAndRetries: a token MAS stopped accepting (401) is dropped, one new
// token is fetched and the call is sent again, once.
func TestUnauthorizedRefreshesOnceAndRetries(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	f.AddUser("alice")
	cl := newClient(t, f, c)
	ctx := t.Context()
	if _, err := cl.UserByUsername(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	f.RevokeTokens()
	if u, err := cl.UserByUsername(ctx, "alice"); err != nil || u.Username != "alice" {
		t.Fatalf("after revocation: %+v, %v", u, err)
	}
	if n, m := f.TokensIssued(), f.Count("GET /api/admin/v1/users/by-username/alice"); n != 2 || m != 3 {
		t.Errorf("%d tokens, %d requests; want 2 tokens and 3 requests (1, then 401 and 1 retry)", n, m)
	}
}

// stuckTokens always hands out a token MAS does not know.
type stuckTokens struct {
	sync.Mutex
	asked, invalidated int
}

func (s *stuckTokens) Token(context.Context) (string, error) {
	s.Lock()
	defer s.Unlock()
	s.asked++
	return "mat_unknown", nil
}

func (s *stuckTokens) Invalidate(string) { s.Lock(); s.invalidated++; s.Unlock() }

func TestPersistentUnauthorizedIsRetriedOnlyOnce(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	f.AddUser("alice")
	cl := newClient(t, f, c)
	stuck := &stuckTokens{}
	cl.tokens = stuck
	_, err := cl.UserByUsername(t.Context(), "alice")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), "policy.data.admin_clients") {
		t.Fatalf("err = %v, want a 401 APIError saying what to fix", err)
	}
	if n := f.Count("GET /api/admin/v1/users/by-username/alice"); n != 2 || stuck.asked != 2 || stuck.invalidated != 2 {
		t.Errorf("%d requests, %d tokens asked, %d invalidated; want 2, 2, 2", n, stuck.asked, stuck.invalidated)
	}
}

// TestRenewalFailureKeepsAValidToken: MAS failing at renewal time does not take away a token
// that still works; once it has expired, the failure is the answer.
func TestRenewalFailureKeepsAValidToken(t *testing.T) {
	f, c := mastest.New(t), newClock()
	f.SetNow(c.Now)
	src := newSource(t, f, c, ScopeAdminAPI)
	ctx := t.Context()
	first, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.FailToken(http.StatusServiceUnavailable)
	c.Add(250 * time.Second)
	if tok, err := src.Token(ctx); err != nil || tok != first {
		t.Fatalf("renewal failed before expiry: %q, %v; want the old token", tok, err)
	}
	c.Add(60 * time.Second)
	if tok, err := src.Token(ctx); err == nil || tok != "" {
		t.Fatalf("after expiry with MAS failing: %q, %v; want an error", tok, err)
	}
	f.FailToken(0)
	if tok, err := src.Token(ctx); err != nil || tok == first {
		t.Fatalf("after MAS recovered: %q, %v", tok, err)
	}
}

func TestTokenErrorsSayWhatToFix(t *testing.T) {
	const otherSecret = "another-Secret-9f8e7d"
	tests := []struct {
		name     string
		setup    func(f *mastest.Server)
		url      func(f *mastest.Server) string
		id       string
		secret   string
		scope    string
		is       error
		contains []string
	}{
		{name: "wrong secret", secret: otherSecret, is: ErrBadCredentials,
			contains: []string{"invalid_client", "check mas.client_id / MAS_CLIENT_ID and mas.client_secret / MAS_CLIENT_SECRET"}},
		{name: "unknown client", id: "01J44QC8BCY7FCFM7WGHQGKMTZ", is: ErrBadCredentials, contains: []string{"mas.client_id"}},
		{name: "client without the admin scope", id: "01J44QC8BCY7FCFM7WGHQGKMTJ", secret: otherSecret,
			setup: func(f *mastest.Server) { f.AddClient("01J44QC8BCY7FCFM7WGHQGKMTJ", otherSecret, false) },
			is:    ErrNotAllowed, contains: []string{"HTTP 403", "invalid_scope", "scope 'urn:mas:admin' not allowed", "policy.data.admin_clients"}},
		{name: "the Synapse admin scope under the default policy", scope: ScopeSynapseAdmin, is: ErrNotAllowed,
			contains: []string{"urn:synapse:admin:*", "mas.use_for_synapse_admin / MAS_USE_FOR_SYNAPSE_ADMIN"}},
		{name: "MAS down", setup: func(f *mastest.Server) { f.SetDown(true) }, is: ErrUnreachable,
			contains: []string{"check mas.url / MAS_URL"}},
		{name: "MAS failing", setup: func(f *mastest.Server) { f.FailToken(500) }, contains: []string{"HTTP 500", "server_error", "tries again"}},
		{name: "not MAS at that URL", url: func(f *mastest.Server) string { return f.URL + "/elsewhere" }, is: ErrNotMAS,
			contains: []string{"HTTP 404", "mas.url / MAS_URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, c := mastest.New(t), newClock()
			f.SetNow(c.Now)
			if tc.setup != nil {
				tc.setup(f)
			}
			o := TokenOptions{URL: f.URL, ClientID: mastest.ClientID, ClientSecret: mastest.ClientSecret, Scope: tc.scope,
				HTTPClient: f.Client(), Now: c.Now}
			if tc.url != nil {
				o.URL = tc.url(f)
			}
			if tc.id != "" {
				o.ClientID = tc.id
			}
			if tc.secret != "" {
				o.ClientSecret = tc.secret
			}
			src, err := NewTokenSource(o)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := src.Token(t.Context())
			if err == nil || tok != "" {
				t.Fatalf("got token %q, err %v; want an error", tok, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			for _, part := range tc.contains {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("%q lacks %q", err, part)
				}
			}
			for _, secret := range []string{o.ClientSecret, mastest.ClientSecret} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a client secret: %v", err)
				}
			}
		})
	}
}

func TestTokenEndpointDiscovery(t *testing.T) {
	t.Run("a moved endpoint is found through discovery", func(t *testing.T) {
		f, c := mastest.New(t), newClock()
		f.SetNow(c.Now)
		f.MoveTokenEndpoint("/custom/token")
		if _, err := newSource(t, f, c, "").Token(t.Context()); err != nil || f.Count("POST /custom/token") != 1 {
			t.Fatalf("err %v; requests %v", err, f.Requests())
		}
	})
	t.Run("without discovery the default path is used", func(t *testing.T) {
		f, c := mastest.New(t), newClock()
		f.SetNow(c.Now)
		f.SetDiscovery(false)
		if _, err := newSource(t, f, c, "").Token(t.Context()); err != nil || f.Count("POST /oauth2/token") != 1 {
			t.Fatalf("err %v; requests %v", err, f.Requests())
		}
	})
	t.Run("discovery happens once", func(t *testing.T) {
		f, c := mastest.New(t), newClock()
		f.SetNow(c.Now)
		src := newSource(t, f, c, "")
		for range 3 {
			if _, err := src.Token(t.Context()); err != nil {
				t.Fatal(err)
			}
			c.Add(5 * time.Minute)
		}
		if d, tk := f.Count("GET /.well-known/"), f.Count("POST /oauth2/token"); d != 1 || tk != 3 {
			t.Errorf("%d discoveries and %d token requests, want 1 and 3", d, tk)
		}
	})
}

func TestNewTokenSourceRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		o    TokenOptions
		want string
	}{
		{TokenOptions{ClientID: "a", ClientSecret: "b"}, "mas.url / MAS_URL"},
		{TokenOptions{URL: "ftp://mas", ClientID: "a", ClientSecret: "b"}, "not an http(s) URL"},
		{TokenOptions{URL: "https://mas"}, "mas.client_id / MAS_CLIENT_ID"},
		{TokenOptions{URL: "https://mas", ClientID: "a"}, "MAS_CLIENT_SECRET"},
	} {
		if _, err := NewTokenSource(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error mentioning %q", tc.o, err, tc.want)
		}
	}
}
