package app

import (
	"context"
	"errors"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// storedSteering reads the admin room's stored decisions (exemptions, the paused flag) for a
// reconciler that only previews: the plan subcommand's. The running bot's reconciler reads the
// same rows through the admin room (adminroom.Bot's Steering methods call the same store
// methods), and both plans come from Reconciler.Preview, so `plan` and `!sync plan` agree.
type storedSteering struct{ st decisionStore }

// decisionStore is the part of the store holding the admin room's decisions.
type decisionStore interface {
	Paused(ctx context.Context) (bool, error)
	Exemptions(ctx context.Context) ([]plan.Exemption, error)
}

var _ reconcile.Steering = storedSteering{}

// errPreviewOnly is returned by the writes a preview never makes; reaching one is a bug.
var errPreviewOnly = errors.New("the plan subcommand changes nothing")

func (s storedSteering) Paused(ctx context.Context) (bool, error) { return s.st.Paused(ctx) }

func (s storedSteering) Exemptions(ctx context.Context) ([]plan.Exemption, error) {
	return s.st.Exemptions(ctx)
}

func (storedSteering) EndExemption(context.Context, id.RoomID, id.UserID) error {
	return errPreviewOnly
}

func (storedSteering) HoldRemovals(context.Context, plan.HeldBatch) (bool, error) {
	return false, errPreviewOnly
}

func (storedSteering) FinishBatch(context.Context, string) error { return errPreviewOnly }

// planSteering is the plan subcommand's Steering: the stored decisions when the config has an
// admin room, as the running bot's reconciler has; none without one, as the bot then has none
// either (both then still honour the stored exemptions, read from the store by the reconciler),
// so the plan shows what the bot's next cycle would do.
func planSteering(cfg *config.Config, st reconcile.Store) reconcile.Steering {
	if cfg.Admin.Room == "" {
		return nil
	}
	if s, ok := st.(decisionStore); ok {
		return storedSteering{st: s}
	}
	return nil
}
