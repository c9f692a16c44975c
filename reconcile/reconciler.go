package reconcile

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Options wires a Reconciler to the world.
type Options struct {
	Directory Directory
	Rooms     Rooms
	Store     Store
	Backup    Backuper
	Policy    plan.Policy
	Interval  time.Duration
	Now       func() time.Time // defaults to time.Now
	Log       zerolog.Logger
	// Observer is told about every action and cycle (metrics); nil means nobody listens.
	Observer Observer
	// Steering pauses the reconciler, exempts users and decides on held removals; nil: none.
	Steering Steering
	Guard    plan.GuardLimits
	// MaxConcurrentWrites bounds the room writes in flight at once; zero means
	// DefaultMaxConcurrentWrites.
	MaxConcurrentWrites int
	// Hierarchy reads the children of spaces mapped with include_children; Spaces remembers
	// them and the groups of released rooms. Either may be nil (no expansion, no release).
	Hierarchy Hierarchy
	Spaces    SpaceStore
	// MaxBackoff caps the wait between cycles while an upstream fails as a whole (see
	// BackoffDelay); zero or less than Interval keeps every wait at Interval.
	MaxBackoff time.Duration
	// Hook, if set, is called at the points named in hook.go, before and after each write; the
	// crash tests use it to kill the process there. Nil in production.
	Hook func(point string)
	// AccountDirectory tells who is deactivated or deleted in Authentik; Accounts locks and logs
	// out Matrix accounts; Profiles reads and sets profiles (see lifecycle.go, profile.go). Any
	// may be nil: then nobody is treated as deactivated, or the actions needing it fail.
	AccountDirectory AccountDirectory
	Accounts         Accounts
	Profiles         Profiles
}

// Reconciler runs cycles: observe, plan, apply. One cycle runs at a time.
type Reconciler struct {
	opts    Options
	cycle   sync.Mutex
	trigger chan struct{}
	// scope is what waiting triggers asked for (see TriggerGroups).
	scope scopeQueue

	mu   sync.Mutex
	last *CycleResult
	// failStreak counts the cycles in a row that met an outage; guarded by cycle.
	failStreak int
	// sourceIDs holds the source ID of every group member the last full cycle saw, for the
	// lookups of those who have left every group since (see accountLookups); guarded by mu.
	sourceIDs map[id.UserID]plan.DirectoryAccount
}

// New returns a reconciler; Run starts its loop.
func New(opts Options) *Reconciler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Observer = observerOrNop(opts.Observer)
	return &Reconciler{opts: opts, trigger: make(chan struct{}, 1)}
}

// CycleResult sums up one cycle, for logs, health and the admin room.
type CycleResult struct {
	ID       string
	Started  time.Time
	Duration time.Duration
	// Done, Failed and Skipped count actions by kind.
	Done, Failed, Skipped map[string]int
	Warnings              []plan.Warning
	Backup                string
	// MissingAccounts counts the users skipped because they have no Matrix account yet.
	MissingAccounts int
	// Paused is set when an admin paused the bot: the cycle read and wrote nothing.
	Paused bool
	// Interrupted is set when the cycle's context ended while it ran (shutdown, or a replica
	// losing the leadership): what it did not do, the next cycle does. The reads and writes that
	// failed because of it say nothing about Authentik or the homeserver.
	Interrupted bool
	// Held is the batch of removals the guard held back this cycle, if any.
	Held *plan.HeldBatch
	// Writes lists the room changes the cycle tried, with their outcome.
	Writes []AppliedWrite
	// NoAccount lists the users found without a Matrix account for the first time.
	NoAccount []id.UserID
	// Err is set when the cycle could not run at all (the store was unreadable).
	Err error
	// UnknownGroups and UnreadableRooms list the mapped groups and rooms the cycle could not read.
	UnknownGroups   []string
	UnreadableRooms []id.RoomID
	// setupGroups counts the UnknownGroups, and setupRooms lists the UnreadableRooms, that were
	// not read for a setup problem (IsSetupProblem): a group Authentik does not have, a room the
	// bot is not in (which the next cycle tries to join, in case it was invited since).
	setupGroups int
	setupRooms  []id.RoomID
	// Outage names the service that failed as a whole (OutageAuthentik…), "" if none did.
	Outage string
	// NextIn is the wait before the next scheduled cycle: the interval, or longer while
	// backing off. Zero for a paused cycle (the interval applies) and for a scoped one.
	NextIn time.Duration
	// Scope lists the groups a scoped cycle covered (see TriggerGroups); nil for a full cycle.
	Scope []string
	// Children lists, for a full cycle, the child rooms each include_children space was expanded
	// into, so operators can see what a space mapping covers right now.
	Children map[id.RoomID][]id.RoomID
}

