package reconcile

import (
	"context"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Snapshot is what one preview saw and planned: enough for Explain to answer about any user.
type Snapshot struct {
	Observed plan.Observed
	State    plan.State
	Plan     plan.Plan
	At       time.Time
}

// Snapshot observes and plans like Preview, keeping what the plan was made from.
func (r *Reconciler) Snapshot(ctx context.Context) (Snapshot, error) {
	obs, state, err := r.Observe(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	at := r.opts.Now()
	planned := plan.MakePlan(obs.Policy, obs, state, at)
	r.skipWithoutAccount(ctx, &planned)
	return Snapshot{Observed: obs, State: state, Plan: planned, At: at}, nil
}

// Explain explains user's place (in room, or every mapped room) from the snapshot; audit holds
// the user's audit log entries, newest first.
func (s Snapshot) Explain(user id.UserID, room id.RoomID, audit []plan.AuditEntry) plan.Why {
	return plan.Explain(plan.WhyInput{Policy: s.Observed.Policy, Observed: s.Observed, State: s.State, Plan: s.Plan,
		User: user, Room: room, Now: s.At, Audit: audit})
}
