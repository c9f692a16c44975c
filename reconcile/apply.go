package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// DefaultMaxConcurrentWrites bounds the room writes in flight when Options.MaxConcurrentWrites
// is unset: Synapse lets an appservice run about ten membership changes at once.
const DefaultMaxConcurrentWrites = 8

// applier carries one cycle's bookkeeping while its plan is applied. Room writes run on several
// goroutines; mu guards every field below it, the fields above it do not change.
type applier struct {
	r   *Reconciler
	log zerolog.Logger
	obs plan.Observed
	// replaced is Plan.replaced: the membership each removal replaces.
	replaced map[plan.RoomUser]plan.RoomMember
	// adds are the targets of the plan's invites and joins: only their new records need to be
	// kept in state, where the addition finds them (a first cycle tracks every member, and
	// keeping all of them made it the memory peak).
	adds map[plan.RoomUser]bool
	// backup serialises the backup itself, which must not hold mu while it runs.
	backup sync.Mutex

	mu       sync.Mutex
	state    plan.State
	res      *CycleResult
	exists   map[id.UserID]*accountCheck
	failed   map[plan.RoomUser]bool // an unban failed: do not try to add the user after it
	backedUp bool
	noRemove error // set when the backup failed: no removal runs this cycle
}

// accountCheck is one user's account lookup, shared by every room that adds the user.
type accountCheck struct {
	done   chan struct{}
	exists bool
	err    error
}

// apply runs the plan phase by phase: store bookkeeping, then unbans, then additions, then
// removals. Within a phase, rooms are worked on concurrently, one write per room at a time.
func (r *Reconciler) apply(ctx context.Context, log zerolog.Logger, planned plan.Plan, state plan.State, obs plan.Observed, res *CycleResult) {
	a := &applier{r: r, log: log, state: state, res: res, obs: obs, exists: map[id.UserID]*accountCheck{}, failed: map[plan.RoomUser]bool{},
		adds: plan.AddTargets(planned.Actions), replaced: planned.Replaced}
	defer func() { res.MissingAccounts = a.missingAccounts() }()
	for _, phase := range applyPhases(planned.Actions) {
		if ctx.Err() != nil {
			break
		}
		if phase.concurrent {
			a.runConcurrently(ctx, phase.actions, r.maxConcurrentWrites())
			continue
		}
		for rest := phase.actions; len(rest) > 0 && ctx.Err() == nil; {
			n := a.trackRun(rest)
			if n > 1 {
				a.trackBatch(ctx, rest[:n])
			} else {
				n = 1
				a.one(ctx, rest[0])
			}
			clear(rest[:n]) // done: a first cycle's hundreds of thousands need not all stay
			rest = rest[n:]
		}
	}
}

func (r *Reconciler) maxConcurrentWrites() int {
	if r.opts.MaxConcurrentWrites > 0 {
		return r.opts.MaxConcurrentWrites
	}
	return DefaultMaxConcurrentWrites
}

// applyPhase is a run of actions that may start once the previous phase has ended.
type applyPhase struct {
	actions    []plan.Action
	concurrent bool
}

// applyPhases splits a plan into its phases, in the order of Action.phase. Unbans get a phase of
// their own just before the additions, so that every unban has finished, and its failure is
// known, before the addition behind it starts. Bookkeeping (phaseState) touches the store only
// and runs in plan order on the cycle's goroutine.
func applyPhases(actions []plan.Action) []applyPhase {
	byKey := map[int][]plan.Action{}
	for _, act := range actions {
		key := 2 * act.Phase()
		if _, isUnban := act.(plan.Unban); isUnban {
			key = 2*plan.PhaseAdd - 1
		}
		byKey[key] = append(byKey[key], act)
	}
	keys := slices.Sorted(maps.Keys(byKey))
	out := make([]applyPhase, 0, len(keys))
	for _, k := range keys {
		out = append(out, applyPhase{actions: byKey[k], concurrent: k != 2*plan.PhaseState})
	}
	return out
}

