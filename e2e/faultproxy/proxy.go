// Package faultproxy is a reverse proxy for tests that sits between the bot and a real
// homeserver and breaks chosen requests on purpose: it answers them with an error status, a
// rate limit, a delay past the client's timeout, a dropped connection or a truncated body, as a
// list of rules says. Rules can be added and removed while the bot runs; every request is
// recorded with the rule that hit it, so a test can count hits and measure the time between a
// 429 and its retry.
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"authentik-matrix-sync/authentik/authentiktest"
)

// Rule says which requests to break and how. A request is hit by the first rule, in the order
// added, that matches it and has hits left; Skip matching requests pass through untouched
// first. What a hit does: wait Delay (a delay alone then forwards the request), then either
// drop the connection (Drop), forward the request and cut its answer in half (Truncate), or
// answer Status with Body. A delay longer than the client's timeout is a timeout.
type Rule struct {
	// Name labels the rule in Hits and in test failures.
	Name string
	// Method is the HTTP method to match; "" matches every method.
	Method string
	// Path is a path pattern matched segment by segment: a {name} segment matches any one
	// segment, a trailing "/..." matches any rest, other segments match literally (compared
	// unescaped, so a room ID may be written as is). A pattern without a leading slash matches
	// the path's last segments: "state" or "rooms/{room}/kick". "" matches every path.
	Path string
	// Skip lets this many matching requests through before the rule starts hitting.
	Skip int
	// Times is how many requests the rule hits; 0 means without end (until removed).
	Times int

	Delay    time.Duration
	Drop     bool
	Truncate bool
	Status   int
	// Body answers with Status; empty gives a Matrix error body fitting the status.
	Body string
	// Header is added to a Status answer, e.g. {"Retry-After": "2"}.
	Header map[string]string
}

// RateLimited returns a rule answering 429 M_LIMIT_EXCEEDED with retry_after_ms set to wait.
func RateLimited(name, method, path string, wait time.Duration, times int) Rule {
	body := fmt.Sprintf(`{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests (injected)","retry_after_ms":%d}`, wait.Milliseconds())
	return Rule{Name: name, Method: method, Path: path, Times: times, Status: http.StatusTooManyRequests, Body: body}
}

// RuleID identifies an added rule.
type RuleID int

// Request is one request the proxy saw.
type Request struct {
	At     time.Time
	Method string
	// Path is the unescaped path, e.g. /_matrix/client/v3/rooms/!a:localhost/kick.
	Path string
	// Rule is the rule that hit it, 0 when it passed through untouched.
	Rule RuleID
	// Status is the status sent to the client: the injected one, the upstream's, or 0 when
	// the connection was dropped or the client gave up first.
	Status int
}

type ruleState struct {
	Rule
	id       RuleID
	skipLeft int
	hits     int
}

// Proxy forwards to one upstream, breaking what its rules say. It is safe for concurrent use.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	ts     *httptest.Server

	mu       sync.Mutex
	rules    []*ruleState
	lastID   RuleID
	requests []Request
	// matched holds, per rule, the indices in requests of every request that matched its
	// method and path, hit or not.
	matched map[RuleID][]int
}

// New returns a proxy to upstream that does not listen; serve it with any http.Server, or use
// Start.
func New(upstream string) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("fault proxy upstream %q: not an absolute URL (%v)", upstream, err)
	}
	p := &Proxy{target: u, matched: map[RuleID][]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	// A client that gave up, or an upstream that failed, shows as a 502 like a real gateway
	// would send, without the default log line on every canceled request.
	p.rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if r.Context().Err() != nil {
			return
		}
		http.Error(w, "fault proxy: upstream failed: "+err.Error(), http.StatusBadGateway)
	}
	return p, nil
}

// Start returns a proxy to upstream listening on a local port; Close it when done.
func Start(upstream string) (*Proxy, error) {
	p, err := New(upstream)
	if err != nil {
		return nil, err
	}
	p.ts = httptest.NewServer(p)
	return p, nil
}

// URL is the proxy's base URL (empty for a proxy made with New).
func (p *Proxy) URL() string {
	if p.ts == nil {
		return ""
	}
	return p.ts.URL
}

// Close stops a proxy made with Start, cutting every open connection.
func (p *Proxy) Close() {
	if p.ts != nil {
		p.ts.CloseClientConnections()
		p.ts.Close()
	}
}

// Add appends a rule and returns its ID.
func (p *Proxy) Add(r Rule) RuleID {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastID++
	p.rules = append(p.rules, &ruleState{Rule: r, id: p.lastID, skipLeft: r.Skip})
	return p.lastID
}

// Remove drops a rule; requests it already hit stay recorded.
func (p *Proxy) Remove(id RuleID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = slices.DeleteFunc(p.rules, func(r *ruleState) bool { return r.id == id })
}

