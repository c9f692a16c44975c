package authentik

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"authentik-matrix-sync/directory"
)

// The kinds of failure an operator fixes in different places. Match them with errors.Is on any
// error the client returns; errors.As still finds the *APIError underneath.
var (
	// ErrTokenRejected: Authentik did not accept the token, or never received it.
	ErrTokenRejected = errors.New("authentik did not accept the token")
	// ErrPermissionDenied: the token is valid, but its user may not read what was asked for.
	ErrPermissionDenied = errors.New("the authentik token's user lacks permission")
	// ErrNotAuthentikAPI: whatever answered is not Authentik's API (wrong address, a login page
	// in front of it), or this Authentik version lacks the endpoint.
	ErrNotAuthentikAPI = errors.New("the answer is not from Authentik's API")
	// ErrNotFound: Authentik says the object asked for does not exist (any more). It is the
	// directory's own ErrNotFound, so that directory.IsNotFound holds for it.
	ErrNotFound = directory.ErrNotFound

	// errListingShrank: a page past the end of a listing, because objects were removed while
	// its pages were read. Not exported: the listing is simply read again next cycle.
	errListingShrank = errors.New("authentik listing shrank while it was read")
)

// Authentik's own texts, word for word as 2025.12.4 sends them (testdata/recorded/2025.12.4).
// The client asks for English (see get), so that these can be told apart.
const (
	detailBadToken      = "Token invalid/expired"                              // 40: a wrong, expired or revoked token
	detailNoCredentials = "Authentication credentials were not provided."      // 41: no header; 42: "Token" scheme
	detailNoPermission  = "You do not have permission to perform this action." // 54, 55, 56: a valid token's user lacks permission
	detailInvalidPage   = "Invalid page."                                      // 33: a page past the end
)

// detailNoMatch is Django's get_object_or_404 text: "No Group matches the given query." (30),
// "No User matches the given query." (31).
var detailNoMatch = regexp.MustCompile(`^No \S+ matches the given query\.$`)

// APIError is an answer from Authentik (or a proxy in front of it) with a non-2xx status.
type APIError struct {
	Method string
	Path   string // path and query below the host, e.g. /api/v3/core/users/?page=2
	Status int
	Detail string // Authentik's "detail", a summary of a validation error, an HTML page's title, or the start of the body
	Code   string // Authentik's "code", when it sends one
	// RetryAfter is how long the server asked us to wait (429 and 503 only); zero when it did not say.
	RetryAfter time.Duration
	// Kind is ErrTokenRejected, ErrPermissionDenied, ErrNotAuthentikAPI, ErrNotFound, another
	// (unexported) kind, or nil when the answer is none of them; errors.Is matches it.
	Kind error
}

// Is makes errors.Is(err, ErrTokenRejected) and the like true for an answer of that kind.
func (e *APIError) Is(target error) bool { return e.Kind != nil && target == e.Kind }

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "authentik %s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if hint := e.hint(); hint != "" {
		b.WriteString(" (")
		b.WriteString(hint)
		b.WriteString(")")
	}
	return b.String()
}

// withKind marks err as being of kind for errors.Is, keeping its message as it is.
func withKind(kind, err error) error { return &kindError{kind: kind, err: err} }

type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Hints for the kinds: each says where to fix it, and no two read alike, so that an operator
// can tell a wrong token from a missing permission from a wrong address at a glance.
const (
	hintTokenRejected = "check AUTHENTIK_TOKEN: Authentik does not accept it, the token is wrong, expired or revoked; " +
		"create an API token (intent API) in Authentik's admin interface under Directory > Tokens and App passwords " +
		"and set AUTHENTIK_TOKEN to its key"
	hintTokenNotReceived = "check AUTHENTIK_TOKEN and any proxy in front of Authentik: Authentik received no token, " +
		"though this client always sends \"Authorization: Bearer …\"; a proxy that drops the Authorization header or " +
		"rewrites its scheme (Authentik answers a \"Token\" scheme the same way) causes this, so let it pass the header " +
		"unchanged; the token itself must be an API token (intent API) from Authentik's admin interface"
	hintProxyLogin = "check AUTHENTIK_TOKEN and any proxy in front of Authentik: Authentik itself answers 403, so this 401 " +
		"likely comes from a proxy asking for its own login; let /api/v3/ through to Authentik, and set AUTHENTIK_TOKEN " +
		"to an API token (intent API) from Authentik's admin interface"
	hintPermissionDenied = "the token is valid, but its user may not view users and groups: give that user the permissions " +
		"authentik_core.view_user and authentik_core.view_group (through a role, Directory > Roles in Authentik's admin " +
		"interface), or set AUTHENTIK_TOKEN to a token of an admin or service account that has them"
	hintForbidden = "refused, by Authentik or a proxy in front of it: check AUTHENTIK_TOKEN, that its user may view " +
		"users and groups, and that no proxy blocks /api/v3/"
	hintNotAuthentikAPI = "this is not Authentik's API: set AUTHENTIK_URL to Authentik's base address, e.g. " +
		"https://auth.example.com, without a path; if it is already that, this Authentik version lacks the endpoint"
	hintNotFound      = "the object does not exist (any more): it was deleted, or its id is wrong"
	hintListingShrank = "the listing shrank while it was read: objects were deleted between its pages, so this page " +
		"is past the end now; it will be read again next cycle"
)

