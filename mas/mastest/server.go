// Package mastest is a fake Matrix Authentication Service for tests: an httptest server that
// answers the token endpoint and the admin API calls the bot makes, in the shapes of MAS's
// published OpenAPI document (docs/api/spec.json). It checks client credentials, issues opaque
// tokens that expire, refuses the scopes MAS's default policy refuses a client-credentials
// client, and can be taken down or made to fail for outage tests.
package mastest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The client the fake knows unless told otherwise.
const (
	ClientID     = "01J44RKQYM4G3TNVANTMTDYTX6"
	ClientSecret = "phoo8ahneir3ohY2eigh4xuu6Oodaewi"
)

// DefaultExpiresIn is the lifetime of issued tokens, MAS's default for access tokens.
const DefaultExpiresIn = 5 * time.Minute

// Server is the fake. Its zero value is not usable: call New.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	nextID   uint64
	clients  map[string]client
	tokens   map[string]token
	issued   int
	lifetime time.Duration
	// synapseScopes lets client-credentials clients have urn:synapse:admin:* and the C-S API
	// scope, which MAS's default policy refuses them.
	synapseScopes bool
	tokenPath     string
	discovery     bool

	users     map[string]*User // by ID
	providers map[string]string
	links     []*Link
	sessions  map[string]*Session // by ID

	down        bool
	hold        chan struct{}
	adminStatus int
	tokenStatus int
	requests    []string
}

type client struct {
	secret string
	// admin means policy.data.admin_clients lists the client.
	admin bool
}

type token struct {
	scopes  []string
	expires time.Time
}

// User is a MAS user as the fake keeps it.
type User struct {
	ID            string
	Username      string
	CreatedAt     time.Time
	LockedAt      *time.Time
	DeactivatedAt *time.Time
}

// Link is an upstream OAuth link; UserID "" means it belongs to nobody yet.
type Link struct {
	ID, ProviderID, Subject, UserID string
	CreatedAt                       time.Time
}

// Session is a compat, OAuth 2.0 or browser session.
type Session struct {
	ID         string
	Kind       string // compat-sessions, oauth2-sessions or user-sessions
	UserID     string
	CreatedAt  time.Time
	FinishedAt *time.Time
}

// Session kinds, as in the admin API's paths.
const (
	Compat  = "compat-sessions"
	OAuth2  = "oauth2-sessions"
	Browser = "user-sessions"
)

// New starts the fake; it stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		now:       time.Now,
		clients:   map[string]client{ClientID: {secret: ClientSecret, admin: true}},
		tokens:    map[string]token{},
		lifetime:  DefaultExpiresIn,
		tokenPath: "/oauth2/token",
		discovery: true,
		users:     map[string]*User{},
		providers: map[string]string{},
		sessions:  map[string]*Session{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetNow replaces the fake's clock, which decides when tokens expire and stamps locked_at.
func (s *Server) SetNow(now func() time.Time) { s.mu.Lock(); s.now = now; s.mu.Unlock() }

// SetExpiresIn sets the lifetime of tokens issued from now on (expires_in).
func (s *Server) SetExpiresIn(d time.Duration) { s.mu.Lock(); s.lifetime = d; s.mu.Unlock() }

// AddClient registers a client-credentials client; admin says whether MAS's policy lists it in
// admin_clients (and so grants it urn:mas:admin).
func (s *Server) AddClient(id, secret string, admin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[id] = client{secret: secret, admin: admin}
}

// AllowSynapseScopes makes the fake grant urn:synapse:admin:* and urn:matrix:client:api:* to
// client-credentials clients, as a custom MAS policy could.
func (s *Server) AllowSynapseScopes(allow bool) { s.mu.Lock(); s.synapseScopes = allow; s.mu.Unlock() }

// MoveTokenEndpoint serves the token endpoint at path instead of /oauth2/token; the discovery
// document names it, so only a client that reads discovery finds it.
func (s *Server) MoveTokenEndpoint(path string) { s.mu.Lock(); s.tokenPath = path; s.mu.Unlock() }

// SetDiscovery serves (true, the default) or hides (404) /.well-known/openid-configuration.
func (s *Server) SetDiscovery(on bool) { s.mu.Lock(); s.discovery = on; s.mu.Unlock() }

// HoldTokens makes token requests wait until release is called, so that a test can have
// several callers ask at once.
func (s *Server) HoldTokens() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// TokensIssued counts the tokens the token endpoint has issued.
func (s *Server) TokensIssued() int { s.mu.Lock(); defer s.mu.Unlock(); return s.issued }

// RevokeTokens makes every issued token unknown, as a MAS restart with a wiped session store
// or an admin revoking the session would: admin calls with them answer 401.
func (s *Server) RevokeTokens() { s.mu.Lock(); clear(s.tokens); s.mu.Unlock() }

// SetDown drops every connection without an answer while down is true.
func (s *Server) SetDown(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

// FailAdmin makes every admin API call answer status (e.g. 503) with MAS's error shape; 0
// ends it.
func (s *Server) FailAdmin(status int) { s.mu.Lock(); s.adminStatus = status; s.mu.Unlock() }

// FailToken makes the token endpoint answer status with server_error; 0 ends it.
func (s *Server) FailToken(status int) { s.mu.Lock(); s.tokenStatus = status; s.mu.Unlock() }

// Requests lists the requests served so far as "METHOD /path" (no query), oldest first.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Count counts the requests served so far whose "METHOD /path" starts with prefix.
func (s *Server) Count(prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// crockford is the alphabet of ULIDs.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// newID makes a ULID-shaped ID that sorts in creation order, as MAS's do. Call with s.mu held.
func (s *Server) newID() string {
	s.nextID++
	n := s.nextID
	b := []byte("01J00000000000000000000000")
	for i := len(b) - 1; i >= 3 && n > 0; i-- {
		b[i] = crockford[n%32]
		n /= 32
	}
	return string(b)
}

// AddUser creates an active user.
func (s *Server) AddUser(username string) User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &User{ID: s.newID(), Username: username, CreatedAt: s.now().UTC()}
	s.users[u.ID] = u
	return *u
}

// User returns the user's current state.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// AddProvider registers an upstream OAuth provider under a ULID such as
// 01H8PKNWKKRPCBW4YGH1RWV279.
func (s *Server) AddProvider(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.providers[id] = name
}

// AddLink links subject at provider to the user (userID "" for a link nobody owns yet).
func (s *Server) AddLink(provider, subject, userID string) Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &Link{ID: s.newID(), ProviderID: provider, Subject: subject, UserID: userID, CreatedAt: s.now().UTC()}
	s.links = append(s.links, l)
	return *l
}

// AddSession starts an active session of the user; kind is Compat, OAuth2 or Browser.
func (s *Server) AddSession(kind, userID string) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := &Session{ID: s.newID(), Kind: kind, UserID: userID, CreatedAt: s.now().UTC()}
	s.sessions[x.ID] = x
	return *x
}

