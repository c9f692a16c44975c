package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"
)

// Options wires a Reconciler to the world.
type Options struct {
	Directory Directory
	Rooms     Rooms
	Store     Store
	Backup    Backuper
	Policy    Policy
	Interval  time.Duration
	Now       func() time.Time // defaults to time.Now
	Log       zerolog.Logger
	// Observer is told about every action and cycle (metrics); nil means nobody listens.
	Observer Observer
	// Steering pauses the reconciler, exempts users and decides on held removals; nil: none.
	Steering Steering
	Guard    GuardLimits
}

// Reconciler runs cycles: observe, plan, apply. One cycle runs at a time.
type Reconciler struct {
	opts    Options
	cycle   gosync.Mutex
	trigger chan struct{}

	mu   gosync.Mutex
	last *CycleResult
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
	Warnings              []Warning
	Backup                string
	// MissingAccounts counts the users skipped because they have no Matrix account yet.
	MissingAccounts int
	// Paused is set when an admin paused the bot: the cycle read and wrote nothing.
	Paused bool
	// Held is the batch of removals the guard held back this cycle, if any.
	Held *HeldBatch
	// Writes lists the room changes the cycle tried, with their outcome.
	Writes []AppliedWrite
	// NoAccount lists the users found without a Matrix account for the first time.
	NoAccount []id.UserID
	// Err is set when the cycle could not run at all (the store was unreadable).
	Err error
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

// Trigger asks the loop to run a cycle now (coalesced with any request already waiting).
func (r *Reconciler) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run runs a cycle at once, then every interval or on Trigger, until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		case <-r.trigger:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		r.RunCycle(ctx)
		timer.Reset(r.opts.Interval)
	}
}

// Observe reads the groups, the rooms and the stored state.
func (r *Reconciler) Observe(ctx context.Context) (Observed, State, error) {
	var groupNames []string
	var rooms []id.RoomID
	for _, m := range r.opts.Policy.Mappings {
		if !slices.Contains(groupNames, m.Group) {
			groupNames = append(groupNames, m.Group)
		}
		if !slices.Contains(rooms, m.Room) {
			rooms = append(rooms, m.Room)
		}
	}
	state, err := r.opts.Store.LoadState(ctx)
	if err != nil {
		return Observed{}, State{}, fmt.Errorf("load state: %w", err)
	}
	if err := r.loadExemptions(ctx, &state); err != nil {
		return Observed{}, State{}, err
	}
	obs := Observed{
		Groups: r.opts.Directory.Members(ctx, groupNames),
		Rooms:  make(map[id.RoomID]RoomObservation, len(rooms)),
	}
	for _, room := range rooms {
		rs, err := r.opts.Rooms.RoomState(ctx, room)
		obs.Rooms[room] = RoomObservation{State: rs, Err: err}
	}
	return obs, state, nil
}

// Preview observes and plans without changing anything.
func (r *Reconciler) Preview(ctx context.Context) (Plan, error) {
	obs, state, err := r.Observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	return MakePlan(r.opts.Policy, obs, state, r.opts.Now()), nil
}