// Ok reports whether the cycle ran and every action it tried succeeded.
func (c CycleResult) Ok() bool {
	if c.Err != nil {
		return false
	}
	for _, n := range c.Failed {
		if n > 0 {
			return false
		}
	}
	return true
}

// LastCycle returns the latest finished cycle, or nil before the first one.
func (r *Reconciler) LastCycle() *CycleResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Trigger asks the loop to run a full cycle now (coalesced with any request already waiting).
func (r *Reconciler) Trigger() { r.TriggerGroups(nil) }

// Run runs a cycle at once, then every interval or on Trigger, until ctx ends. A scoped
// trigger (TriggerGroups) leaves the schedule of full cycles as it was.
func (r *Reconciler) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var due time.Time // of the next full cycle
	for {
		full := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			full = true
		case <-r.trigger:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		if scope, run := r.takeScope(full); run {
			res := r.runCycle(ctx, scope)
			if scope == nil {
				due = time.Now().Add(cmp.Or(res.NextIn, r.opts.Interval))
			}
		}
		timer.Reset(time.Until(due))
	}
}

// Observe reads the groups, the rooms and the stored state.
func (r *Reconciler) Observe(ctx context.Context) (plan.Observed, plan.State, error) {
	return r.observe(ctx, nil)
}

// observe is Observe limited to the rooms of groups (see narrowPolicy); nil reads everything.
func (r *Reconciler) observe(ctx context.Context, groups []string) (plan.Observed, plan.State, error) {
	state, err := r.opts.Store.LoadState(ctx)
	if err != nil {
		return plan.Observed{}, plan.State{}, fmt.Errorf("load state: %w", err)
	}
	if err := r.loadExemptions(ctx, &state); err != nil {
		return plan.Observed{}, plan.State{}, err
	}
	if err := r.loadGrants(ctx, &state); err != nil {
		return plan.Observed{}, plan.State{}, err
	}
	if err := r.loadLifecycle(ctx, &state); err != nil {
		return plan.Observed{}, plan.State{}, err
	}
	policy, spaces, notes := r.effectivePolicy(ctx, state)
	if groups != nil {
		// A scoped cycle sees part of the policy: the room records wait for a full one.
		spaces.Records = nil
	}
	policy, _ = narrowPolicy(policy, groups)
	groupNames, rooms := observeTargets(policy, state)
	_, canJoin := r.opts.Hierarchy.(RoomJoiner)
	obs := plan.Observed{
		Policy: policy, Notes: notes, Spaces: spaces, CanJoin: canJoin,
		Groups: r.opts.Directory.Members(ctx, groupNames),
		Rooms:  make(map[id.RoomID]plan.RoomObservation, len(rooms)),
	}
	for _, room := range rooms {
		rs, err := r.opts.Rooms.RoomState(ctx, room)
		obs.Rooms[room] = plan.RoomObservation{State: rs, Err: err, NotJoined: IsSetupProblem(err)}
	}
	r.observeAccounts(ctx, &obs, state, groups != nil)
	return obs, state, nil
}

// Preview observes and plans without changing anything.
func (r *Reconciler) Preview(ctx context.Context) (plan.Plan, error) {
	snap, err := r.Snapshot(ctx)
	return snap.Plan, err
}

// RunCycle runs one cycle now, waiting for a running one to finish first.
func (r *Reconciler) RunCycle(ctx context.Context) CycleResult { return r.runCycle(ctx, nil) }