// runConcurrently runs one phase's actions on up to limit goroutines. Writes to one room run one
// after another in plan order (the homeserver serialises them anyway); rooms take turns, so a
// room with thousands of changes does not hold up the others.
func (a *applier) runConcurrently(ctx context.Context, actions []plan.Action, limit int) {
	q := newRoomQueue(actions)
	clear(actions) // the lanes hold them now, and let each go once it ran
	workers := min(limit, q.rooms())
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lane, act, ok := q.take(ctx)
				if !ok {
					return
				}
				a.one(ctx, act)
				q.release(lane)
			}
		}()
	}
	wg.Wait()
}

// roomQueue hands out a phase's actions round-robin by room, never two of one room at once.
type roomQueue struct {
	mu    sync.Mutex
	ready *sync.Cond
	lanes []*roomLane
	next  int // the lane whose turn comes first
	left  int // actions not yet handed out
}

// roomLane is one room's share of a phase, in plan order.
type roomLane struct {
	actions []plan.Action
	busy    bool
}

func newRoomQueue(actions []plan.Action) *roomQueue {
	q := &roomQueue{left: len(actions)}
	q.ready = sync.NewCond(&q.mu)
	byRoom := map[id.RoomID]*roomLane{}
	for _, act := range actions {
		room := plan.LaneOf(act)
		lane := byRoom[room]
		if lane == nil {
			lane = &roomLane{}
			byRoom[room] = lane
			q.lanes = append(q.lanes, lane)
		}
		lane.actions = append(lane.actions, act)
	}
	return q
}

func (q *roomQueue) rooms() int { return len(q.lanes) }

// take returns the next action of the next room whose turn it is and that has no write in
// flight, waiting while every room with work left is busy. ok is false once all actions were
// handed out or ctx ended.
func (q *roomQueue) take(ctx context.Context) (lane *roomLane, act plan.Action, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.left == 0 || ctx.Err() != nil {
			return nil, nil, false
		}
		for i := range q.lanes {
			idx := (q.next + i) % len(q.lanes)
			l := q.lanes[idx]
			if l.busy || len(l.actions) == 0 {
				continue
			}
			act = l.actions[0]
			l.actions[0] = nil // the lane no longer holds what it handed out
			l.actions = l.actions[1:]
			l.busy = true
			q.left--
			q.next = (idx + 1) % len(q.lanes)
			return l, act, true
		}
		// Every room with work left has a write in flight; its release wakes us.
		q.ready.Wait()
	}
}

// release marks the lane's write finished, letting the room's next action go.
func (q *roomQueue) release(l *roomLane) {
	q.mu.Lock()
	l.busy = false
	q.mu.Unlock()
	q.ready.Broadcast()
}

func (a *applier) logFor(act plan.Action) *zerolog.Logger {
	t := act.Target()
	c := a.log.With().Str("action", act.Kind())
	// An account action has no room, a room-wide one no user: a field is there only when set.
	if t.User != "" {
		c = c.Str("user", string(t.User))
	}
	if t.Room != "" {
		c = c.Str("room", string(t.Room))
	}
	if g := a.groupsOf(t); g != "" {
		c = c.Str("group", g)
	}
	l := c.Str("reason", act.Why()).Logger()
	return &l
}

// count records an action's outcome. Observer calls are made under the lock too, so that an
// observer never sees two calls at once.
func (a *applier) count(m map[string]int, act plan.Action) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m[act.Kind()]++
	a.res.noteWrite(act, m)
	a.r.opts.Observer.ActionFinished(act.Kind(), act.Target().Room, a.res.resultOf(m))
}

