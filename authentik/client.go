package authentik

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Options tunes the client; the zero value is a sensible default.
type Options struct {
	PageSize     int           // results asked for per page; default 100 (Authentik caps it at its maximum)
	Timeout      time.Duration // per request, body included; default 30s
	MaxBodyBytes int64         // a larger answer is an error; default 32 MiB (see memberBodyLimit for member reads)
	HTTPClient   *http.Client  // optional, so that metrics or proxies can wrap the transport
	// MemberRead picks how group members are read; the default weighs what each way costs
	// Authentik (see chooseMemberRead).
	MemberRead MemberRead
	// Token, when set, is asked for the API token before every request instead of using the
	// one given to New, and told to look again when Authentik refuses it, so that a token file
	// rewritten while the program runs is picked up without a restart.
	Token TokenSource
}

// TokenSource hands out the current API token. Recheck is called after Authentik refused a
// token; it reports whether another token is now available, in which case the request is sent
// once more with it.
type TokenSource interface {
	Current() string
	Recheck() bool
}

const (
	defaultPageSize     = 100
	defaultTimeout      = 30 * time.Second
	defaultMaxBodyBytes = 32 << 20

	// maxPages stops a server whose pagination never ends; at the default page size it is ten
	// million objects, far beyond any directory this tool is meant for.
	maxPages = 100000
)

// Client reads from one Authentik instance. It is safe for concurrent use.
type Client struct {
	api        *url.URL // ends in /api/v3/
	token      string
	tokens     TokenSource // nil: token is used
	http       *http.Client
	pageSize   int
	timeout    time.Duration
	maxBody    int64
	memberRead MemberRead
}

