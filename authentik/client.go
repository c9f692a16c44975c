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
	MaxBodyBytes int64         // a larger answer is an error; default 32 MiB
	HTTPClient   *http.Client  // optional, so that metrics or proxies can wrap the transport
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
	api      *url.URL // ends in /api/v3/
	token    string
	http     *http.Client
	pageSize int
	timeout  time.Duration
	maxBody  int64
}

// New checks the settings and prepares a client; it makes no request. baseURL is the address
// users open in their browser (https://auth.example.com, trailing slash or not); /api/v3/ is
// added here, and a base that already ends in /api/v3 is taken as it is.
func New(baseURL, token string, opts Options) (*Client, error) {
	api, err := apiURL(baseURL)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("authentik token is empty (set AUTHENTIK_TOKEN to an API token from Authentik's admin interface)")
	}
	for _, r := range token {
		// The value itself is kept out of the message: it is a secret.
		if r <= ' ' || r == 0x7f {
			return nil, errors.New("authentik token contains spaces or control characters (check AUTHENTIK_TOKEN for a stray newline or quotes)")
		}
	}
	c := &Client{api: api, token: token, http: opts.HTTPClient, pageSize: opts.PageSize,
		timeout: opts.Timeout, maxBody: opts.MaxBodyBytes}
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
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("page", strconv.Itoa(pageNo))
	q.Set("page_size", strconv.Itoa(c.pageSize))
	u := c.api.ResolveReference(&url.URL{Path: path, RawQuery: q.Encode()})
	where := u.RequestURI()

	body, contentType, err := c.get(ctx, u, where)
	if err != nil {
		return page{}, err
	}
	p, err := decodePage(body)
	if err != nil {
		if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && !strings.Contains(mt, "json") {
			// A 200 in HTML is a login page of a proxy in front of Authentik, or another site.
			return page{}, withKind(ErrNotAuthentikAPI, fmt.Errorf(
				"authentik GET %s: %w (the answer is %s, not JSON: is AUTHENTIK_URL behind a login page or pointing elsewhere? "+
					"Set it to Authentik's own base address, e.g. https://auth.example.com, and let /api/v3/ past any login in front of it)",
				where, err, mt))
		}
		return page{}, fmt.Errorf("authentik GET %s: %w", where, err)
	}
	return p, nil
}

// get does one request and returns the body of a 2xx answer; anything else is an *APIError
// (whose Kind errors.Is matches) or a transport error.
func (c *Client) get(ctx context.Context, u *url.URL, where string) ([]byte, string, error) {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", fmt.Errorf("authentik GET %s: build request: %w", where, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	// Authentik translates its error texts (it varies on Accept-Language); the error kinds are
	// told apart by the English ones.
	req.Header.Set("Accept-Language", "en")

	resp, err := c.http.Do(req)
	if err != nil {
		return nil, "", c.transportError(ctx, reqCtx, where, err)
	}
	defer resp.Body.Close()

	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return nil, "", c.transportError(ctx, reqCtx, where, fmt.Errorf("read body: %w", err))
	}
	if int64(len(body)) > c.maxBody {
		return nil, "", fmt.Errorf("authentik GET %s: answer is larger than %d bytes (lower the page size or raise the body limit)", where, c.maxBody)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", newAPIError(http.MethodGet, where, resp, body, c.token, time.Now())
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

// listAll follows a listing from page 1 to its end, next: 0. The count must stay the same on
// every page: if it moves, objects were added or removed while we read and items may have
// shifted between pages unseen, so the listing is refused rather than trusted. A listing that
// shrank so far that a page is gone ends in Authentik's "Invalid page." 404 (recorded: 33),
// which the *APIError explains.
func (c *Client) listAll(ctx context.Context, path string, query url.Values) ([]json.RawMessage, error) {
	var all []json.RawMessage
	count := -1
	for want, fetched := 1, 0; ; fetched++ {
		if fetched >= maxPages {
			return nil, fmt.Errorf("authentik listing %s did not end after %d pages", path, maxPages)
		}
		p, err := c.getPage(ctx, path, query, want)
		if err != nil {
			return nil, err
		}
		pg := p.Pagination
		switch {
		case pg.Current != want:
			return nil, fmt.Errorf("authentik listing %s: asked for page %d, got page %d", path, want, pg.Current)
		case pg.TotalPages > maxPages:
			return nil, fmt.Errorf("authentik listing %s claims %d pages, more than the limit of %d", path, pg.TotalPages, maxPages)
		case count >= 0 && pg.Count != count:
			return nil, fmt.Errorf("authentik listing %s changed while it was read (%d results, then %d); it will be read again next time",
				path, count, pg.Count)
		}
		count = pg.Count
		all = append(all, p.Results...)
		if pg.Next == 0 {
			break
		}
		want = pg.Next
	}
	if len(all) != count {
		return nil, fmt.Errorf("authentik listing %s returned %d results across its pages but announced %d", path, len(all), count)
	}
	return all, nil
}
