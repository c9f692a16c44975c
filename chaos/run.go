package chaos

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/usermap"
)

// Result is what one seed's run found.
type Result struct {
	Seed   uint64
	Params Params
	// Failures are the broken rules, each with the call that broke it; empty when the run passed.
	Failures []string
	// Log is the step log: what changed, which faults hit, what the bot did, and where it broke.
	Log []string
}

// Run runs one seed with its state in dir (an empty directory).
func Run(seed uint64, dir string) Result {
	r := newRun(seed, dir)
	defer r.stop()
	r.play()
	return Result{Seed: seed, Params: r.p, Failures: r.failures, Log: r.log}
}

// run is one seed's world.
type run struct {
	p     Params
	dir   string
	clock *Clock
	rng   *rand.Rand // the schedule's choices
	truth *Truth
	ak    *FaultyAuthentik
	srv   *httptest.Server
	hs    *Homeserver
	procs []*process // every bot process started; the last one is alive

	mu       sync.Mutex
	log      []string
	failures []string
	botLog   lockedBuffer
}

func newRun(seed uint64, dir string) *run {
	rng := rand.New(rand.NewPCG(seed, 1))
	r := &run{p: NewParams(seed, rng), dir: dir, rng: rng, clock: NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	fake := authentiktest.NewHandler(adminToken)
	fake.SetPageSizes(20, 0)
	r.truth = NewTruth(fake, r.clock, r.note)
	r.ak = NewFaultyAuthentik(fake, r.truth, rand.New(rand.NewPCG(seed, 2)), r.p.Grace > 0, r.note)
	r.srv = httptest.NewServer(r.ak)
	r.hs = NewHomeserver(r.clock, bot, r.p.Rooms(), rand.New(rand.NewPCG(seed, 3)), r.judge, r.note)

	// The directory at the start: a handful of users, some in each group.
	users := firstUsers[:6+rng.IntN(2)]
	for _, g := range baseGroups {
		fake.AddGroup(g, parentOf[g])
		r.truth.knowGroup(g)
	}
	for _, u := range users {
		fake.AddUser(u, authentiktest.WithActive(rng.IntN(10) != 0))
		r.truth.knowUser(u)
		if rng.IntN(10) < 8 {
			r.hs.CreateAccount(MatrixID(u))
		}
		for _, g := range baseGroups {
			if rng.IntN(10) < 4 {
				fake.AddMembers(g, u)
			}
		}
	}
	r.truth.Record("the directory at the start")
	return r
}

func (r *run) note(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, "  "+line)
}

func (r *run) notef(format string, args ...any) { r.note(fmt.Sprintf(format, args...)) }

func (r *run) fail(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, msg)
	r.log = append(r.log, "  !!! "+msg)
}

func (r *run) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.failures) > 0
}

// judge checks one removal or account action against the safety rule as the homeserver
// receives it.
func (r *run) judge(c Call) {
	user := usernameOf(c.User)
	var v Verdict
	what := fmt.Sprintf("%s of %s", c.Kind, c.User)
	if c.Room != "" {
		what += " from " + string(c.Room)
		v = r.truth.JudgeRemoval(r.p.GroupsOf(c.Room), user, r.clock.Now(), r.p.Grace, !r.p.Deactivated.AfterGrace)
	} else {
		v = r.truth.JudgeAccountAction(user)
	}
	if c.Reason != "" {
		what += fmt.Sprintf(" (the bot's reason: %q)", c.Reason)
	}
	if v.Allowed {
		r.notef("oracle: %s allowed by %s", what, v.Why)
		return
	}
	r.fail(fmt.Sprintf("WRONGFUL (%s): %s at %s breaks the safety rule: %s", r.kindOf(c), what, r.clock.Since(r.clock.Now()), v.Why))
}

// kindOf names the kind of a wrongful call, so that a run's failures can be told apart at a
// glance: an account taken for deleted or deactivated while it is active, or a removal for
// leaving the groups that came before its grace period ended.
func (r *run) kindOf(c Call) string {
	acc := r.truth.Now().Accounts[usernameOf(c.User)]
	lifecycle := c.Room == "" || c.Reason == plan.ReasonDeleted || c.Reason == plan.ReasonDeactivated
	switch {
	case lifecycle && acc.Exists && acc.Active:
		return "an active account taken for deleted or deactivated"
	case lifecycle:
		return "a deactivation acted on without its grace period"
	}
	return "a removal before its grace period ended"
}

