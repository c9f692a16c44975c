package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// PowerLevelWriter writes users' power levels. Rooms implementations that can change levels
// implement it too.
type PowerLevelWriter interface {
	// SetUserPowerLevels re-reads the room's m.room.power_levels, applies the changes whose user
	// still has their From level, and sends the event once, every other key kept as it was. It
	// returns the changes it made; none means nothing was sent.
	SetUserPowerLevels(ctx context.Context, room id.RoomID, changes []plan.LevelChange) ([]plan.LevelChange, error)
}

// applyPower carries out one power action.
func (a *applier) applyPower(ctx context.Context, log zerolog.Logger, act plan.PowerAction) error {
	ps := a.r.opts.Store
	grant := func(room id.RoomID, user id.UserID) plan.PowerGrant {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.state.Grants[plan.RoomUser{Room: room, User: user}]
	}
	switch act := act.(type) {
	case plan.ScheduleDemotion:
		g := grant(act.Room, act.User)
		g.Room, g.User, g.DemoteAt = act.Room, act.User, act.DueAt
		if err := ps.PutPowerGrant(ctx, g); err != nil {
			return err
		}
		log.Info().Time("due_at", act.DueAt).Msg("Power level demotion scheduled after the grace period")
	case plan.CancelDemotion:
		g := grant(act.Room, act.User)
		g.Room, g.User, g.DemoteAt = act.Room, act.User, time.Time{}
		if err := ps.PutPowerGrant(ctx, g); err != nil {
			return err
		}
		log.Info().Msg("Pending power level demotion cancelled")
	case plan.ForgetPowerGrant:
		if err := ps.DeletePowerGrant(ctx, act.Room, act.User); err != nil {
			return err
		}
		log.Info().Msg("Power level grant forgotten")
	case plan.SetPowerLevels:
		w, ok := a.r.opts.Rooms.(PowerLevelWriter)
		if !ok {
			return errors.New("this homeserver connection cannot write power levels")
		}
		// A user this cycle adds is raised only if they have a Matrix account: their addition is
		// skipped otherwise, and so is the raise (as the preview says; see skipWithoutAccount).
		changes := act.Changes[:0:0]
		for _, c := range act.Changes {
			if c.Promote && a.adds[plan.RoomUser{Room: act.Room, User: c.User}] {
				if exists, _ := a.accountExists(ctx, &log, c.User); !exists {
					log.Debug().Str("user", string(c.User)).Msg("Power level raise skipped: no Matrix account yet")
					continue
				}
			}
			changes = append(changes, c)
		}
		if len(changes) == 0 {
			return nil
		}
		act.Changes = changes
		// Promotions are recorded before the write: a stop between the two then leaves a record
		// the room does not match, which the next cycle drops, instead of a level the bot set and
		// would never lower.
		now := a.r.opts.Now()
		for _, c := range act.Changes {
			if c.Promote {
				if err := ps.PutPowerGrant(ctx, plan.PowerGrant{Room: act.Room, User: c.User, Level: c.To, GrantedAt: now}); err != nil {
					return fmt.Errorf("record the power level of %s before setting it: %w", c.User, err)
				}
			}
		}
		done, err := w.SetUserPowerLevels(ctx, act.Room, act.Changes)
		made := map[id.UserID]bool{}
		for _, c := range done {
			made[c.User] = true
		}
		var serr error
		for _, c := range act.Changes {
			switch {
			case c.Promote && !made[c.User]:
				// Not set after all: put back what was recorded before.
				if prev := grant(act.Room, c.User); prev.User != "" {
					serr = errors.Join(serr, ps.PutPowerGrant(ctx, prev))
				} else {
					serr = errors.Join(serr, ps.DeletePowerGrant(ctx, act.Room, c.User))
				}
			case !c.Promote && made[c.User]:
				serr = errors.Join(serr, ps.DeletePowerGrant(ctx, act.Room, c.User))
			}
		}
		if serr != nil {
			// A record left behind no longer matches the room; the next cycle drops it.
			log.Warn().Err(serr).Msg("Power level records not all updated; the next cycle corrects them")
		}
		if err != nil {
			return err
		}
		ev := log.Info()
		if skipped := len(act.Changes) - len(done); skipped > 0 {
			ev = log.Warn().Int("skipped", skipped)
		}
		ev.Str("changes", plan.DescribeChanges(done)).Msg("Power levels set")
	}
	return nil
}

// loadGrants reads the stored power-level grants into state.
func (r *Reconciler) loadGrants(ctx context.Context, state *plan.State) error {
	g, err := r.opts.Store.PowerGrants(ctx)
	if err != nil {
		// Without the grants a demotion could be missed or a level forgotten: no cycle until read.
		return fmt.Errorf("load power level grants: %w", err)
	}
	state.Grants = g
	return nil
}