func (a *applier) one(ctx context.Context, act plan.Action) {
	st := a.r.opts.Store
	rooms := a.r.opts.Rooms
	log := a.logFor(act)
	t := act.Target()
	a.r.hook(HookBefore + act.Kind())
	var err error
	switch act := act.(type) {
	case plan.TrackMember:
		if err = st.PutMember(ctx, act.Member()); err == nil {
			if a.adds[t] {
				a.setMember(t, act.Member())
			}
			log.Debug().Msg("Tracking member")
		}
	case plan.ForgetMember:
		if err = st.ForgetMember(ctx, act.Room, act.User); err == nil {
			a.mu.Lock()
			a.state.Members.Delete(t)
			a.mu.Unlock()
			log.Debug().Msg("Forgot member")
		}
	case plan.ScheduleRemoval:
		p := plan.PendingRemoval{Room: act.Room, User: act.User, DueAt: act.DueAt, Reason: act.Reason, CreatedAt: a.r.opts.Now()}
		if err = st.PutPending(ctx, p); err == nil {
			log.Info().Time("due_at", act.DueAt).Msg("Removal scheduled after the grace period")
		}
	case plan.RecordDoneRemoval:
		if err = st.RecordRemoval(ctx, act.Removal); err == nil {
			log.Warn().Msg("Removal found done in the room but not recorded (the process stopped in between); recorded now")
		}
	case plan.RestartGrace:
		p := plan.PendingRemoval{Room: act.Room, User: act.User, DueAt: act.DueAt, Reason: act.Reason, CreatedAt: a.r.opts.Now(), AwaitingRead: true}
		if err = st.PutPending(ctx, p); err == nil {
			log.Info().Msg("Grace period restarted: a group of the room is unknown this cycle, so the absence counts again from the next complete read")
		}
	case plan.CancelRemoval:
		if err = st.DeletePending(ctx, act.Room, act.User); err == nil {
			log.Info().Msg("Pending removal cancelled")
		}
	case plan.Unban:
		if err = rooms.Unban(ctx, act.Room, act.User, act.Reason); err != nil {
			a.mu.Lock()
			a.failed[t] = true
			a.mu.Unlock()
		} else {
			log.Info().Msg("Unbanned user")
		}
	case plan.Invite, plan.ForceJoin:
		a.mu.Lock()
		unbanFailed := a.failed[t]
		a.mu.Unlock()
		if unbanFailed {
			a.count(a.res.Skipped, act)
			log.Warn().Msg("Not added: the unban before it failed")
			return
		}
		if ok, skip := a.accountExists(ctx, log, t.User); !ok {
			a.count(skip, act)
			return
		}
		if inv, isInvite := act.(plan.Invite); isInvite {
			err = rooms.Invite(ctx, inv.Room, inv.User, inv.Reason)
		} else {
			fj := act.(plan.ForceJoin)
			err = rooms.ForceJoin(ctx, fj.Room, fj.User, fj.AlreadyInvited)
		}
		if err == nil {
			a.r.hook(HookAfter + act.Kind())
			log.Info().Msg(map[bool]string{true: "Invited user", false: "Joined user"}[act.Kind() == "invite"])
			a.mu.Lock()
			rec := a.state.Members.Get(t)
			a.mu.Unlock()
			rec.Room, rec.User, rec.AddedAt = t.Room, t.User, a.r.opts.Now()
			if perr := st.PutMember(ctx, rec); perr != nil {
				log.Warn().Err(perr).Msg("User added, but the store did not record it; the next cycle sees them in the room")
			} else {
				a.setMember(t, rec)
			}
		}
	case plan.Kick, plan.Ban:
		if berr := a.ensureBackup(ctx); berr != nil {
			a.count(a.res.Skipped, act)
			log.Warn().Err(berr).Msg("Removal held: the state backup failed, so no removal runs this cycle")
			return
		}
		if ctx.Err() != nil {
			a.count(a.res.Skipped, act)
			return
		}
		// Once sent, the removal and its record finish together even if shutdown begins.
		wctx, done := outlive(ctx, removalGrace)
		defer done()
		action := plan.RemoveKick
		if _, isBan := act.(plan.Ban); isBan {
			action = plan.RemoveBan
			err = rooms.Ban(wctx, t.Room, t.User, act.Why())
		} else {
			err = rooms.Kick(wctx, t.Room, t.User, act.Why())
		}
		if err == nil {
			a.r.hook(HookAfter + act.Kind())
			log.Info().Msg(map[plan.RemoveAction]string{plan.RemoveKick: "Kicked user", plan.RemoveBan: "Banned user"}[action])
			// The membership the removal replaced: if the room still shows it at a later read,
			// the homeserver undid the removal (see planUndone).
			rem := plan.Removal{Room: t.Room, User: t.User, Action: action, Reason: act.Why(), At: a.r.opts.Now(), Replaced: a.replaced[t]}
			if rerr := st.RecordRemoval(wctx, rem); rerr != nil {
				// The room shows the user gone, by the bot: the next cycle records it without repeating it.
				log.Error().Err(rerr).Msg("User removed, but the store did not record it")
			}
		}
	case plan.PowerAction:
		err = a.applyPower(ctx, *log, act)
	case plan.LifecycleAction:
		if err = a.applyLifecycle(ctx, *log, act); errors.Is(err, errSkipped) {
			a.count(a.res.Skipped, act)
			return
		}
	case plan.SettleRemoval:
		if err = st.SettleRemovals(ctx, act.Room, act.User, act.UpTo); err == nil {
			log.Debug().Msg("Removal settled: the room shows another membership since")
		}
	case plan.RecordSpaceChildren:
		if err = a.r.opts.Spaces.PutSpaceChildren(ctx, act.Space, act.Children); err == nil {
			log.Debug().Int("children", len(act.Children)).Msg("Space children recorded")
		}
	case plan.RecordRoom:
		if err = a.r.opts.Spaces.PutRoomRecord(ctx, act.Room, act.Record); err == nil {
			log.Debug().Msg("Room record stored")
		}
	case plan.ForgetRoomRecord:
		if err = a.r.opts.Spaces.DeleteRoomRecord(ctx, act.Room); err == nil {
			log.Debug().Msg("Record of a released room dropped")
		}
	case plan.JoinRoom:
		j, _ := a.r.opts.Hierarchy.(RoomJoiner) // the plan has joins only when it is one
		if jerr := j.JoinRoom(ctx, act.Room); jerr != nil {
			// No invite yet: the room stays unreadable and every cycle warns about it.
			log.Debug().Err(jerr).Msg("Could not join a mapped room the bot is not in; invite the bot to it")
			a.count(a.res.Skipped, act)
			return
		}
		log.Info().Msg("Joined a mapped room the bot was invited to; reading it now")
		// The room is read and filled at once, by a cycle of its groups, not a whole interval later.
		var groups []string
		for _, m := range a.obs.Policy.Mappings {
			if m.Room == act.Room && !slices.Contains(groups, m.Group) {
				groups = append(groups, m.Group)
			}
		}
		a.r.TriggerGroups(groups)
	case plan.EndExemption:
		if err = a.r.endExemption(ctx, act.Room, act.User); err == nil {
			log.Info().Msg("Exemption ended: the user is back in a group")
		}
	default:
		err = fmt.Errorf("unknown action %T", act)
	}
	if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Cut off by shutdown: not a failure of the homeserver or the store.
		a.count(a.res.Skipped, act)
		if plan.IsRemoval(act) {
			// Sent, perhaps carried out: the next cycle finds it done in the room or sends it again.
			log.Warn().Err(err).Msg("Removal unanswered when shutdown cut it off; the next cycle checks the room")
		} else {
			log.Debug().Err(err).Msg("Action abandoned at shutdown; the next cycle does it")
		}
		return
	}
	if err != nil {
		a.count(a.res.Failed, act)
		log.Error().Err(err).Msg("Action failed; it is retried next cycle")
		return
	}
	if afterAtEnd(act) {
		a.r.hook(HookAfter + act.Kind())
	}
	a.count(a.res.Done, act)
}

