package mas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Scopes a token may be asked for.
const (
	// ScopeAdminAPI lets a token use MAS's admin API. MAS grants it to a client-credentials
	// client only when its policy lists the client in policy.data.admin_clients.
	ScopeAdminAPI = "urn:mas:admin"
	// ScopeSynapseAdmin asks for a token Synapse's admin API accepts. Synapse wants the
	// client-server API scope as well as urn:synapse:admin:*, and (up to the releases this was
	// written against) a user behind the token, which a client-credentials token never has;
	// MAS's default policy refuses both scopes to the client-credentials grant.
	ScopeSynapseAdmin = "urn:matrix:client:api:* urn:synapse:admin:*"
)

const (
	// DefaultTokenPath is where MAS serves its token endpoint, used when the discovery document
	// does not name one.
	DefaultTokenPath = "/oauth2/token"
	discoveryPath    = "/.well-known/openid-configuration"
	// refreshMargin and renewAfter say when a token is renewed: 60 s before it expires or at
	// 80 % of its lifetime, whichever comes first (but never before half of it).
	refreshMargin = 60 * time.Second
	// defaultLifetime is assumed for a token answered without expires_in.
	defaultLifetime = time.Minute
	maxTokenAnswer  = 64 << 10
	// fetchTimeout bounds a fetch, which no single caller can cancel.
	fetchTimeout = 30 * time.Second
)

// Errors a token fetch can wrap, so that callers (the doctor) can say what to fix.
var (
	// ErrUnreachable: no HTTP answer from MAS at all.
	ErrUnreachable = errors.New("MAS is unreachable")
	// ErrBadCredentials: MAS does not know the client or its secret (invalid_client).
	ErrBadCredentials = errors.New("MAS refused the client credentials")
	// ErrNotAllowed: the client may not use the grant or the scope (unauthorized_client,
	// invalid_scope, access_denied).
	ErrNotAllowed = errors.New("MAS refused the client this grant or scope")
	// ErrNotMAS: an answer that is not from MAS's token endpoint (wrong URL, a proxy's page).
	ErrNotMAS = errors.New("the answer is not from MAS's token endpoint")
)

// TokenOptions configures a TokenSource.
type TokenOptions struct {
	// URL is MAS's base URL (its issuer), e.g. https://auth.example.com.
	URL string
	// TokenEndpoint overrides discovery; empty means the token_endpoint of
	// URL/.well-known/openid-configuration, or URL/oauth2/token when there is no such document.
	TokenEndpoint string
	ClientID      string
	ClientSecret  string
	// Scope is the space-separated scope asked for; empty means ScopeAdminAPI.
	Scope      string
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// TokenSource hands out access tokens obtained with the client-credentials grant
// (client_secret_basic). A token is reused until its refresh time; concurrent callers then wait
// for one fetch. It is safe for concurrent use.
type TokenSource struct {
	base     *url.URL
	clientID string
	secret   string
	scope    string
	http     *http.Client
	now      func() time.Time

	mu       sync.Mutex
	endpoint string // resolved token endpoint; "" until discovered
	token    string
	renewAt  time.Time
	expires  time.Time
	inflight *tokenFetch
}

// tokenFetch is one request for a token that every waiting caller shares.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// NewTokenSource checks the options; it makes no request.
func NewTokenSource(o TokenOptions) (*TokenSource, error) {
	base, err := parseBase(o.URL)
	if err != nil {
		return nil, err
	}
	if o.ClientID == "" {
		return nil, errors.New("mas: the client ID is empty: set mas.client_id / MAS_CLIENT_ID to the client_id of a client MAS lists in policy.data.admin_clients")
	}
	if o.ClientSecret == "" {
		return nil, errors.New("mas: the client secret is empty: set mas.client_secret / MAS_CLIENT_SECRET (or MAS_CLIENT_SECRET_FILE)")
	}
	if o.TokenEndpoint != "" {
		if _, err := parseBase(o.TokenEndpoint); err != nil {
			return nil, fmt.Errorf("mas: token endpoint: %w", err)
		}
	}
	s := &TokenSource{base: base, clientID: o.ClientID, secret: o.ClientSecret, scope: o.Scope,
		http: o.HTTPClient, now: o.Now, endpoint: o.TokenEndpoint}
	if s.scope == "" {
		s.scope = ScopeAdminAPI
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 30 * time.Second}
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case raw == "":
		return nil, errors.New("mas: the URL is empty: set mas.url / MAS_URL to MAS's base URL, e.g. https://auth.example.com")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("mas: %q is not an http(s) URL: set mas.url / MAS_URL to MAS's base URL, e.g. https://auth.example.com", raw)
	}
	return u, nil
}