// New checks the settings and prepares a client; it makes no request. baseURL is the address
// users open in their browser (https://auth.example.com, trailing slash or not); /api/v3/ is
// added here, and a base that already ends in /api/v3 is taken as it is.
func New(baseURL, token string, opts Options) (*Client, error) {
	api, err := apiURL(baseURL)
	if err != nil {
		return nil, err
	}
	if opts.Token != nil {
		token = opts.Token.Current()
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	if opts.MemberRead < MemberReadAuto || opts.MemberRead > MemberReadUserListing {
		return nil, fmt.Errorf("authentik member read %d is not one of the MemberRead values", opts.MemberRead)
	}
	c := &Client{api: api, token: token, tokens: opts.Token, http: opts.HTTPClient, pageSize: opts.PageSize,
		timeout: opts.Timeout, maxBody: opts.MaxBodyBytes, memberRead: opts.MemberRead}
	switch {
	case c.pageSize < 0:
		return nil, fmt.Errorf("authentik page size %d is negative (use 0 for the default of %d)", c.pageSize, defaultPageSize)
	case c.pageSize == 0:
		c.pageSize = defaultPageSize
	}
	switch {
	case c.timeout < 0:
		return nil, fmt.Errorf("authentik timeout %s is negative (use 0 for the default of %s)", c.timeout, defaultTimeout)
	case c.timeout == 0:
		c.timeout = defaultTimeout
	}
	switch {
	case c.maxBody < 0:
		return nil, fmt.Errorf("authentik max body size %d is negative (use 0 for the default of %d bytes)", c.maxBody, defaultMaxBodyBytes)
	case c.maxBody == 0:
		c.maxBody = defaultMaxBodyBytes
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	return c, nil
}

// checkToken refuses a token that cannot be sent as it is; the value itself is kept out of the
// message: it is a secret.
func checkToken(token string) error {
	if strings.TrimSpace(token) == "" {
		return errors.New("authentik token is empty (set AUTHENTIK_TOKEN to an API token from Authentik's admin interface)")
	}
	for _, r := range token {
		if r <= ' ' || r == 0x7f {
			return errors.New("authentik token contains spaces or control characters (check AUTHENTIK_TOKEN for a stray newline or quotes)")
		}
	}
	return nil
}

// currentToken is the token to send now.
func (c *Client) currentToken() string {
	if c.tokens == nil {
		return c.token
	}
	return c.tokens.Current()
}

func apiURL(baseURL string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return nil, fmt.Errorf("authentik URL %q is not a URL (set AUTHENTIK_URL like https://auth.example.com): %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authentik URL %q needs http:// or https:// and a host (set AUTHENTIK_URL like https://auth.example.com)", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("authentik URL %q carries a user name or password; remove it, the API token is the only credential used", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("authentik URL %q has a query or fragment; give only the base address", u.Redacted())
	}
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/api/v3") {
		p += "/api/v3"
	}
	u.Path = p + "/"
	u.RawPath = ""
	return u, nil
}

// getPage fetches one page of a listing. path is relative to /api/v3/ and ends in a slash.
func (c *Client) getPage(ctx context.Context, path string, query url.Values, pageNo int) (page, error) {
	return c.getPageSized(ctx, path, query, pageNo, c.pageSize, c.maxBody)
}

// getPageSized is getPage with its own page size and body limit.
func (c *Client) getPageSized(ctx context.Context, path string, query url.Values, pageNo, size int, maxBody int64) (page, error) {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(pageNo))
	q.Set("page_size", strconv.Itoa(size))
	u := c.api.ResolveReference(&url.URL{Path: path, RawQuery: q.Encode()})
	where := u.RequestURI()

	body, contentType, err := c.getLimited(ctx, u, where, maxBody)
	if err != nil {
		return page{}, err
	}
	p, err := decodePage(body)
	if err != nil {
		return page{}, notJSONError(where, contentType, err)
	}
	return p, nil
}

// notJSONError explains an answer that did not decode: a 200 in HTML is a login page of a proxy
// in front of Authentik, or another site.
func notJSONError(where, contentType string, err error) error {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && !strings.Contains(mt, "json") {
		return withKind(ErrNotAuthentikAPI, fmt.Errorf(
			"authentik GET %s: %w (the answer is %s, not JSON: is AUTHENTIK_URL behind a login page or pointing elsewhere? "+
				"Set it to Authentik's own base address, e.g. https://auth.example.com, and let /api/v3/ past any login in front of it)",
			where, err, mt))
	}
	return fmt.Errorf("authentik GET %s: %w", where, err)
}

// get does one request and returns the body of a 2xx answer; anything else is an *APIError
// (whose Kind errors.Is matches) or a transport error.
func (c *Client) get(ctx context.Context, u *url.URL, where string) ([]byte, string, error) {
	return c.getLimited(ctx, u, where, c.maxBody)
}

// getLimited is get with its own body limit. A refused token is looked for again (see
// TokenSource) and, when another one is there, the request is sent once more with it.
func (c *Client) getLimited(ctx context.Context, u *url.URL, where string, maxBody int64) ([]byte, string, error) {
	body, contentType, err := c.getOnce(ctx, u, where, maxBody)
	if c.tokens != nil && errors.Is(err, ErrTokenRejected) && c.tokens.Recheck() {
		return c.getOnce(ctx, u, where, maxBody)
	}
	return body, contentType, err
}

func (c *Client) getOnce(ctx context.Context, u *url.URL, where string, maxBody int64) ([]byte, string, error) {
	token := c.currentToken()
	if err := checkToken(token); err != nil {
		return nil, "", fmt.Errorf("authentik GET %s: %w", where, err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("authentik GET %s: build request: %w", where, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	// Authentik translates its error texts (it varies on Accept-Language); the error kinds are
	// told apart by the English ones.
	req.Header.Set("Accept-Language", "en")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", c.transportError(ctx, reqCtx, where, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, "", c.transportError(ctx, reqCtx, where, fmt.Errorf("read body: %w", err))
	}
	if int64(len(body)) > maxBody {
		return nil, "", fmt.Errorf("authentik GET %s: answer is larger than %d bytes (lower the page size or raise the body limit)", where, maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", newAPIError(http.MethodGet, where, resp, body, token, time.Now())
	}
	return bytes.TrimSpace(body), resp.Header.Get("Content-Type"), nil
}

func (c *Client) transportError(ctx, reqCtx context.Context, where string, err error) error {
	if ctx.Err() == nil && errors.Is(reqCtx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("authentik GET %s: no complete answer within %s (Authentik is slow or unreachable; raise the timeout or lower the page size): %w",
			where, c.timeout, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("authentik GET %s: %w", where, err)
	}
	return fmt.Errorf("authentik GET %s: %w (check that AUTHENTIK_URL is right and Authentik is reachable)", where, err)
}

// listAll follows a listing from page 1 to its end and returns every result (see listEach).
func (c *Client) listAll(ctx context.Context, path string, query url.Values) ([]json.RawMessage, error) {
	var all []json.RawMessage
	err := c.listEach(ctx, path, query, c.pageSize, c.maxBody, func(results []json.RawMessage) error {
		all = append(all, results...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// listEach follows a listing from page 1 to its end, next: 0, handing each page's results to fn
// before the next page is asked for, so that a caller keeping less than the answers never
// holds all of them. The count must stay the same on every page: if it moves, objects were
// added or removed while we read and items may have shifted between pages unseen, so the
// listing is refused rather than trusted. A listing that shrank so far that a page is gone
// ends in Authentik's "Invalid page." 404 (recorded: 33), which the *APIError explains. An
// error from fn ends the listing with that error.
func (c *Client) listEach(ctx context.Context, path string, query url.Values, size int, maxBody int64, fn func([]json.RawMessage) error) error {
	count, seen := -1, 0
	for want, fetched := 1, 0; ; fetched++ {
		if fetched >= maxPages {
			return fmt.Errorf("authentik listing %s did not end after %d pages", path, maxPages)
		}
		p, err := c.getPageSized(ctx, path, query, want, size, maxBody)
		if err != nil {
			return err
		}
		pg := p.Pagination
		switch {
		case pg.Current != want:
			return fmt.Errorf("authentik listing %s: asked for page %d, got page %d", path, want, pg.Current)
		case pg.TotalPages > maxPages:
			return fmt.Errorf("authentik listing %s claims %d pages, more than the limit of %d", path, pg.TotalPages, maxPages)
		case count >= 0 && pg.Count != count:
			return fmt.Errorf("authentik listing %s changed while it was read (%d results, then %d); it will be read again next time",
				path, count, pg.Count)
		}
		count = pg.Count
		seen += len(p.Results)
		if seen > count {
			return fmt.Errorf("authentik listing %s returned more than the %d results it announced", path, count)
		}
		if err := fn(p.Results); err != nil {
			return err
		}
		if pg.Next == 0 {
			break
		}
		want = pg.Next
	}
	if seen != count {
		return fmt.Errorf("authentik listing %s returned %d results across its pages but announced %d", path, seen, count)
	}
	return nil
}