// accountExists checks, once per user and cycle, that the user has a Matrix account. The second
// result is the counter to bump when the user is not added. A user added to several rooms at once
// is looked up by the first of them; the others wait for its answer.
func (a *applier) accountExists(ctx context.Context, log *zerolog.Logger, user id.UserID) (bool, map[string]int) {
	a.mu.Lock()
	check, seen := a.exists[user]
	if !seen {
		check = &accountCheck{done: make(chan struct{})}
		a.exists[user] = check
	}
	a.mu.Unlock()
	if seen {
		select {
		case <-check.done:
		case <-ctx.Done():
			return false, a.res.Skipped
		}
		if check.err != nil {
			return false, a.res.Failed
		}
	} else {
		a.lookUpAccount(ctx, log, user, check)
		if check.err != nil {
			log.Error().Err(check.err).Msg("Could not check whether the user has a Matrix account; not added this cycle")
			return false, a.res.Failed
		}
	}
	if !check.exists {
		log.Debug().Msg("Still no Matrix account; skipped")
		return false, a.res.Skipped
	}
	return true, nil
}

// lookUpAccount asks the homeserver and notes the answer in the store, then releases the rooms
// waiting for it.
func (a *applier) lookUpAccount(ctx context.Context, log *zerolog.Logger, user id.UserID, check *accountCheck) {
	defer close(check.done)
	check.exists, check.err = a.r.opts.Rooms.UserExists(ctx, user)
	if check.err != nil {
		return
	}
	st := a.r.opts.Store
	if check.exists {
		if err := st.ClearMissingAccount(ctx, user); err != nil {
			log.Warn().Err(err).Msg("Could not clear the missing-account note")
		}
		return
	}
	first, err := st.MarkMissingAccount(ctx, user)
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("Could not store the missing-account note")
	case first:
		a.mu.Lock()
		a.res.NoAccount = append(a.res.NoAccount, user)
		a.mu.Unlock()
		log.Warn().Msg("User has no Matrix account yet; skipped until they sign in once (checked every cycle, logged once)")
	}
}

