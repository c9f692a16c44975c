package mas

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// AdminPath is where MAS serves its admin API.
const AdminPath = "/api/admin/v1/"

const (
	defaultTimeout = 30 * time.Second
	// maxAnswer bounds an admin API answer; a page of 100 sessions is far smaller.
	maxAnswer = 4 << 20
)

// TokenProvider is where a Client gets its bearer tokens: a *TokenSource in production.
type TokenProvider interface {
	Token(ctx context.Context) (string, error)
	// Invalidate drops a token the server refused.
	Invalidate(token string)
}

// Options configures a Client.
type Options struct {
	// URL is MAS's base URL; the admin API is at URL/api/admin/v1/.
	URL string
	// ClientID and ClientSecret are a client-credentials client that MAS's policy lists in
	// policy.data.admin_clients.
	ClientID     string
	ClientSecret string
	// TokenEndpoint overrides discovery (see TokenOptions).
	TokenEndpoint string
	// Timeout bounds each request; zero means 30 seconds.
	Timeout    time.Duration
	HTTPClient *http.Client
	Now        func() time.Time
}

// Client calls MAS's admin API with tokens of scope ScopeAdminAPI. It is safe for concurrent
// use.
type Client struct {
	base   *url.URL
	http   *http.Client
	tokens TokenProvider
	source *TokenSource
}

// New builds a client and its token source; it makes no request.
func New(o Options) (*Client, error) {
	httpClient := o.HTTPClient
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: timeout}
	} else if httpClient.Timeout == 0 {
		c := *httpClient
		c.Timeout = timeout
		httpClient = &c
	}
	src, err := NewTokenSource(TokenOptions{URL: o.URL, TokenEndpoint: o.TokenEndpoint, ClientID: o.ClientID,
		ClientSecret: o.ClientSecret, Scope: ScopeAdminAPI, HTTPClient: httpClient, Now: o.Now})
	if err != nil {
		return nil, err
	}
	return &Client{base: src.base, http: httpClient, tokens: src, source: src}, nil
}

// Tokens is the client's token source, for the doctor (a fetched token proves the credentials).
func (c *Client) Tokens() *TokenSource { return c.source }

// URL is MAS's base URL, without credentials, for messages.
func (c *Client) URL() string { return c.base.Redacted() }

// ErrNotFound marks an admin API answer 404 about the resource asked for (a user, a session).
var ErrNotFound = errors.New("not found in MAS")

// APIError is an admin API answer other than 2xx.
type APIError struct {
	// Op is what was being done, e.g. `look up user "alice"`.
	Op     string
	Status int
	// Titles are the errors[].title of MAS's answer; empty when the answer was not MAS's
	// error shape (a proxy, or no admin API on that listener).
	Titles []string
	// Hint says what to do about it.
	Hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: MAS answered HTTP %d", e.Op, e.Status)
	if len(e.Titles) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(e.Titles, "; "))
	}
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNotFound) true for a 404 that names a missing resource.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound && len(e.Titles) > 0
}

// IsUnavailable tells whether err means MAS could not be asked at all (unreachable, a 5xx, a
// 429): a passing outage rather than an answer.
func IsUnavailable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500 || apiErr.Status == http.StatusTooManyRequests
	}
	return errors.Is(err, ErrUnreachable)
}

// ulidRe is MAS's ULID: every ID the admin API puts in a path.
var ulidRe = regexp.MustCompile(`^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{26}$`)

// IsULID tells whether s is an ID in MAS's form, e.g. 01H8PKNWKKRPCBW4YGH1RWV279.
func IsULID(s string) bool { return ulidRe.MatchString(s) }

// errorBody is MAS's error shape: {"errors":[{"title":"…"}]}.
type errorBody struct {
	Errors []struct {
		Title string `json:"title"`
	} `json:"errors"`
}

// do sends one admin API request with a token. A 401 drops the token and tries once more with
// a fresh one, since MAS may have revoked or expired it before its announced lifetime.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, out any) error {
	u := c.base.String() + AdminPath + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var status int
	var body []byte
	for attempt := 0; attempt < 2; attempt++ {
		token, err := c.tokens.Token(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		status, body, err = c.send(ctx, method, u, token)
		if err != nil {
			return fmt.Errorf("%s: %w at %s: check mas.url / MAS_URL and that this machine can reach MAS: %w", op, ErrUnreachable, c.URL(), err)
		}
		if status != http.StatusUnauthorized {
			break
		}
		c.tokens.Invalidate(token)
	}
	if status >= 200 && status < 300 {
		if out == nil || len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s: MAS's answer is not the admin API's JSON (%v): check that mas.url / MAS_URL points at MAS", op, err)
		}
		return nil
	}
	return c.apiError(op, status, body)
}

func (c *Client) send(ctx context.Context, method, u, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}

// apiError turns a refusal into an error that says what to do.
func (c *Client) apiError(op string, status int, body []byte) error {
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	e := &APIError{Op: op, Status: status}
	for _, t := range eb.Errors {
		if t.Title != "" {
			e.Titles = append(e.Titles, t.Title)
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		e.Hint = "MAS refuses even a freshly issued token: list the client in MAS's policy.data.admin_clients"
	case status == http.StatusForbidden:
		e.Hint = "the token lacks the urn:mas:admin scope: list the client in MAS's policy.data.admin_clients"
	case status == http.StatusNotFound && len(e.Titles) == 0:
		e.Hint = fmt.Sprintf("%s serves no admin API: add the adminapi resource to the MAS listener mas.url / MAS_URL points at", c.URL())
	case status == http.StatusTooManyRequests, status >= 500:
		e.Hint = "MAS (or its database) is failing; the bot tries again later"
	}
	return e
}

// resource is one JSON:API resource of type T.
type resource[T any] struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes T      `json:"attributes"`
	Links      struct {
		Self string `json:"self"`
	} `json:"links"`
}

// single is an answer holding one resource.
type single[T any] struct {
	Data resource[T] `json:"data"`
}

// page is an answer holding a page of resources.
type page[T any] struct {
	Meta *struct {
		Count *int `json:"count"`
	} `json:"meta"`
	Data  []resource[T] `json:"data"`
	Links struct {
		Self string  `json:"self"`
		Next *string `json:"next"`
	} `json:"links"`
}

const (
	// pageSize is asked for when listing.
	pageSize = 100
	// maxPages bounds a listing, so that a server that keeps answering "next" cannot keep the
	// bot busy forever.
	maxPages = 100
)

// list reads every page of a listing, following the cursor of the last item while the answer
// has a next link.
func list[T any](ctx context.Context, c *Client, op, path string, query url.Values) ([]resource[T], error) {
	var out []resource[T]
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page[first]", fmt.Sprint(pageSize))
	for range maxPages {
		var p page[T]
		if err := c.do(ctx, op, http.MethodGet, path, q, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if p.Links.Next == nil || *p.Links.Next == "" || len(p.Data) == 0 {
			return out, nil
		}
		last := p.Data[len(p.Data)-1].ID
		if last == q.Get("page[after]") {
			return out, nil
		}
		q.Set("page[after]", last)
	}
	return nil, fmt.Errorf("%s: more than %d pages of %d; giving up", op, maxPages, pageSize)
}