// RunCycle runs one cycle now, waiting for a running one to finish first.
func (r *Reconciler) RunCycle(ctx context.Context) CycleResult {
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
	obs, state, err := r.Observe(ctx)
	if err != nil {
		res.Err = err
		log.Error().Err(err).Msg("Cycle failed before planning; nothing was changed")
	} else {
		for name, g := range obs.Groups {
			if !g.Known() {
				log.Warn().Err(g.Err).Str("group", name).Msg("Group membership unknown this cycle; no removals on its account")
			}
		}
		plan := r.guard(ctx, log, MakePlan(r.opts.Policy, obs, state, res.Started), state, &res)
		res.Warnings = plan.Warnings
		for _, w := range plan.Warnings {
			log.Warn().Str("room", string(w.Room)).Str("user", string(w.User)).Msg(w.Message)
		}
		r.apply(ctx, log, plan, state, obs, &res)
		r.finishHeld(ctx, log, &res)
	}
	res.Duration = r.opts.Now().Sub(res.Started)
	ev := log.Info()
	if !res.Ok() {
		ev = log.Warn()
	}
	ev.Dur("duration", res.Duration).
		Interface("done", res.Done).Interface("failed", res.Failed).Interface("skipped", res.Skipped).
		Int("warnings", len(res.Warnings)).Msg("Cycle finished")
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

// applier carries one cycle's bookkeeping while its plan is applied.
type applier struct {
	r        *Reconciler
	log      zerolog.Logger
	state    State
	res      *CycleResult
	obs      Observed
	exists   map[id.UserID]bool
	failed   map[RoomUser]bool // an unban failed: do not try to add the user after it
	backedUp bool
	noRemove error // set when the backup failed: no removal runs this cycle
}

func (r *Reconciler) apply(ctx context.Context, log zerolog.Logger, plan Plan, state State, obs Observed, res *CycleResult) {
	a := &applier{r: r, log: log, state: state, res: res, obs: obs, exists: map[id.UserID]bool{}, failed: map[RoomUser]bool{}}
	defer func() { res.MissingAccounts = a.missingAccounts() }()
	for _, act := range plan.Actions {
		if ctx.Err() != nil {
			log.Warn().Msg("Cycle interrupted; the remaining actions run in the next cycle")
			return
		}
		a.one(ctx, act)
	}
}

func (a *applier) logFor(act Action) *zerolog.Logger {
	t := act.Target()
	l := a.log.With().Str("action", act.Kind()).Str("user", string(t.User)).Str("room", string(t.Room)).
		Str("group", a.groupsOf(t)).Str("reason", act.Why()).Logger()
	return &l
}

func (a *applier) count(m map[string]int, act Action) {
	m[act.Kind()]++
	a.res.noteWrite(act, m)
	a.r.opts.Observer.ActionFinished(act.Kind(), act.Target().Room, a.res.resultOf(m))
}

func (a *applier) one(ctx context.Context, act Action) {
	st := a.r.opts.Store
	rooms := a.r.opts.Rooms
	log := a.logFor(act)
	t := act.Target()
	var err error
	switch act := act.(type) {
	case TrackMember:
		if err = st.PutMember(ctx, act.Member); err == nil {
			a.state.Members[t] = act.Member
			log.Debug().Msg("Tracking member")
		}
	case ForgetMember:
		if err = st.ForgetMember(ctx, act.Room, act.User); err == nil {
			delete(a.state.Members, t)
			log.Debug().Msg("Forgot member")
		}
	case ScheduleRemoval:
		p := PendingRemoval{Room: act.Room, User: act.User, DueAt: act.DueAt, Reason: act.Reason, CreatedAt: a.r.opts.Now()}
		if err = st.PutPending(ctx, p); err == nil {
			log.Info().Time("due_at", act.DueAt).Msg("Removal scheduled after the grace period")
		}
	case CancelRemoval:
		if err = st.DeletePending(ctx, act.Room, act.User); err == nil {
			log.Info().Msg("Pending removal cancelled")
		}
	case Unban:
		if err = rooms.Unban(ctx, act.Room, act.User, act.Reason); err != nil {
			a.failed[t] = true
		} else {
			log.Info().Msg("Unbanned user")
		}
	case Invite, ForceJoin:
		if a.failed[t] {
			a.count(a.res.Skipped, act)
			log.Warn().Msg("Not added: the unban before it failed")
			return
		}
		if ok, skip := a.accountExists(ctx, log, t.User); !ok {
			a.count(skip, act)
			return
		}
		if inv, isInvite := act.(Invite); isInvite {
			err = rooms.Invite(ctx, inv.Room, inv.User, inv.Reason)
		} else {
			fj := act.(ForceJoin)
			err = rooms.ForceJoin(ctx, fj.Room, fj.User, fj.AlreadyInvited)
		}
		if err == nil {
			log.Info().Msg(map[bool]string{true: "Invited user", false: "Joined user"}[act.Kind() == "invite"])
			rec := a.state.Members[t]
			rec.Room, rec.User, rec.AddedAt = t.Room, t.User, a.r.opts.Now()
			if perr := st.PutMember(ctx, rec); perr != nil {
				log.Warn().Err(perr).Msg("User added, but the store did not record it; the next cycle sees them in the room")
			} else {
				a.state.Members[t] = rec
			}
		}
	case Kick, Ban:
		if !a.ensureBackup(ctx) {
			a.count(a.res.Skipped, act)
			log.Warn().Err(a.noRemove).Msg("Removal held: the state backup failed, so no removal runs this cycle")
			return
		}
		action := RemoveKick
		if _, isBan := act.(Ban); isBan {
			action = RemoveBan
			err = rooms.Ban(ctx, t.Room, t.User, act.Why())
		} else {
			err = rooms.Kick(ctx, t.Room, t.User, act.Why())
		}
		if err == nil {
			log.Info().Msg(map[RemoveAction]string{RemoveKick: "Kicked user", RemoveBan: "Banned user"}[action])
			rem := Removal{Room: t.Room, User: t.User, Action: action, Reason: act.Why(), At: a.r.opts.Now()}
			if rerr := st.RecordRemoval(ctx, rem); rerr != nil {
				// The room already shows the user gone; the next cycle forgets them without repeating it.
				log.Error().Err(rerr).Msg("User removed, but the store did not record it")
			}
		}
	case EndExemption:
		if err = a.r.opts.Steering.EndExemption(ctx, act.Room, act.User); err == nil {
			log.Info().Msg("Exemption ended: the user is back in a group")
		}
	default:
		err = fmt.Errorf("unknown action %T", act)
	}
	if err != nil {
		a.count(a.res.Failed, act)
		log.Error().Err(err).Msg("Action failed; it is retried next cycle")
		return
	}
	a.count(a.res.Done, act)
}

// accountExists checks, once per user and cycle, that the user has a Matrix account. The second
// result is the counter to bump when the user is not added.
func (a *applier) accountExists(ctx context.Context, log *zerolog.Logger, user id.UserID) (bool, map[string]int) {
	exists, seen := a.exists[user]
	if !seen {
		var err error
		exists, err = a.r.opts.Rooms.UserExists(ctx, user)
		if err != nil {
			log.Error().Err(err).Msg("Could not check whether the user has a Matrix account; not added this cycle")
			return false, a.res.Failed
		}
		a.exists[user] = exists
		st := a.r.opts.Store
		if exists {
			if err := st.ClearMissingAccount(ctx, user); err != nil {
				log.Warn().Err(err).Msg("Could not clear the missing-account note")
			}
		} else {
			first, err := st.MarkMissingAccount(ctx, user)
			switch {
			case err != nil:
				log.Warn().Err(err).Msg("Could not store the missing-account note")
			case first:
				a.res.NoAccount = append(a.res.NoAccount, user)
				log.Warn().Msg("User has no Matrix account yet; skipped until they sign in once (checked every cycle, logged once)")
			}
		}
	}
	if !exists {
		log.Debug().Msg("Still no Matrix account; skipped")
		return false, a.res.Skipped
	}
	return true, nil
}

// ensureBackup takes the cycle's backup before its first removal.
func (a *applier) ensureBackup(ctx context.Context) bool {
	if a.backedUp {
		return true
	}
	if a.noRemove != nil {
		return false
	}
	if a.r.opts.Backup == nil {
		a.noRemove = errors.New("no backup configured")
		return false
	}
	path, err := a.r.opts.Backup.Backup(ctx)
	if err != nil {
		a.noRemove = err
		a.log.Error().Err(err).Msg("State backup failed; removals are held until a backup succeeds")
		return false
	}
	a.backedUp = true
	a.res.Backup = path
	a.log.Info().Str("path", path).Msg("State backed up before removals")
	return true
}
