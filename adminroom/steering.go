package adminroom

import (
	"context"
	"maps"
	"slices"
	"strconv"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// Paused implements sync.Steering.
func (b *Bot) Paused(ctx context.Context) (bool, error) { return b.opts.Store.Paused(ctx) }

// Exemptions implements sync.Steering.
func (b *Bot) Exemptions(ctx context.Context) ([]plan.Exemption, error) {
	return b.opts.Store.Exemptions(ctx)
}

// EndExemption implements sync.Steering.
func (b *Bot) EndExemption(ctx context.Context, room id.RoomID, user id.UserID) error {
	_, err := b.opts.Store.DeleteExemption(ctx, room, user)
	return err
}

// HoldRemovals implements sync.Steering: the batch is stored, and posted the first time.
func (b *Bot) HoldRemovals(ctx context.Context, hb plan.HeldBatch) (bool, error) {
	created, status, err := b.opts.Store.HoldBatch(ctx, hb)
	if err != nil {
		return false, err
	}
	if created {
		b.notify(b.heldNotice(hb))
	}
	return status == plan.BatchConfirmed, nil
}

func (b *Bot) heldNotice(hb plan.HeldBatch) Reply {
	var t text
	t.head("Mass removal held: %s (batch %s)", fmtCount(len(hb.Removals), "user", "users"), hb.ID)
	t.line("Why: %s", hb.Why)
	const shown = 30
	for i, r := range hb.Removals {
		if i == shown {
			t.line("… and %d more", len(hb.Removals)-shown)
			break
		}
		if r.Room == "" { // a lock or logout held with the removals
			t.item("%s %s: %s", r.Action, r.User, r.Reason)
			continue
		}
		t.item("%s %s from %s: %s", r.Action, r.User, r.Room, r.Reason)
	}
	t.code("Carry it out: ", b.opts.Prefix+" confirm "+hb.ID)
	t.code("Drop it: ", b.opts.Prefix+" reject "+hb.ID)
	t.line("Invites and joins go on meanwhile.")
	return t.reply()
}

// FinishBatch implements sync.Steering.
func (b *Bot) FinishBatch(ctx context.Context, batchID string) error {
	return b.opts.Store.DecideBatch(ctx, batchID, plan.BatchConfirmed, plan.BatchDone, "")
}

// ActionFinished implements sync.Observer; the admin room reads whole cycles only.
func (b *Bot) ActionFinished(string, id.RoomID, string) {}

// CycleFinished implements sync.Observer. It runs on the cycle's goroutine, so the notices are
// handed to Run.
func (b *Bot) CycleFinished(res reconcile.CycleResult, stats reconcile.CycleStats) {
	select {
	case b.cycleCh <- cycleReport{res: res, stats: stats}:
	default:
		b.opts.Log.Warn().Str("cycle", res.ID).Msg("Admin room busy; this cycle's notices are dropped")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func itoa(n int) string { return strconv.Itoa(n) }
