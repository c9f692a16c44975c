package authentik

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// APIError is an answer from Authentik (or a proxy in front of it) with a non-2xx status.
type APIError struct {
	Method string
	Path   string // path and query below the host, e.g. /api/v3/core/users/?page=2
	Status int
	Detail string // Authentik's "detail", a summary of a validation error, or the start of a non-JSON body
	Code   string // Authentik's "code", when it sends one
	// RetryAfter is how long the server asked us to wait (429 and 503 only); zero when it did not say.
	RetryAfter time.Duration
}

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

// hint tells the operator what to do; it is the part of the message that saves a support call.
func (e *APIError) hint() string {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return "check AUTHENTIK_TOKEN: the token is invalid or expired, is not an API token, " +
			"or its user lacks permission to view users and groups"
	case e.Status == http.StatusNotFound:
		return "check AUTHENTIK_URL points at the Authentik base URL, and that the object still exists"
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

// maxDetail keeps a proxy's HTML error page from flooding the log.
const maxDetail = 300

// newAPIError reads what the server said. The token is cut out of everything taken from the
// body, so that a proxy echoing request headers cannot leak it into logs.
func newAPIError(method, path string, resp *http.Response, body []byte, token string, now time.Time) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
	e.Detail, e.Code = parseErrorBody(body)
	e.Detail = redact(e.Detail, token)
	e.Code = redact(e.Code, token)
	if e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable {
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// parseErrorBody understands {"detail","code"}, DRF's {"field":["message"]} validation shape,
// and falls back to the start of whatever text came back.
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