// Token returns a token that is not due for renewal, fetching one if needed. While the fetch is
// under way other callers wait for its answer instead of asking again; a caller whose ctx ends
// stops waiting without cancelling the fetch for the others.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	if s.token != "" && s.now().Before(s.renewAt) {
		t := s.token
		s.mu.Unlock()
		return t, nil
	}
	f := s.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		s.inflight = f
		go s.fetch(context.WithoutCancel(ctx), f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", fmt.Errorf("wait for a MAS token: %w", ctx.Err())
	}
}

// Invalidate forgets token after a server refused it, so that the next Token call fetches a
// new one. A token already replaced is left alone.
func (s *TokenSource) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token != "" && s.token == token {
		s.token = ""
	}
}

// fetch asks MAS for a token and hands the answer to every waiter. When the renewal fails while
// the old token is still valid, the old one is handed out: the next call tries again.
func (s *TokenSource) fetch(ctx context.Context, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	start := s.now()
	token, lifetime, err := s.request(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.token = token
		s.expires = start.Add(lifetime)
		s.renewAt = start.Add(renewAfter(lifetime))
		f.token = token
	case s.token != "" && s.now().Before(s.expires):
		f.token = s.token
	default:
		f.err = err
	}
	s.inflight = nil
	close(f.done)
}

// renewAfter is how long after its issue a token of the given lifetime is renewed.
func renewAfter(lifetime time.Duration) time.Duration {
	d := min(lifetime*4/5, lifetime-refreshMargin)
	return max(d, lifetime/2)
}

