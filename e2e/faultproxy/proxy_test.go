package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream answers every request with its method and path, so a test sees what got through.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream":"%s %s","padding":"0123456789abcdef"}`, r.Method, r.URL.EscapedPath())
	}))
	t.Cleanup(ts.Close)
	return ts
}

func startProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := Start(upstream(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// do sends a request through the proxy and returns the status and body, or the error.
func do(t *testing.T, client *http.Client, method, url string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

const kickPath = "/_matrix/client/v3/rooms/%21abc%3Alocalhost/kick"

func TestMatchPath(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"", "/anything", true},
		{"/_matrix/client/v3/rooms/{room}/kick", "/_matrix/client/v3/rooms/!a:b/kick", true},
		{"/_matrix/client/v3/rooms/{room}/kick", "/_matrix/client/v3/rooms/!a:b/ban", false},
		{"/_matrix/client/v3/rooms/{room}/kick", "/_matrix/client/v3/rooms//kick", false},
		{"/_matrix/client/v3/rooms/!a:b/kick", "/_matrix/client/v3/rooms/!a:b/kick", true},
		{"/_matrix/client/v3/rooms/!a:b/kick", "/_matrix/client/v3/rooms/!c:b/kick", false},
		{"state", "/_matrix/client/v3/rooms/!a:b/state", true},
		{"state", "/_matrix/client/v3/rooms/!a:b/state/m.room.member/@u:b", false},
		{"rooms/{room}/state", "/_matrix/client/v3/rooms/!a:b/state", true},
		{"/_matrix/client/v3/rooms/...", "/_matrix/client/v3/rooms/!a:b/state", true},
		{"/_matrix/client/v3/rooms/...", "/_matrix/client/v3/sync", false},
		{"/_matrix/client/v3/sync", "/_matrix/client/v3/sync/", true},
		{"/_matrix/client/v3/sync", "/_matrix/client/v3", false},
	}
	for _, tt := range tests {
		if got := MatchPath(tt.pattern, tt.path); got != tt.want {
			t.Errorf("MatchPath(%q, %q) = %v, want %v", tt.pattern, tt.path, got, tt.want)
		}
	}
}

func TestRulesBreakWhatTheySay(t *testing.T) {
	tests := []struct {
		name       string
		rule       Rule
		wantStatus int
		wantBody   string // a part of the body
		wantErr    bool   // the client sees no complete answer
	}{
		{"pass through", Rule{Path: "/elsewhere"}, 200, `"upstream":"POST ` + kickPath, false},
		{"500 with a Matrix body", Rule{Path: "rooms/{room}/kick", Status: 500}, 500, "M_UNKNOWN", false},
		{"502 with own body", Rule{Path: "kick", Status: 502, Body: `{"x":1}`}, 502, `{"x":1}`, false},
		{"rate limit", RateLimited("rl", "POST", "kick", 1500*time.Millisecond, 0), 429, `"retry_after_ms":1500`, false},
		{"method must match", Rule{Method: "GET", Path: "kick", Status: 500}, 200, "upstream", false},
		{"delay alone forwards", Rule{Path: "kick", Delay: 50 * time.Millisecond}, 200, "upstream", false},
		{"drop", Rule{Path: "kick", Drop: true}, 0, "", true},
		{"truncate", Rule{Path: "kick", Truncate: true}, 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startProxy(t)
			id := p.Add(tt.rule)
			// A fresh transport per request: a dropped connection must not be retried silently.
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			status, body, err := do(t, client, "POST", p.URL()+kickPath)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got a complete answer %d %q, want a broken one", status, body)
				}
				if tt.rule.Truncate && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("truncated body read fails with %v, want unexpected EOF", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if status != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
					t.Errorf("got %d %q, want %d containing %q", status, body, tt.wantStatus, tt.wantBody)
				}
			}
			reqs := p.Requests()
			if len(reqs) != 1 || reqs[0].Path != "/_matrix/client/v3/rooms/!abc:localhost/kick" {
				t.Fatalf("requests = %+v, want the one kick, unescaped", reqs)
			}
			broke := tt.rule.Status != 0 && tt.rule.Method != "GET" || tt.rule.Drop || tt.rule.Truncate || tt.rule.Delay > 0
			if got, want := p.Hits(id), map[bool]int{true: 1, false: 0}[broke]; got != want {
				t.Errorf("hits = %d, want %d", got, want)
			}
		})
	}
}

