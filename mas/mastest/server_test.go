package mastest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var ulid = regexp.MustCompile(`^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{26}$`)

const provider = "01H8PKNWKKRPCBW4YGH1RWV279"

// Expected values that are not literals.
type (
	isULID   struct{}
	isNull   struct{}
	notNull  struct{}
	isAbsent struct{}
	prefix   string
	contains string
)

// at walks a decoded JSON value along a dotted path ("data.0.attributes.username").
func at(v any, path string) (any, bool) {
	for _, part := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[part]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

func check(t *testing.T, body any, path string, want any) {
	t.Helper()
	got, ok := at(body, path)
	fail := func() { t.Errorf("%s = %#v (present %v), want %#v", path, got, ok, want) }
	switch w := want.(type) {
	case isAbsent:
		if ok {
			fail()
		}
	case isNull:
		if !ok || got != nil {
			fail()
		}
	case notNull:
		if !ok || got == nil {
			fail()
		}
	case isULID:
		if s, _ := got.(string); !ulid.MatchString(s) {
			fail()
		}
	case prefix:
		if s, _ := got.(string); !strings.HasPrefix(s, string(w)) {
			fail()
		}
	case contains:
		if s, _ := got.(string); !strings.Contains(s, string(w)) {
			fail()
		}
	case int:
		if f, _ := got.(float64); !ok || f != float64(w) {
			fail()
		}
	default:
		if !ok || got != want {
			fail()
		}
	}
}

// fixture is a fake with alice (one link, three compat sessions), a locked bob, and tokens of
// each kind.
type fixture struct {
	s                      *Server
	alice, bob             User
	sessions               []Session
	admin, openid, expired string
}

func newFixture(t *testing.T) *fixture {
	s := New(t)
	f := &fixture{s: s}
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s.SetNow(func() time.Time { return clock })
	f.alice, f.bob = s.AddUser("alice"), s.AddUser("bob")
	s.mu.Lock()
	locked := clock
	s.users[f.bob.ID].LockedAt = &locked
	s.mu.Unlock()
	s.AddProvider(provider, "Authentik")
	s.AddLink(provider, "uid-alice", f.alice.ID)
	s.AddLink(provider, "uid-pending", "")
	for range 3 {
		f.sessions = append(f.sessions, s.AddSession(Compat, f.alice.ID))
	}
	s.AddSession(Compat, f.bob.ID)
	f.admin = f.token(t, "urn:mas:admin")
	f.openid = f.token(t, "openid")
	s.SetExpiresIn(time.Second)
	f.expired = f.token(t, "urn:mas:admin")
	s.SetExpiresIn(DefaultExpiresIn)
	clock = clock.Add(2 * time.Second)
	return f
}

func (f *fixture) token(t *testing.T, scope string) string {
	t.Helper()
	status, body := call(t, f.s, http.MethodPost, "/oauth2/token", basic(ClientID, ClientSecret),
		url.Values{"grant_type": {"client_credentials"}, "scope": {scope}})
	tok, _ := at(body, "access_token")
	if status != http.StatusOK || tok == nil {
		t.Fatalf("token: HTTP %d %v", status, body)
	}
	return tok.(string)
}

func basic(id, secret string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func call(t *testing.T, s *Server, method, path string, h http.Header, form url.Values) (int, any) {
	t.Helper()
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, s.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequest(method, s.URL+path, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var body any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestShapes(t *testing.T) {
	tokenForm := func(grant, scope string) url.Values {
		return url.Values{"grant_type": {grant}, "scope": {scope}}
	}
	tests := []struct {
		name   string
		setup  func(f *fixture)
		method string
		path   func(f *fixture) string
		header func(f *fixture) http.Header
		form   url.Values
		status int
		want   func(f *fixture) map[string]any
	}{
		{name: "discovery names the token endpoint", method: "GET",
			path: func(*fixture) string { return "/.well-known/openid-configuration" }, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"token_endpoint": f.s.URL + "/oauth2/token", "issuer": f.s.URL + "/"}
			}},
		{name: "client credentials give a bearer token", method: "POST",
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic(ClientID, ClientSecret) },
			form:   tokenForm("client_credentials", "urn:mas:admin"), status: 200,
			want: func(*fixture) map[string]any {
				return map[string]any{"access_token": prefix("mat_"), "token_type": "Bearer", "expires_in": 300, "scope": "urn:mas:admin"}
			}},
		{name: "a wrong secret is invalid_client", method: "POST",
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic(ClientID, "wrong") },
			form:   tokenForm("client_credentials", "urn:mas:admin"), status: 401,
			want: func(*fixture) map[string]any {
				return map[string]any{"error": "invalid_client", "access_token": isAbsent{}}
			}},
		{name: "no credentials is invalid_request", method: "POST",
			path: func(*fixture) string { return "/oauth2/token" },
			form: tokenForm("client_credentials", "urn:mas:admin"), status: 400,
			want: func(*fixture) map[string]any { return map[string]any{"error": "invalid_request"} }},
		{name: "another grant is unsupported", method: "POST",
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic(ClientID, ClientSecret) },
			form:   tokenForm("password", "urn:mas:admin"), status: 400,
			want: func(*fixture) map[string]any { return map[string]any{"error": "unsupported_grant_type"} }},
		{name: "the default policy refuses the Synapse admin scope to a client", method: "POST",
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic(ClientID, ClientSecret) },
			form:   tokenForm("client_credentials", "urn:mas:admin urn:synapse:admin:*"), status: 403,
			want: func(*fixture) map[string]any {
				return map[string]any{"error": "invalid_scope", "error_description": "scope 'urn:synapse:admin:*' not allowed"}
			}},
		{name: "a client outside admin_clients gets no admin scope", method: "POST",
			setup:  func(f *fixture) { f.s.AddClient("01J44QC8BCY7FCFM7WGHQGKMTJ", "s3cret", false) },
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic("01J44QC8BCY7FCFM7WGHQGKMTJ", "s3cret") },
			form:   tokenForm("client_credentials", "urn:mas:admin"), status: 403,
			want: func(*fixture) map[string]any {
				return map[string]any{"error": "invalid_scope", "error_description": "scope 'urn:mas:admin' not allowed"}
			}},
		{name: "user by username", method: "GET",
			path: func(*fixture) string { return "/api/admin/v1/users/by-username/alice" }, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"data.type": "user", "data.id": f.alice.ID, "data.attributes.username": "alice",
					"data.attributes.locked_at": isNull{}, "data.attributes.deactivated_at": isNull{},
					"data.attributes.created_at": notNull{}, "data.links.self": "/api/admin/v1/users/" + f.alice.ID,
					"links.self": "/api/admin/v1/users/by-username/alice"}
			}},
		{name: "an unknown username", method: "GET",
			path: func(*fixture) string { return "/api/admin/v1/users/by-username/nobody" }, status: 404,
			want: func(*fixture) map[string]any {
				return map[string]any{"errors.0.title": `User with username "nobody" not found`, "data": isAbsent{}}
			}},
		{name: "user by id shows a lock", method: "GET",
			path: func(f *fixture) string { return "/api/admin/v1/users/" + f.bob.ID }, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"data.id": f.bob.ID, "data.attributes.username": "bob", "data.attributes.locked_at": "2026-03-01T12:00:00Z"}
			}},
		{name: "lock sets locked_at", method: "POST",
			path: func(f *fixture) string { return "/api/admin/v1/users/" + f.alice.ID + "/lock" }, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"data.attributes.locked_at": "2026-03-01T12:00:02Z", "links.self": "/api/admin/v1/users/" + f.alice.ID + "/lock"}
			}},
		{name: "unlock clears it", method: "POST",
			path: func(f *fixture) string { return "/api/admin/v1/users/" + f.bob.ID + "/unlock" }, status: 200,
			want: func(*fixture) map[string]any { return map[string]any{"data.attributes.locked_at": isNull{}} }},
		{name: "locking an unknown user", method: "POST",
			path: func(*fixture) string { return "/api/admin/v1/users/01J00000000000000000000ZZZ/lock" }, status: 404,
			want: func(*fixture) map[string]any {
				return map[string]any{"errors.0.title": "User ID 01J00000000000000000000ZZZ not found"}
			}},
		{name: "links filtered by provider and subject", method: "GET",
			path: func(*fixture) string {
				return "/api/admin/v1/upstream-oauth-links?filter[provider]=" + provider + "&filter[subject]=uid-alice"
			}, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"meta.count": 1, "data.0.type": "upstream-oauth-link", "data.0.id": isULID{},
					"data.0.attributes.provider_id": provider, "data.0.attributes.subject": "uid-alice",
					"data.0.attributes.user_id": f.alice.ID, "data.0.meta.page.cursor": isULID{}, "data.1": isAbsent{},
					"links.self": contains("filter"), "links.next": isAbsent{}}
			}},
		{name: "a link nobody owns has a null user_id", method: "GET",
			path: func(*fixture) string {
				return "/api/admin/v1/upstream-oauth-links?filter[provider]=" + provider + "&filter[subject]=uid-pending"
			}, status: 200,
			want: func(*fixture) map[string]any {
				return map[string]any{"meta.count": 1, "data.0.attributes.user_id": isNull{}}
			}},
		{name: "no link for the subject is an empty page", method: "GET",
			path: func(*fixture) string {
				return "/api/admin/v1/upstream-oauth-links?filter[provider]=" + provider + "&filter[subject]=uid-carol"
			}, status: 200,
			want: func(*fixture) map[string]any { return map[string]any{"meta.count": 0, "data.0": isAbsent{}} }},
		{name: "an unknown provider is 404", method: "GET",
			path: func(*fixture) string {
				return "/api/admin/v1/upstream-oauth-links?filter[provider]=01H8PKNWKKRPCBW4YGH1RWV27A&filter[subject]=x"
			}, status: 404,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": contains("not found")} }},
		{name: "a provider", method: "GET",
			path: func(*fixture) string { return "/api/admin/v1/upstream-oauth-providers/" + provider }, status: 200,
			want: func(*fixture) map[string]any {
				return map[string]any{"data.type": "upstream-oauth-provider", "data.id": provider, "data.attributes.human_name": "Authentik"}
			}},
		{name: "active sessions, first page", method: "GET",
			path: func(f *fixture) string {
				return "/api/admin/v1/compat-sessions?filter[user]=" + f.alice.ID + "&filter[status]=active&page[first]=2"
			}, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"meta.count": 3, "data.0.type": "compat-session", "data.0.id": f.sessions[0].ID,
					"data.1.id": f.sessions[1].ID, "data.2": isAbsent{}, "data.0.attributes.user_id": f.alice.ID,
					"data.0.attributes.finished_at": isNull{}, "links.next": contains("page%5Bafter%5D=" + f.sessions[1].ID)}
			}},
		{name: "active sessions, after the cursor", method: "GET",
			path: func(f *fixture) string {
				return "/api/admin/v1/compat-sessions?filter[user]=" + f.alice.ID + "&filter[status]=active&page[first]=2&page[after]=" + f.sessions[1].ID
			}, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"data.0.id": f.sessions[2].ID, "data.1": isAbsent{}, "links.next": isAbsent{}}
			}},
		{name: "finished sessions are filtered out", method: "GET",
			setup: func(f *fixture) {
				call(t, f.s, "POST", "/api/admin/v1/compat-sessions/"+f.sessions[0].ID+"/finish", bearer(f.admin), nil)
			},
			path: func(f *fixture) string {
				return "/api/admin/v1/compat-sessions?filter[user]=" + f.alice.ID + "&filter[status]=active"
			}, status: 200,
			want: func(f *fixture) map[string]any {
				return map[string]any{"meta.count": 2, "data.0.id": f.sessions[1].ID}
			}},
		{name: "finish sets finished_at", method: "POST",
			path: func(f *fixture) string { return "/api/admin/v1/compat-sessions/" + f.sessions[2].ID + "/finish" }, status: 200,
			want: func(*fixture) map[string]any {
				return map[string]any{"data.attributes.finished_at": "2026-03-01T12:00:02Z"}
			}},
		{name: "finishing twice is 400", method: "POST",
			setup: func(f *fixture) {
				call(t, f.s, "POST", "/api/admin/v1/compat-sessions/"+f.sessions[2].ID+"/finish", bearer(f.admin), nil)
			},
			path: func(f *fixture) string { return "/api/admin/v1/compat-sessions/" + f.sessions[2].ID + "/finish" }, status: 400,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": contains("already finished")} }},
		{name: "a session of another kind is not found", method: "POST",
			path: func(f *fixture) string { return "/api/admin/v1/oauth2-sessions/" + f.sessions[2].ID + "/finish" }, status: 404,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": contains("not found")} }},
		{name: "no token", method: "GET",
			path:   func(*fixture) string { return "/api/admin/v1/users/by-username/alice" },
			header: func(*fixture) http.Header { return http.Header{} }, status: 401,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": notNull{}} }},
		{name: "an expired token", method: "GET",
			path:   func(*fixture) string { return "/api/admin/v1/users/by-username/alice" },
			header: func(f *fixture) http.Header { return bearer(f.expired) }, status: 401,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": "Access token expired"} }},
		{name: "a revoked token", method: "GET",
			setup:  func(f *fixture) { f.s.RevokeTokens() },
			path:   func(*fixture) string { return "/api/admin/v1/users/by-username/alice" },
			header: func(f *fixture) http.Header { return bearer(f.admin) }, status: 401,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": "Invalid access token"} }},
		{name: "a token without the admin scope", method: "GET",
			path:   func(*fixture) string { return "/api/admin/v1/users/by-username/alice" },
			header: func(f *fixture) http.Header { return bearer(f.openid) }, status: 403,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": contains("urn:mas:admin")} }},
		{name: "an injected 503", method: "GET", setup: func(f *fixture) { f.s.FailAdmin(503) },
			path: func(*fixture) string { return "/api/admin/v1/users/by-username/alice" }, status: 503,
			want: func(*fixture) map[string]any { return map[string]any{"errors.0.title": notNull{}} }},
		{name: "an injected token failure", method: "POST", setup: func(f *fixture) { f.s.FailToken(500) },
			path:   func(*fixture) string { return "/oauth2/token" },
			header: func(*fixture) http.Header { return basic(ClientID, ClientSecret) },
			form:   tokenForm("client_credentials", "urn:mas:admin"), status: 500,
			want: func(*fixture) map[string]any { return map[string]any{"error": "server_error"} }},
		{name: "an unknown admin route is an empty 404", method: "GET",
			path: func(*fixture) string { return "/api/admin/v1/nothing-here" }, status: 404,
			want: func(*fixture) map[string]any { return map[string]any{"errors": isAbsent{}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			h := bearer(f.admin)
			if tc.header != nil {
				h = tc.header(f)
			}
			status, body := call(t, f.s, tc.method, tc.path(f), h, tc.form)
			if status != tc.status {
				t.Errorf("HTTP %d, want %d; body %v", status, tc.status, body)
			}
			for path, want := range tc.want(f) {
				check(t, body, path, want)
			}
		})
	}
}

func TestIDsAreOrderedULIDs(t *testing.T) {
	s := New(t)
	prev := ""
	for i := range 40 {
		id := s.AddUser(fmt.Sprint("u", i)).ID
		if !ulid.MatchString(id) || id <= prev {
			t.Fatalf("id %d = %q after %q: not an increasing ULID", i, id, prev)
		}
		prev = id
	}
}

func TestMovedTokenEndpointAndDownServer(t *testing.T) {
	s := New(t)
	s.MoveTokenEndpoint("/custom/token")
	status, body := call(t, s, "GET", "/.well-known/openid-configuration", nil, nil)
	check(t, body, "token_endpoint", s.URL+"/custom/token")
	if status != 200 {
		t.Errorf("discovery: HTTP %d", status)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"urn:mas:admin"}}
	if status, _ := call(t, s, "POST", "/oauth2/token", basic(ClientID, ClientSecret), form); status != 404 {
		t.Errorf("old token path: HTTP %d, want 404", status)
	}
	if status, _ := call(t, s, "POST", "/custom/token", basic(ClientID, ClientSecret), form); status != 200 || s.TokensIssued() != 1 {
		t.Errorf("moved token path: HTTP %d, %d issued", status, s.TokensIssued())
	}
	s.SetDiscovery(false)
	if status, _ := call(t, s, "GET", "/.well-known/openid-configuration", nil, nil); status != 404 {
		t.Errorf("hidden discovery: HTTP %d", status)
	}
	s.SetDown(true)
	if _, err := s.Client().Get(s.URL + "/.well-known/openid-configuration"); err == nil {
		t.Error("a down server answered")
	}
}