// play runs the schedule: steps of changes and faults, each with one cycle, then a tail of
// cycles without faults, then the liveness checks. It stops at the first step that breaks a rule.
func (r *run) play() {
	r.start()
	for step := 1; step <= r.p.Steps && !r.failed(); step++ {
		r.clock.Advance(interval)
		r.mu.Lock()
		r.log = append(r.log, fmt.Sprintf("step %d at %s", step, r.clock.Since(r.clock.Now())))
		r.mu.Unlock()
		mark := r.botLog.Len()
		r.changeWorld()
		r.drawFaults()
		r.cycle(r.drawKill())
		if r.failed() {
			r.attachBotLog(mark)
		}
	}
	if r.failed() {
		return
	}
	r.ak.SetFaults(AuthentikFaults{})
	r.hs.SetFaults(HomeserverFaults{})
	tail := 3 + int(r.p.Grace/interval)
	if l := r.p.Deactivated.LockAfter; l != nil {
		tail = max(tail, 3+int(*l/interval))
	}
	r.mu.Lock()
	r.log = append(r.log, fmt.Sprintf("tail: %d cycles without faults, kills or changes", tail))
	r.mu.Unlock()
	for range tail {
		r.clock.Advance(interval)
		mark := r.botLog.Len()
		r.cycle(0)
		if r.failed() {
			r.attachBotLog(mark)
			return
		}
	}
	r.checkLiveness()
}

func (r *run) attachBotLog(mark int) {
	if os.Getenv("CHAOS_WHOLE_LOG") != "" {
		mark = 0
	}
	text := r.botLog.From(mark)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, "  the bot's log of this step:")
	for line := range strings.Lines(text) {
		r.log = append(r.log, "    | "+strings.TrimRight(line, "\n"))
	}
}

// drawFaults picks the step's faults: about half the steps have none on either side.
func (r *run) drawFaults() {
	ak := AuthentikFaults{}
	if r.rng.IntN(2) == 0 {
		ak = AuthentikFaults{Rate: []float64{0.05, 0.15, 0.3}[r.rng.IntN(3)], Kinds: r.p.AuthentikKinds}
	}
	hs := HomeserverFaults{}
	if r.rng.IntN(5) < 2 {
		hs = r.p.Homeserver
	}
	r.ak.SetFaults(ak)
	r.hs.SetFaults(hs)
	if ak.Rate > 0 || hs != (HomeserverFaults{}) {
		r.notef("faults: Authentik %.0f%% of requests; homeserver %s", 100*ak.Rate, hs)
	}
}

// drawKill picks the hook call at which the step's cycle is killed, 0 for none.
func (r *run) drawKill() int {
	if r.rng.Float64() >= r.p.KillRate {
		return 0
	}
	return 1 + r.rng.IntN(12)
}

// process is one incarnation of the bot: its own store handle, Authentik client, homeserver
// port and reconciler, on the run's one data directory.
type process struct {
	n     int
	store *store.SQLite
	rec   *reconcile.Reconciler
	dead  atomic.Bool
	ctx   context.Context
	stop  context.CancelFunc
	tr    *http.Transport

	// The kill. hook runs on whichever goroutine writes; the reconciler (with one write at a time)
	// has only that one running, so blocking it stops the whole process where it stands.
	hooks      int
	killAt     int
	killedAt   string
	killed     chan struct{}
	release    chan struct{}
	unfinished chan reconcile.CycleResult
}