func TestDelayPastClientTimeoutIsATimeout(t *testing.T) {
	p := startProxy(t)
	id := p.Add(Rule{Name: "slow", Path: "state", Delay: 5 * time.Second})
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, _, err := do(t, client, "GET", p.URL()+"/_matrix/client/v3/rooms/!a:b/state")
	var ue interface{ Timeout() bool }
	if err == nil || !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the client waited %s: the proxy held it past its timeout", d)
	}
	if p.Hits(id) != 1 {
		t.Errorf("hits = %d, want 1", p.Hits(id))
	}
}

func TestSkipTimesAndMatchedRecordTheRetry(t *testing.T) {
	p := startProxy(t)
	id := p.Add(RateLimited("429 once", "POST", "kick", 200*time.Millisecond, 1))
	id.check(t, p, 0)
	var statuses []int
	for range 3 {
		status, _, err := do(t, http.DefaultClient, "POST", p.URL()+kickPath)
		if err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, status)
	}
	if fmt.Sprint(statuses) != "[429 200 200]" {
		t.Errorf("statuses = %v, want one 429 then the upstream", statuses)
	}
	m := p.Matched(id)
	if len(m) != 3 || m[0].Rule != id || m[1].Rule != 0 || m[0].Status != 429 || m[1].Status != 200 {
		t.Errorf("matched = %+v, want the hit then two passes, with their statuses", m)
	}
	id.check(t, p, 1)

	skip := p.Add(Rule{Path: "kick", Skip: 2, Times: 1, Status: 503})
	statuses = statuses[:0]
	for range 4 {
		status, _, _ := do(t, http.DefaultClient, "POST", p.URL()+kickPath)
		statuses = append(statuses, status)
	}
	// The first rule is spent, so the second sees every request.
	if fmt.Sprint(statuses) != "[200 200 503 200]" {
		t.Errorf("with skip 2, times 1: statuses = %v", statuses)
	}
	skip.check(t, p, 1)
}

func (id RuleID) check(t *testing.T, p *Proxy, want int) {
	t.Helper()
	if got := p.Hits(id); got != want {
		t.Errorf("rule %d: hits = %d, want %d", id, got, want)
	}
}

func TestRulesChangeWhileRequestsFlow(t *testing.T) {
	p := startProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				status, _, err := do(t, http.DefaultClient, "POST", p.URL()+kickPath)
				if err != nil {
					continue
				}
				mu.Lock()
				counts[status]++
				done := counts[500] > 20 && counts[200] > 20
				mu.Unlock()
				if done {
					cancel()
				}
			}
		})
	}
	for ctx.Err() == nil {
		id := p.Add(Rule{Path: "kick", Status: 500})
		time.Sleep(2 * time.Millisecond)
		p.Remove(id)
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	p.Clear()
	if counts[500] == 0 || counts[200] == 0 {
		t.Fatalf("statuses %v: want both broken and untouched answers while rules change", counts)
	}
	var hits int
	for _, r := range p.Requests() {
		if r.Rule != 0 {
			hits++
			if r.Status != 500 {
				t.Errorf("a hit request got %d", r.Status)
			}
		}
	}
	if hits < counts[500] {
		t.Errorf("%d hits recorded for %d answers of 500", hits, counts[500])
	}
}

func TestNewRejectsARelativeUpstream(t *testing.T) {
	if _, err := New("localhost:8008"); err == nil {
		t.Fatal("want an error for an upstream without scheme")
	}
}