// hint tells the operator what to do; it is the part of the message that saves a support call.
func (e *APIError) hint() string {
	switch e.Kind {
	case ErrTokenRejected:
		switch {
		case e.Detail == detailNoCredentials:
			return hintTokenNotReceived
		case e.Status == http.StatusUnauthorized && e.Detail != detailBadToken:
			return hintProxyLogin
		}
		return hintTokenRejected
	case ErrPermissionDenied:
		return hintPermissionDenied
	case ErrNotAuthentikAPI:
		return hintNotAuthentikAPI
	case ErrNotFound:
		return hintNotFound
	case errListingShrank:
		return hintListingShrank
	}
	switch {
	case e.Status == http.StatusForbidden:
		return hintForbidden
	case e.Status == http.StatusTooManyRequests:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("rate limited; retry after %s", e.RetryAfter)
		}
		return "rate limited; retry later"
	case e.Status >= 500:
		if e.RetryAfter > 0 {
			return fmt.Sprintf("Authentik or its proxy failed; retry after %s and check its logs", e.RetryAfter)
		}
		return "Authentik or its proxy failed; check its logs"
	}
	return ""
}

// kindOf tells the kinds apart by status and by Authentik's exact "detail": a 403 means a bad
// token and a missing permission alike, and a 404 comes both from Authentik (JSON) and from
// anything else at a wrong address (32: Authentik's own HTML page for an unknown path).
func kindOf(status int, body []byte) error {
	detail, isJSON := authentikDetail(body)
	switch status {
	case http.StatusUnauthorized:
		// Authentik itself answers 403; a 401 comes from a proxy or a future version, and either
		// way the credentials are what it wants.
		return ErrTokenRejected
	case http.StatusForbidden:
		switch detail {
		case detailBadToken, detailNoCredentials:
			return ErrTokenRejected
		case detailNoPermission:
			return ErrPermissionDenied
		}
	case http.StatusNotFound:
		switch {
		case !isJSON:
			return ErrNotAuthentikAPI
		case detail == detailInvalidPage:
			return errListingShrank
		case detailNoMatch.MatchString(detail):
			return ErrNotFound
		default:
			// JSON, but not one of Authentik's 404s: another API at this address.
			return ErrNotAuthentikAPI
		}
	}
	return nil
}

// authentikDetail returns the "detail" of a JSON object body; isJSON is false for anything else
// (an HTML page, plain text, nothing).
func authentikDetail(body []byte) (detail string, isJSON bool) {
	var v struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", false
	}
	_ = json.Unmarshal(v.Detail, &detail)
	return detail, true
}

// maxDetail keeps a proxy's HTML error page from flooding the log.
const maxDetail = 300

// newAPIError reads what the server said. The token is cut out of everything taken from the
// body, so that a proxy echoing request headers cannot leak it into logs.
func newAPIError(method, path string, resp *http.Response, body []byte, token string, now time.Time) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
	e.Kind = kindOf(e.Status, body)
	e.Detail, e.Code = parseErrorBody(body)
	e.Detail = redact(e.Detail, token)
	e.Code = redact(e.Code, token)
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// htmlTitle finds the title of an HTML page, which says more than the page's first bytes
// (recording 32 starts with 300 bytes of markup before its title, "authentik").
var htmlTitle = regexp.MustCompile(`(?is)^\s*(?:<!doctype html|<html).*?<title[^>]*>(.*?)</title>`)

// parseErrorBody understands {"detail","code"}, DRF's {"field":["message"]} validation shape,
// an HTML page with a title, and falls back to the start of whatever text came back.
func parseErrorBody(body []byte) (detail, code string) {
	var generic map[string]json.RawMessage
	if err := json.Unmarshal(body, &generic); err == nil {
		var d, c string
		if raw, ok := generic["detail"]; ok && json.Unmarshal(raw, &d) == nil {
			_ = json.Unmarshal(generic["code"], &c)
			return shorten(d), shorten(c)
		}
		fields := make([]string, 0, len(generic))
		for k := range generic {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		var parts []string
		for _, k := range fields {
			var msgs []string
			if json.Unmarshal(generic[k], &msgs) == nil {
				parts = append(parts, k+": "+strings.Join(msgs, " "))
			}
		}
		if len(parts) > 0 {
			return shorten(strings.Join(parts, "; ")), ""
		}
	}
	if m := htmlTitle.FindSubmatch(body[:min(len(body), 64<<10)]); m != nil { // a title comes early
		if title := shorten(html.UnescapeString(string(m[1]))); title != "" {
			return shorten(fmt.Sprintf("an HTML page titled %q", title)), ""
		}
	}
	return shorten(string(body)), ""
}

func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxDetail {
		cut := maxDetail
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// parseRetryAfter accepts both forms HTTP allows: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}