// runCycle runs a cycle limited to the rooms of groups, or a full one for nil.
func (r *Reconciler) runCycle(ctx context.Context, groups []string) CycleResult {
	r.cycle.Lock()
	defer r.cycle.Unlock()
	res := CycleResult{ID: newCycleID(), Started: r.opts.Now(),
		Done: map[string]int{}, Failed: map[string]int{}, Skipped: map[string]int{}}
	log := r.opts.Log.With().Str("cycle", res.ID).Logger()
	ctx = log.WithContext(ctx)

	if r.paused(ctx, &res) {
		log.Info().Msg("Paused by an admin: nothing read or written this cycle")
		r.mu.Lock()
		r.last = &res
		r.mu.Unlock()
		return res
	}
	obs, state, err := r.observe(ctx, groups)
	if err == nil && groups == nil && r.opts.AccountDirectory != nil && obs.Policy.Deactivated.Acts() {
		// The next cycle looks up by these the accounts of users who have left every group. For a
		// user with a deactivation record, the account a group listing showed last is kept when
		// this cycle's listings do not show it (a group unknown): it may be a new account under
		// a deleted one's username, which plan.AccountLookups then looks up.
		ids := plan.SourceIDsOf(obs.Groups, nil)
		r.mu.Lock()
		for u := range state.Accounts {
			if _, seen := ids[u]; !seen {
				if a, ok := r.sourceIDs[u]; ok {
					ids[u] = a
				}
			}
		}
		r.sourceIDs = ids
		r.mu.Unlock()
	}
	switch {
	case ctx.Err() != nil:
		// Every read since the context ended failed with its error: nothing to plan from, and
		// nothing to warn about room by room or group by group.
		res.Interrupted = true
	case err != nil:
		res.Err = err
		log.Error().Err(err).Msg("Cycle failed before planning; nothing was changed")
	default:
		for name, g := range obs.Groups {
			if !g.Known() {
				log.Warn().Err(g.Err).Str("group", name).Msg("Group membership unknown this cycle; no removals on its account")
			}
		}
		res.noteUnread(obs)
		if groups == nil {
			res.Children = expandedChildren(obs.Policy)
		}
		planned := r.guard(ctx, log, plan.MakePlan(obs.Policy, obs, state, res.Started), state, &res)
		// The plan holds what it needs of the rooms; their members (hundreds of thousands in a large
		// installation) need not stay in memory while the writes run.
		obs.Rooms = nil
		res.Warnings = planned.Warnings
		for _, w := range planned.Warnings {
			ev := log.Warn()
			if w.Room != "" {
				ev = ev.Str("room", string(w.Room))
			}
			if w.User != "" {
				ev = ev.Str("user", string(w.User))
			}
			ev.Msg(w.Message)
		}
		r.apply(ctx, log, planned, state, obs, &res)
		r.finishHeld(ctx, log, &res)
	}
	res.Duration = r.opts.Now().Sub(res.Started)
	res.Interrupted = res.Interrupted || ctx.Err() != nil
	switch {
	case res.Interrupted:
		// A shutdown is no outage: no back-off, and the failing streak stays as it was.
	case groups == nil:
		r.scheduleNext(log, &res)
	default:
		// A scoped cycle saw too little to judge an outage; the full cycles keep the back-off.
		_, res.Scope = narrowPolicy(obs.Policy, groups)
		log = log.With().Strs("scope", res.Scope).Logger()
	}
	ev, msg := log.Info(), "Cycle finished"
	switch {
	case res.Interrupted:
		msg = "Cycle interrupted by shutdown (or a lost leadership); the next cycle does what is left"
	case !res.Ok():
		ev = log.Warn()
	}
	ev.Float64("duration_seconds", res.Duration.Seconds()).
		Interface("done", res.Done).Interface("failed", res.Failed).Interface("skipped", res.Skipped).
		Int("warnings", len(res.Warnings)).Msg(msg)
	r.opts.Observer.CycleFinished(res, r.stats(ctx, obs, res))
	r.mu.Lock()
	r.last = &res
	r.mu.Unlock()
	return res
}

func newCycleID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