// start starts a new bot process on the run's data directory, wired as the binary wires it.
func (r *run) start() {
	p := &process{n: len(r.procs) + 1, killed: make(chan struct{}), release: make(chan struct{})}
	p.ctx, p.stop = context.WithCancel(context.Background())
	log := zerolog.New(zerolog.ConsoleWriter{Out: &r.botLog, NoColor: true, PartsExclude: []string{zerolog.TimestampFieldName}}).
		Level(zerolog.InfoLevel).With().Int("process", p.n).Logger()
	st, err := store.OpenSQLite(p.ctx, store.Options{DataDir: r.dir, BackupRetention: 2, Now: r.clock.Now})
	if err != nil {
		r.fail(fmt.Sprintf("process %d cannot open the store: %v", p.n, err))
		panic(err)
	}
	p.store = st
	p.tr = &http.Transport{}
	client, err := authentik.New(r.srv.URL, adminToken, authentik.Options{PageSize: r.p.PageSize, Timeout: akTimeout,
		HTTPClient: &http.Client{Transport: fenced{base: p.tr, dead: &p.dead}}})
	if err != nil {
		panic(err)
	}
	mapper, err := usermap.New(usermap.DefaultTemplate, "", Domain)
	if err != nil {
		panic(err)
	}
	dir := &usermap.Directory{Source: client, Mapper: mapper, Log: log}
	port := &Port{hs: r.hs, dead: &p.dead}
	p.rec = reconcile.New(reconcile.Options{
		Directory: dir, Rooms: port, Store: st, Backup: st, Policy: r.p.Policy(), Interval: interval,
		Now: r.clock.Now, Log: log, MaxConcurrentWrites: 1, Hook: p.hook, Accounts: port, AccountDirectory: dir,
	})
	r.procs = append(r.procs, p)
}

// hook is the reconciler's Hook: at the chosen call it kills the process. The goroutine that
// reached the point blocks there until the run is over; by then the process's homeserver port
// and Authentik client are fenced and its store is closed, so nothing it does after the kill
// point reaches the homeserver, Authentik or the state file.
func (p *process) hook(point string) {
	p.hooks++
	if p.killAt == 0 || p.hooks != p.killAt {
		return
	}
	p.killedAt = point
	close(p.killed)
	<-p.release
}

// cycle runs one cycle of the live process, killing it at its killAt-th hook call (0: never).
// A killed process is replaced at once by a new one on the same state, which runs a cycle at
// the same moment, as a supervisor restarting it within seconds would.
func (r *run) cycle(killAt int) {
	p := r.procs[len(r.procs)-1]
	p.hooks, p.killAt = 0, killAt
	answers := r.truth.Answers()
	done := make(chan reconcile.CycleResult, 1)
	go func() { done <- p.rec.RunCycle(p.ctx) }()
	select {
	case res := <-done:
		r.notef("cycle of process %d: %s", p.n, summary(res))
	case <-p.killed:
		// The process stands still at its kill point: fence it, and close its store as the
		// operating system would on its death, releasing the data directory's lock.
		p.dead.Store(true)
		p.unfinished = done
		r.truth.LoseAnswers(answers)
		_ = p.store.Close()
		r.notef("process %d killed at %s (hook call %d); process %d starts on the same state", p.n, p.killedAt, killAt, p.n+1)
		r.start()
		r.cycle(0)
	}
}

func summary(res reconcile.CycleResult) string {
	parts := []string{}
	for _, c := range []struct {
		name string
		m    map[string]int
	}{{"done", res.Done}, {"failed", res.Failed}, {"skipped", res.Skipped}} {
		if len(c.m) == 0 {
			continue
		}
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(c.m)) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, c.m[k]))
		}
		parts = append(parts, c.name+" "+strings.Join(kinds, ", "))
	}
	if len(res.UnknownGroups) > 0 {
		parts = append(parts, "groups unknown: "+strings.Join(res.UnknownGroups, ", "))
	}
	if len(res.UnreadableRooms) > 0 {
		parts = append(parts, fmt.Sprintf("rooms unreadable: %v", res.UnreadableRooms))
	}
	if res.Err != nil {
		parts = append(parts, "error: "+res.Err.Error())
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, "; ")
}

// stop ends every process: the killed ones are let go only now, fenced, so that their
// goroutines end (their writes fail) before the run's directory is removed.
func (r *run) stop() {
	for _, p := range r.procs {
		p.stop()
		if p.unfinished != nil {
			close(p.release)
			select {
			case <-p.unfinished:
			case <-time.After(time.Minute):
				r.fail(fmt.Sprintf("killed process %d did not end within a minute of being let go", p.n))
			}
		}
		_ = p.store.Close()
		p.tr.CloseIdleConnections()
	}
	r.srv.Close()
}

// lockedBuffer is the bot's log, written by every process.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) From(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf.Bytes()[mark:])
}
