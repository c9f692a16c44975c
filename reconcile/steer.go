package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// AppliedWrite is one room change a cycle tried.
type AppliedWrite struct {
	Kind   string
	Target plan.RoomUser
	Reason string
	// Result is ResultOK, ResultFailed or ResultSkipped.
	Result string
	// Account is set for a write to a Matrix account rather than a room (IsAccountWrite).
	Account bool
}

func (c *CycleResult) noteWrite(act plan.Action, counter map[string]int) {
	if plan.IsMatrixWrite(act) {
		t := act.Target()
		c.Writes = append(c.Writes, AppliedWrite{Kind: act.Kind(), Target: t, Reason: act.Why(), Result: c.resultOf(counter),
			Account: plan.IsAccountWrite(act)})
	}
}

// paused reports whether an admin paused the bot. An unreadable flag does not stop the cycle:
// its own read of the store then fails and reports the problem.
func (r *Reconciler) paused(ctx context.Context, res *CycleResult) bool {
	if r.opts.Steering == nil {
		return false
	}
	p, err := r.opts.Steering.Paused(ctx)
	if err != nil {
		r.opts.Log.Warn().Err(err).Msg("Could not read the paused flag; running the cycle")
		return false
	}
	res.Paused = p
	return p
}

func (r *Reconciler) loadExemptions(ctx context.Context, state *plan.State) error {
	var source interface {
		Exemptions(ctx context.Context) ([]plan.Exemption, error)
	}
	source = r.opts.Store
	if r.opts.Steering != nil {
		source = r.opts.Steering
	}
	list, err := source.Exemptions(ctx)
	if err != nil {
		// Without the exemptions an exempt user could be removed: no cycle until they are read.
		return fmt.Errorf("load exemptions: %w", err)
	}
	if state.Exempt == nil {
		state.Exempt = map[plan.RoomUser]plan.Exemption{}
	}
	for _, e := range list {
		state.Exempt[plan.RoomUser{Room: e.Room, User: e.User}] = e
	}
	return nil
}

// endExemption drops an exemption whose user is back in a group: through the admin room when
// there is one (it also tells the admins), else straight in the store.
func (r *Reconciler) endExemption(ctx context.Context, room id.RoomID, user id.UserID) error {
	if r.opts.Steering != nil {
		return r.opts.Steering.EndExemption(ctx, room, user)
	}
	_, err := r.opts.Store.DeleteExemption(ctx, room, user)
	return err
}

// guard holds back the plan's removals when they trip the mass-removal thresholds and no admin
// has confirmed exactly this batch. Additions go on either way.
func (r *Reconciler) guard(ctx context.Context, log zerolog.Logger, planned plan.Plan, state plan.State, res *CycleResult) plan.Plan {
	v := plan.CheckRemovals(r.opts.Guard, planned, state)
	if !v.Tripped() {
		return planned
	}
	b := v.Batch()
	b.Created = res.Started
	if r.opts.Steering == nil {
		log.Warn().Str("why", b.Why).Int("removals", len(b.Removals)).
			Msg("Mass removal held: no admin room to confirm it; raise the limits to let it through")
		res.Held = &b
		return planned.WithoutRemovals()
	}
	confirmed, err := r.opts.Steering.HoldRemovals(ctx, b)
	if err != nil {
		log.Error().Err(err).Msg("Could not record the held removals; none runs this cycle")
	}
	if err == nil && confirmed {
		log.Info().Str("batch", b.ID).Int("removals", len(b.Removals)).Msg("Mass removal confirmed by an admin; carrying it out")
		b.Status = plan.BatchConfirmed
		res.Held = &b
		return planned
	}
	log.Warn().Str("batch", b.ID).Str("why", b.Why).Int("removals", len(b.Removals)).
		Msg("Mass removal held until an admin confirms it; invites and joins go on")
	res.Held = &b
	return planned.WithoutRemovals()
}

// finishHeld marks a confirmed batch as carried out once its cycle applied it.
func (r *Reconciler) finishHeld(ctx context.Context, log zerolog.Logger, res *CycleResult) {
	if res.Held == nil || res.Held.Status != plan.BatchConfirmed || r.opts.Steering == nil {
		return
	}
	if err := r.opts.Steering.FinishBatch(ctx, res.Held.ID); err != nil {
		log.Warn().Err(err).Str("batch", res.Held.ID).Msg("Could not mark the confirmed batch as done")
	}
}

// Steering is how operators steer the reconciler from outside: pausing it, exempting users and
// deciding on held removals. A reconciler without one is never paused and holds no removals.
type Steering interface {
	Paused(ctx context.Context) (bool, error)
	Exemptions(ctx context.Context) ([]plan.Exemption, error)
	// EndExemption lifts an UntilBack exemption once the user is back in a group.
	EndExemption(ctx context.Context, room id.RoomID, user id.UserID) error
	// HoldRemovals records a batch (idempotent by ID) and reports whether an admin has
	// confirmed it, in which case the removals may run.
	HoldRemovals(ctx context.Context, b plan.HeldBatch) (confirmed bool, err error)
	// FinishBatch marks a confirmed batch as carried out.
	FinishBatch(ctx context.Context, id string) error
}

// ErrNoBatch is returned when no held batch has the given ID (and status).
var ErrNoBatch = errors.New("no such held batch")