// tokenAnswer is the token endpoint's answer, success (RFC 6749 §5.1) or error (§5.2).
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (s *TokenSource) request(ctx context.Context) (string, time.Duration, error) {
	endpoint, err := s.tokenEndpoint(ctx)
	if err != nil {
		return "", 0, err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {s.scope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, fmt.Errorf("get a MAS token from %s: %w", redactURL(endpoint), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// MAS decodes the Basic credentials as they are, without form-decoding them first.
	req.SetBasicAuth(s.clientID, s.secret)
	resp, err := s.http.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("get a MAS token from %s: %w: check mas.url / MAS_URL and that this machine can reach MAS: %w",
			redactURL(endpoint), ErrUnreachable, s.scrub(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return "", 0, fmt.Errorf("get a MAS token from %s: reading the answer: %w: %w", redactURL(endpoint), ErrUnreachable, err)
	}
	var ans tokenAnswer
	jsonErr := json.Unmarshal(body, &ans)
	if resp.StatusCode == http.StatusOK && jsonErr == nil && ans.AccessToken != "" {
		if !strings.EqualFold(ans.TokenType, "bearer") {
			return "", 0, fmt.Errorf("get a MAS token from %s: the token type is %q, not Bearer", redactURL(endpoint), ans.TokenType)
		}
		lifetime := time.Duration(ans.ExpiresIn) * time.Second
		if ans.ExpiresIn <= 0 {
			lifetime = defaultLifetime
		}
		return ans.AccessToken, lifetime, nil
	}
	return "", 0, s.tokenError(endpoint, resp.StatusCode, ans, jsonErr)
}

// tokenError says what a refused token request means and what to change.
func (s *TokenSource) tokenError(endpoint string, status int, ans tokenAnswer, jsonErr error) error {
	what := fmt.Sprintf("get a MAS token from %s (HTTP %d", redactURL(endpoint), status)
	if ans.Error != "" {
		what += ", " + ans.Error
	}
	if ans.ErrorDescription != "" {
		what += ": " + s.scrubString(ans.ErrorDescription)
	}
	what += ")"
	switch {
	case ans.Error == "invalid_client":
		return fmt.Errorf("%s: %w: check mas.client_id / MAS_CLIENT_ID and mas.client_secret / MAS_CLIENT_SECRET (or MAS_CLIENT_SECRET_FILE) against the client in MAS's clients list, which needs client_auth_method: client_secret_basic", what, ErrBadCredentials)
	case ans.Error == "unauthorized_client":
		return fmt.Errorf("%s: %w: the client %s may not use the client_credentials grant: give it client_auth_method: client_secret_basic in MAS's clients list", what, ErrNotAllowed, s.clientID)
	case (ans.Error == "invalid_scope" || ans.Error == "access_denied") && s.scope != ScopeAdminAPI:
		return fmt.Errorf("%s: %w: MAS's policy refuses the client %s the scope %q; MAS's default policy never grants urn:synapse:admin:* or the client-server API scope to a client-credentials client: set mas.use_for_synapse_admin / MAS_USE_FOR_SYNAPSE_ADMIN to false, or allow them in a custom MAS policy", what, ErrNotAllowed, s.clientID, s.scope)
	case ans.Error == "invalid_scope", ans.Error == "access_denied":
		return fmt.Errorf("%s: %w: MAS's policy refuses the client %s the scope %q: list the client ID in MAS's policy.data.admin_clients", what, ErrNotAllowed, s.clientID, s.scope)
	case ans.Error != "" && status >= 500:
		return fmt.Errorf("%s: MAS failed to issue a token; MAS's log says why, the bot tries again", what)
	case ans.Error != "":
		return fmt.Errorf("%s: MAS refused the token request", what)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s: %w: no token endpoint there: set mas.url / MAS_URL to MAS's public base URL (the listener with the oauth and discovery resources)", what, ErrNotMAS)
	case status >= 500:
		return fmt.Errorf("%s: MAS (or a proxy in front of it) failed; the bot tries again", what)
	case jsonErr != nil:
		return fmt.Errorf("%s: %w: the answer is not JSON: check that mas.url / MAS_URL points at MAS", what, ErrNotMAS)
	default:
		return fmt.Errorf("%s: %w: the answer holds no access_token", what, ErrNotMAS)
	}
}

// tokenEndpoint discovers the token endpoint once and keeps it.
func (s *TokenSource) tokenEndpoint(ctx context.Context) (string, error) {
	s.mu.Lock()
	endpoint := s.endpoint
	s.mu.Unlock()
	if endpoint != "" {
		return endpoint, nil
	}
	endpoint, err := s.discover(ctx)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.endpoint = endpoint
	s.mu.Unlock()
	return endpoint, nil
}

// discover reads the token_endpoint from MAS's OpenID configuration, falling back to
// DefaultTokenPath when MAS serves no such document at the base URL.
func (s *TokenSource) discover(ctx context.Context) (string, error) {
	fallback := s.base.String() + DefaultTokenPath
	u := s.base.String() + discoveryPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("read MAS's OpenID configuration at %s: %w", redactURL(u), err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("read MAS's OpenID configuration at %s: %w: check mas.url / MAS_URL and that this machine can reach MAS: %w", redactURL(u), ErrUnreachable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return fallback, nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("read MAS's OpenID configuration at %s: HTTP %d: check mas.url / MAS_URL; MAS's log says more", redactURL(u), resp.StatusCode)
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxTokenAnswer)).Decode(&doc); err != nil {
		return "", fmt.Errorf("read MAS's OpenID configuration at %s: %w: not JSON: check that mas.url / MAS_URL points at MAS", redactURL(u), ErrNotMAS)
	}
	if doc.TokenEndpoint == "" {
		return fallback, nil
	}
	if _, err := parseBase(doc.TokenEndpoint); err != nil {
		return "", fmt.Errorf("read MAS's OpenID configuration at %s: token_endpoint %q is not an http(s) URL", redactURL(u), doc.TokenEndpoint)
	}
	return doc.TokenEndpoint, nil
}

// scrub keeps the client secret out of an error that might quote the request.
func (s *TokenSource) scrub(err error) error {
	if msg := err.Error(); strings.Contains(msg, s.secret) {
		return errors.New(s.scrubString(msg))
	}
	return err
}

func (s *TokenSource) scrubString(msg string) string {
	return strings.ReplaceAll(msg, s.secret, "<redacted>")
}

// redactURL drops credentials a URL might carry.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured URL"
	}
	return u.Redacted()
}