// Clear drops every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Hits is how many requests the rule has broken so far.
func (p *Proxy) Hits(id RuleID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, i := range p.matched[id] {
		if p.requests[i].Rule == id {
			n++
		}
	}
	return n
}

// Matched lists, in order, every request that matched the rule's method and path while it was
// in the list, broken or let through (skipped, or after its last hit).
func (p *Proxy) Matched(id RuleID) []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, 0, len(p.matched[id]))
	for _, i := range p.matched[id] {
		out = append(out, p.requests[i])
	}
	return out
}

// Requests lists every request seen so far, in order of arrival.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// ServeHTTP forwards the request, or breaks it as the first matching rule says.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := unescapedPath(r)
	rule, idx := p.claim(r.Method, path)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { p.finish(idx, rec.status) }()

	if rule == nil {
		p.rp.ServeHTTP(rec, r)
		return
	}
	if rule.Delay > 0 {
		t := time.NewTimer(rule.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case rule.Drop:
		authentiktest.DropConnection(w)
	case rule.Truncate:
		p.truncated(rec, r)
	case rule.Status != 0:
		writeStatus(rec, *rule)
	default:
		p.rp.ServeHTTP(rec, r)
	}
}

// claim records the request, matches it against the rules and uses up a hit of the rule that
// breaks it. It returns that rule (nil for none) and the request's index for finish.
func (p *Proxy) claim(method, path string) (*Rule, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	req := Request{At: time.Now(), Method: method, Path: path}
	idx := len(p.requests)
	var hit *Rule
	for _, rs := range p.rules {
		if !rs.matches(method, path) {
			continue
		}
		if hit == nil && rs.skipLeft == 0 && (rs.Times == 0 || rs.hits < rs.Times) {
			rs.hits++
			r := rs.Rule
			hit, req.Rule = &r, rs.id
		} else if hit == nil && rs.skipLeft > 0 {
			rs.skipLeft--
		}
		p.matched[rs.id] = append(p.matched[rs.id], idx)
	}
	p.requests = append(p.requests, req)
	return hit, idx
}

// finish stores the status the client got.
func (p *Proxy) finish(idx, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests[idx].Status = status
}

func (rs *ruleState) matches(method, path string) bool {
	if rs.Method != "" && !strings.EqualFold(rs.Method, method) {
		return false
	}
	return MatchPath(rs.Path, path)
}

// MatchPath reports whether an unescaped path matches a rule's Path pattern.
func MatchPath(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	pat := strings.Split(strings.TrimSuffix(pattern, "/"), "/")
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	rest := len(pat) > 0 && pat[len(pat)-1] == "..."
	if rest {
		pat = pat[:len(pat)-1]
	}
	if !strings.HasPrefix(pattern, "/") {
		// A relative pattern matches the end of the path.
		if len(segs) < len(pat) || rest {
			return false
		}
		segs = segs[len(segs)-len(pat):]
	}
	switch {
	case rest && len(segs) < len(pat):
		return false
	case rest:
		segs = segs[:len(pat)]
	case len(segs) != len(pat):
		return false
	}
	for i, ps := range pat {
		if strings.HasPrefix(ps, "{") && strings.HasSuffix(ps, "}") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if ps != segs[i] {
			return false
		}
	}
	return true
}

// unescapedPath unescapes segment by segment, so that an escaped slash inside an ID stays inside
// its segment.
func unescapedPath(r *http.Request) string {
	segs := strings.Split(r.URL.EscapedPath(), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return strings.Join(segs, "/")
}

// matrixErrors are the bodies a homeserver sends with each status, so that the client parses
// an injected answer as it would a real one.
var matrixErrors = map[int]string{
	http.StatusForbidden:           `{"errcode":"M_FORBIDDEN","error":"Forbidden (injected)"}`,
	http.StatusNotFound:            `{"errcode":"M_NOT_FOUND","error":"Not found (injected)"}`,
	http.StatusTooManyRequests:     `{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests (injected)"}`,
	http.StatusInternalServerError: `{"errcode":"M_UNKNOWN","error":"Internal server error (injected)"}`,
}

func writeStatus(w http.ResponseWriter, r Rule) {
	body := r.Body
	if body == "" {
		body = matrixErrors[r.Status]
	}
	if body == "" {
		body = fmt.Sprintf(`{"errcode":"M_UNKNOWN","error":"HTTP %d (injected)"}`, r.Status)
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range r.Header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(r.Status)
	_, _ = io.WriteString(w, body)
}

// truncated forwards the request and sends back its answer's headers, the full length
// included, but only the first half of its body; the server then closes the connection.
func (p *Proxy) truncated(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, bytes.NewReader(body[:len(body)/2]))
}

// statusRecorder remembers the status written, and passes hijacking through.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