// missingAccounts counts the users this cycle found without a Matrix account.
func (a *applier) missingAccounts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.exists {
		select {
		case <-c.done:
			if c.err == nil && !c.exists {
				n++
			}
		default: // interrupted before the answer came
		}
	}
	return n
}

func (a *applier) setMember(t plan.RoomUser, m plan.ManagedMember) {
	a.mu.Lock()
	m.Room, m.User = t.Room, t.User
	a.state.Members.Set(m)
	a.mu.Unlock()
}

// ensureBackup takes the cycle's backup before its first removal, and says why not if it could
// not. Concurrent removals wait for the one backup; after a failure none runs this cycle.
func (a *applier) ensureBackup(ctx context.Context) error {
	a.backup.Lock()
	defer a.backup.Unlock()
	a.mu.Lock()
	backedUp, noRemove := a.backedUp, a.noRemove
	a.mu.Unlock()
	switch {
	case backedUp:
		return nil
	case noRemove != nil:
		return noRemove
	case a.r.opts.Backup == nil:
		a.mu.Lock()
		a.noRemove = errors.New("no backup configured")
		a.mu.Unlock()
		return a.noRemove
	}
	a.r.hook(HookBefore + HookBackup)
	path, err := a.r.opts.Backup.Backup(ctx)
	if err == nil {
		a.r.hook(HookAfter + HookBackup)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.noRemove = err
		a.log.Error().Err(err).Msg("State backup failed; removals are held until a backup succeeds")
		return err
	}
	a.backedUp = true
	a.res.Backup = path
	a.log.Info().Str("path", path).Msg("State backed up before removals")
	return nil
}

// maxTrackBatch bounds the records written in one transaction.
const maxTrackBatch = 1000

// trackRun returns how many TrackMember actions start actions, up to maxTrackBatch.
func (a *applier) trackRun(actions []plan.Action) int {
	n := 0
	for n < len(actions) && n < maxTrackBatch {
		if _, ok := actions[n].(plan.TrackMember); !ok {
			break
		}
		n++
	}
	return n
}

// trackBatch records a run of TrackMember actions in one transaction. Each action still counts,
// logs and passes its hooks as one applied alone would: the "before" hooks all before the write,
// the "after" hooks once it committed.
func (a *applier) trackBatch(ctx context.Context, actions []plan.Action) {
	ms := make([]plan.ManagedMember, len(actions))
	for i, act := range actions {
		ms[i] = act.(plan.TrackMember).Member()
		a.r.hook(HookBefore + act.Kind())
	}
	err := a.r.opts.Store.PutMembers(ctx, ms)
	if err != nil {
		a.log.Error().Err(err).Int("members", len(ms)).Msg("Recording managed members failed; retried next cycle")
	}
	debug := a.log.GetLevel() <= zerolog.DebugLevel
	for i, act := range actions {
		if err != nil {
			a.count(a.res.Failed, act)
			continue
		}
		t := act.Target()
		if a.adds[t] {
			a.setMember(t, ms[i])
		}
		if debug {
			a.logFor(act).Debug().Msg("Tracking member")
		}
		if afterAtEnd(act) {
			a.r.hook(HookAfter + act.Kind())
		}
		a.count(a.res.Done, act)
	}
}
