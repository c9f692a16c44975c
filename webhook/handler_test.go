package webhook

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

const secret = "s3cret-webhook-token"

// fakeClock starts timers that fire only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	d       time.Duration
	f       func()
	stopped bool
	fired   bool
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// pending counts the timers that are running.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			n++
		}
	}
	return n
}

// fire runs every running timer, as if its time had come.
func (c *fakeClock) fire() {
	c.mu.Lock()
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			t.fired = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// triggers records what the handler triggered; "*" stands for "everything".
type triggers struct {
	mu  sync.Mutex
	got []string
}

func (tr *triggers) record(groups []string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if groups == nil {
		tr.got = append(tr.got, "*")
		return
	}
	tr.got = append(tr.got, strings.Join(groups, ","))
}

func (tr *triggers) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.got
}

func newTestHandler(opts Options) (*Handler, *fakeClock, *triggers, *prometheus.Registry) {
	clock, tr, reg := &fakeClock{}, &triggers{}, prometheus.NewRegistry()
	opts.Clock, opts.Trigger, opts.Log, opts.Metrics = clock, tr.record, zerolog.Nop(), NewMetrics(reg)
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	return New(opts), clock, tr, reg
}

func post(h http.Handler, method string, headers map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, Path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	bearer := map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}
	tests := []struct {
		name       string
		opts       Options
		method     string
		headers    map[string]string
		body       string
		wantStatus int
		wantResult string
		// wantTrigger is what fires at once (the first call of a quiet spell); nil: nothing.
		wantTrigger []string
	}{
		{"no secret configured", Options{}, http.MethodPost, bearer, `{}`, 404, ResultDisabled, nil},
		{"right secret, empty body", Options{Secret: secret}, http.MethodPost, bearer, ``, 204, ResultAccepted, []string{"*"}},
		{"right secret, text body", Options{Secret: secret}, http.MethodPost, bearer, `hello`, 204, ResultAccepted, []string{"*"}},
		{"right secret, malformed JSON", Options{Secret: secret}, http.MethodPost, bearer, `{"model":`, 204, ResultAccepted, []string{"*"}},
		{"right secret, JSON naming a group", Options{Secret: secret}, http.MethodPost, bearer,
			`{"action":"model_updated","model":{"app":"authentik_core","model_name":"group","pk":"aa","name":"staff"}}`, 204, ResultAccepted, []string{"staff"}},
		{"right secret, Authentik's default body", Options{Secret: secret}, http.MethodPost, bearer, defaultBody, 204, ResultAccepted, []string{"matrix-admins"}},
		{"scheme in lower case", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": "bearer " + secret}, `{}`, 204, ResultAccepted, []string{"*"}},
		{"wrong secret", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": "Bearer nope"}, `{}`, 401, ResultUnauthorized, nil},
		{"secret with a suffix", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": "Bearer " + secret + "x"}, `{}`, 401, ResultUnauthorized, nil},
		{"secret without the scheme", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": secret}, `{}`, 401, ResultUnauthorized, nil},
		{"other scheme", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": "Basic " + secret}, `{}`, 401, ResultUnauthorized, nil},
		{"missing secret", Options{Secret: secret}, http.MethodPost, nil, `{}`, 401, ResultUnauthorized, nil},
		{"empty bearer", Options{Secret: secret}, http.MethodPost, map[string]string{"Authorization": "Bearer "}, `{}`, 401, ResultUnauthorized, nil},
		{"secret in the wrong header", Options{Secret: secret}, http.MethodPost, map[string]string{"X-Webhook-Secret": secret}, `{}`, 401, ResultUnauthorized, nil},
		{"custom header", Options{Secret: secret, Header: "X-Webhook-Secret"}, http.MethodPost, map[string]string{"X-Webhook-Secret": secret}, `{"group":"ops"}`, 204, ResultAccepted, []string{"ops"}},
		{"custom header, bearer form refused", Options{Secret: secret, Header: "X-Webhook-Secret"}, http.MethodPost, map[string]string{"X-Webhook-Secret": "Bearer " + secret}, `{}`, 401, ResultUnauthorized, nil},
		{"custom header, Authorization ignored", Options{Secret: secret, Header: "X-Webhook-Secret"}, http.MethodPost, bearer, `{}`, 401, ResultUnauthorized, nil},
		{"oversized body", Options{Secret: secret, MaxBody: 16}, http.MethodPost, bearer, strings.Repeat("x", 17), 413, ResultTooLarge, nil},
		{"body at the limit", Options{Secret: secret, MaxBody: 16}, http.MethodPost, bearer, strings.Repeat("x", 16), 204, ResultAccepted, []string{"*"}},
		{"default limit", Options{Secret: secret}, http.MethodPost, bearer, strings.Repeat("x", DefaultMaxBody+1), 413, ResultTooLarge, nil},
		{"GET", Options{Secret: secret}, http.MethodGet, bearer, ``, 405, ResultBadMethod, nil},
		{"PUT", Options{Secret: secret}, http.MethodPut, bearer, `{}`, 405, ResultBadMethod, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clock, tr, reg := newTestHandler(tt.opts)
			rec := post(h, tt.method, tt.headers, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantStatus == 401 && strings.Contains(rec.Body.String(), secret) {
				t.Error("a refusal echoed the secret")
			}
			if tt.wantStatus == 405 && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("405 without Allow: POST: %v", rec.Header())
			}
			if got := testutil.ToFloat64(h.opts.Metrics.requests.WithLabelValues(tt.wantResult)); got != 1 {
				t.Errorf("requests_total{result=%q} = %v, want 1", tt.wantResult, got)
			}
			if n, err := testutil.GatherAndCount(reg, "authentik_matrix_sync_webhook_requests_total"); err != nil || n < 1 {
				t.Errorf("metric not registered under its full name: %d, %v", n, err)
			}
			if got := tr.all(); !reflect.DeepEqual(got, tt.wantTrigger) {
				t.Errorf("triggered %v, want %v at once", got, tt.wantTrigger)
			}
			// The window the call opened ends by checking the same scope once more, then is quiet.
			clock.fire()
			if want := append(slices.Clone(tt.wantTrigger), tt.wantTrigger...); !reflect.DeepEqual(tr.all(), want) {
				t.Errorf("after the window: triggered %v, want %v", tr.all(), want)
			}
			if n := clock.pending(); n != 0 {
				t.Errorf("%d timers after a window without calls, want 0", n)
			}
		})
	}
}

func TestDebounce(t *testing.T) {
	group := func(g string) string { return `{"group":"` + g + `"}` }
	bearer := map[string]string{"Authorization": "Bearer " + secret}
	tests := []struct {
		name  string
		calls []string // bodies, all in one window
		// atOnce fires with the first call; all is every trigger once the windows have run out.
		atOnce, all []string
	}{
		{"one call fires at once and once more when its window ends", []string{group("a")},
			[]string{"a"}, []string{"a", "a"}},
		{"a burst of one group: at once, at the window's end, and one window later", []string{group("a"), group("a"), group("a"), group("a")},
			[]string{"a"}, []string{"a", "a", "a"}},
		{"the window's groups merge with the one that opened it", []string{group("c"), group("b"), group("a"), group("b")},
			[]string{"c"}, []string{"c", "a,b,c", "a,b"}},
		{"a call naming no group widens to everything", []string{group("a"), group("b"), `{}`},
			[]string{"a"}, []string{"a", "*", "*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, clock, tr, _ := newTestHandler(Options{Secret: secret})
			for _, body := range tt.calls {
				if rec := post(h, http.MethodPost, bearer, body); rec.Code != 204 {
					t.Fatalf("call refused: %d", rec.Code)
				}
			}
			if got := tr.all(); !reflect.DeepEqual(got, tt.atOnce) {
				t.Errorf("at once: triggered %v, want %v", got, tt.atOnce)
			}
			if n := clock.pending(); n != 1 {
				t.Fatalf("%d timers running for one window, want 1", n)
			}
			for i := 0; clock.pending() > 0; i++ {
				if i == 10 {
					t.Fatal("the windows never end")
				}
				clock.fire()
			}
			if got := tr.all(); !reflect.DeepEqual(got, tt.all) {
				t.Errorf("triggered %v, want %v", got, tt.all)
			}
		})
	}

	t.Run("after a quiet window the next call fires at once", func(t *testing.T) {
		h, clock, tr, _ := newTestHandler(Options{Secret: secret})
		post(h, http.MethodPost, bearer, group("a")) // at once
		clock.fire()                                 // a again; quiet
		post(h, http.MethodPost, bearer, group("b")) // at once
		if got := tr.all(); !reflect.DeepEqual(got, []string{"a", "a", "b"}) {
			t.Errorf("triggered %v, want [a a b]", got)
		}
	})
	t.Run("the window lasts the configured time", func(t *testing.T) {
		h, clock, _, _ := newTestHandler(Options{Secret: secret, Debounce: 750 * time.Millisecond})
		post(h, http.MethodPost, bearer, `{}`)
		if d := clock.timers[0].d; d != 750*time.Millisecond {
			t.Errorf("timer for %s, want 750ms", d)
		}
	})
	t.Run("close drops what waits", func(t *testing.T) {
		h, clock, tr, _ := newTestHandler(Options{Secret: secret})
		post(h, http.MethodPost, bearer, group("a")) // at once
		post(h, http.MethodPost, bearer, group("b")) // waits for the window
		h.Close()
		clock.fire()
		post(h, http.MethodPost, bearer, group("c"))
		clock.fire()
		if got := tr.all(); !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("triggered %v, want only [a], from before Close", got)
		}
	})
	t.Run("no window fires at once", func(t *testing.T) {
		tr := &triggers{}
		h := New(Options{Secret: secret, Debounce: -1, Trigger: tr.record, Log: zerolog.Nop()})
		post(h, http.MethodPost, bearer, group("a"))
		if got := tr.all(); !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("triggered %v, want [a] at once", got)
		}
	})
	t.Run("real clock", func(t *testing.T) {
		fired := make(chan []string, 4)
		h := New(Options{Secret: secret, Debounce: time.Second, Log: zerolog.Nop(),
			Trigger: func(g []string) { fired <- g }})
		t.Cleanup(h.Close)
		post(h, http.MethodPost, bearer, group("a"))
		if got := <-fired; !reflect.DeepEqual(got, []string{"a"}) {
			t.Errorf("triggered %v, want [a] at once", got)
		}
		post(h, http.MethodPost, bearer, group("c"))
		post(h, http.MethodPost, bearer, group("b"))
		select {
		case got := <-fired:
			if !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
				t.Errorf("triggered %v, want [a b c] when the window ends", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the real timer never fired")
		}
	})
}