// ActiveSessions counts the user's unfinished sessions of every kind.
func (s *Server) ActiveSessions(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, x := range s.sessions {
		if x.UserID == userID && x.FinishedAt == nil {
			n++
		}
	}
	return n
}

// Session returns a session's current state.
func (s *Server) Session(id string) (Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.sessions[id]
	if !ok {
		return Session{}, false
	}
	return *x, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	down := s.down
	s.requests = append(s.requests, r.Method+" "+r.URL.Path)
	tokenPath, discovery := s.tokenPath, s.discovery
	s.mu.Unlock()
	if down {
		// An outage: the connection closes without an HTTP answer.
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	switch {
	case r.URL.Path == "/.well-known/openid-configuration" && r.Method == http.MethodGet && discovery:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                s.URL + "/",
			"token_endpoint":                        s.URL + tokenPath,
			"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"},
		})
	case r.URL.Path == tokenPath && r.Method == http.MethodPost:
		s.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/admin/v1/"):
		s.serveAdmin(w, r)
	default:
		// MAS answers unknown routes with an empty 404.
		w.WriteHeader(http.StatusNotFound)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErrors answers in the admin API's error shape.
func writeErrors(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"title": fmt.Sprintf(format, args...)}}})
}

// oauthError answers in the token endpoint's error shape (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, description string) {
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mas"`)
	}
	writeJSON(w, status, body)
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenStatus != 0 {
		oauthError(w, s.tokenStatus, "server_error", "")
		return
	}
	id, secret, ok := r.BasicAuth()
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "")
		return
	}
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_request", "No credentials were presented")
		return
	}
	c, known := s.clients[id]
	if !known || c.secret != secret {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "")
		return
	}
	scopes := strings.Fields(r.PostForm.Get("scope"))
	var violations []string
	for _, sc := range scopes {
		allowed := false
		switch sc {
		case "urn:mas:admin":
			allowed = c.admin
		case "urn:synapse:admin:*", "urn:matrix:client:api:*":
			allowed = s.synapseScopes
		case "openid", "email", "urn:mas:graphql:*":
			allowed = true
		}
		if !allowed {
			violations = append(violations, fmt.Sprintf("scope '%s' not allowed", sc))
		}
	}
	if len(violations) > 0 {
		// MAS answers a policy refusal with 403 and the policy's messages.
		oauthError(w, http.StatusForbidden, "invalid_scope", strings.Join(violations, ", "))
		return
	}
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	tok := "mat_" + hex.EncodeToString(buf)
	s.tokens[tok] = token{scopes: scopes, expires: s.now().Add(s.lifetime)}
	s.issued++
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.lifetime / time.Second),
		"scope":        strings.Join(scopes, " "),
	})
}
