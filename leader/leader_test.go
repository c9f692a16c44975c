package leader

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"authentik-matrix-sync/store/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// fast keeps the real proportions between the timings at a tenth of the defaults.
func fast(url, schema string, t *testing.T) Options {
	return Options{URL: url, Schema: schema, Poll: 50 * time.Millisecond, Ping: 100 * time.Millisecond,
		PingTimeout: 100 * time.Millisecond, TakeoverDelay: 300 * time.Millisecond, SessionTimeout: 500 * time.Millisecond,
		Log: zerolog.New(zerolog.NewTestWriter(t))}
}

// timeline records when each replica's reconciler started and stopped.
type timeline struct {
	mu      sync.Mutex
	running map[string]bool
	overlap bool
	events  []string
	started chan string
	stopped chan string
}

func newTimeline() *timeline {
	return &timeline{running: map[string]bool{}, started: make(chan string, 10), stopped: make(chan string, 10)}
}

func (tl *timeline) lead(name string) func(context.Context) error {
	return func(ctx context.Context) error {
		tl.mu.Lock()
		for other, on := range tl.running {
			if on && other != name {
				tl.overlap = true
			}
		}
		tl.running[name] = true
		tl.events = append(tl.events, name+" start")
		tl.mu.Unlock()
		tl.started <- name
		<-ctx.Done()
		tl.mu.Lock()
		tl.running[name] = false
		tl.events = append(tl.events, name+" stop")
		tl.mu.Unlock()
		tl.stopped <- name
		return nil
	}
}

func (tl *timeline) check(t *testing.T) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.overlap {
		t.Errorf("two reconcilers ran at once: %v", tl.events)
	}
}

func waitFor(t *testing.T, ch <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case name := <-ch:
		return name
	case <-time.After(within):
		t.Fatalf("nothing happened within %v", within)
		return ""
	}
}

type replica struct {
	e      *Elector
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, opts Options, lead func(context.Context) error) *replica {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &replica{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- e.Run(ctx, lead) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func TestOneLeaderAndTakeoverOnShutdown(t *testing.T) {
	url := pg.Get(t).Database(t)
	tl := newTimeline()
	a := start(t, fast(url, "s", t), tl.lead("a"))
	if got := waitFor(t, tl.started, 5*time.Second); got != "a" {
		t.Fatalf("%s leads, want a", got)
	}
	b := start(t, fast(url, "s", t), tl.lead("b"))
	time.Sleep(500 * time.Millisecond)
	if b.e.IsLeader() || !a.e.IsLeader() {
		t.Fatalf("leaders: a %v, b %v; want a only", a.e.IsLeader(), b.e.IsLeader())
	}
	stoppedAt := time.Now()
	a.cancel()
	if got := waitFor(t, tl.started, 5*time.Second); got != "b" {
		t.Fatalf("%s took over, want b", got)
	}
	if d := time.Since(stoppedAt); d > 2*time.Second {
		t.Errorf("takeover took %v", d)
	}
	tl.check(t)
}

func TestSchemasElectApart(t *testing.T) {
	url := pg.Get(t).Database(t)
	tl := newTimeline()
	start(t, fast(url, "one", t), tl.lead("one"))
	start(t, fast(url, "two", t), tl.lead("two"))
	waitFor(t, tl.started, 5*time.Second)
	waitFor(t, tl.started, 5*time.Second)
}

// The lock session is killed on the server (as an operator's pg_terminate_backend, a restart or a
// network cut would): the old leader must stop before the other starts.
func TestLostConnectionStopsTheLeaderBeforeTakeover(t *testing.T) {
	server := pg.Get(t)
	url := server.Database(t)
	tl := newTimeline()
	a := start(t, fast(url, "s", t), tl.lead("a"))
	waitFor(t, tl.started, 5*time.Second)
	b := start(t, fast(url, "s", t), tl.lead("b"))
	time.Sleep(200 * time.Millisecond)

	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var n int
	err = admin.QueryRow(t.Context(), `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("terminate the leader's lock session: %d sessions, %v", n, err)
	}
	if got := waitFor(t, tl.stopped, 2*time.Second); got != "a" {
		t.Fatalf("%s stopped, want a", got)
	}
	got := waitFor(t, tl.started, 5*time.Second)
	tl.check(t)
	tl.mu.Lock()
	events := tl.events
	tl.mu.Unlock()
	// a may win the lock again; what matters is that no two ran at once and someone leads.
	t.Logf("events: %v (new leader %s, a leads %v, b leads %v)", events, got, a.e.IsLeader(), b.e.IsLeader())
}

func TestAcquireWhileLeading(t *testing.T) {
	url := pg.Get(t).Database(t)
	tl := newTimeline()
	a := start(t, fast(url, "s", t), tl.lead("a"))
	waitFor(t, tl.started, 5*time.Second)
	if _, err := Acquire(t.Context(), url, "s"); !errors.Is(err, ErrHeld) {
		t.Fatalf("Acquire while a replica leads = %v, want ErrHeld", err)
	}
	a.cancel()
	waitFor(t, tl.stopped, 5*time.Second)
	var l *Lock
	deadline := time.Now().Add(5 * time.Second)
	for {
		var err error
		if l, err = Acquire(t.Context(), url, "s"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Acquire after the leader stopped: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// While the lock is held for maintenance no replica starts.
	start(t, fast(url, "s", t), tl.lead("b"))
	select {
	case got := <-tl.started:
		t.Fatalf("%s started while the lock was held for maintenance", got)
	case <-time.After(700 * time.Millisecond):
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, tl.started, 5*time.Second)
}

func TestNewChecksMargins(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		ok   bool
	}{
		{"defaults", Options{URL: "postgres://h/db"}, true},
		{"not postgres", Options{URL: "sqlite:x"}, false},
		{"session timeout too short", Options{URL: "postgres://h/db", SessionTimeout: time.Second}, false},
		{"takeover too short", Options{URL: "postgres://h/db", TakeoverDelay: 2 * time.Second}, false},
	}
	for _, tc := range tests {
		if _, err := New(tc.opts); (err == nil) != tc.ok {
			t.Errorf("%s: New = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

func TestKeyDependsOnSchema(t *testing.T) {
	first, again := Key("a"), Key("a")
	if first == Key("b") || first != again {
		t.Error("Key must be stable per schema and differ between schemas")
	}
}
