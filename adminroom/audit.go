package adminroom

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// AuditStore is the part of the store that keeps the audit log.
type AuditStore interface {
	// AppendAudit writes entries in one go; a skip repeating the newest entry about its room and
	// user is left out.
	AppendAudit(ctx context.Context, entries ...plan.AuditEntry) error
	// PruneAudit deletes the entries older than before (none when zero) and all but the newest
	// keep (none when 0).
	PruneAudit(ctx context.Context, before time.Time, keep int) (int, error)
}

// AuditOptions configures CycleAudit.
type AuditOptions struct {
	Store AuditStore
	// MaxAge and MaxRows bound the log: older entries go, and all but the newest MaxRows; zero
	// leaves each unbounded.
	MaxAge  time.Duration
	MaxRows int
	Now     func() time.Time
	Log     zerolog.Logger
}

const (
	// pruneEvery spaces the prunings; the log may pass its bounds by a day's entries meanwhile.
	pruneEvery = 24 * time.Hour
	auditQueue = 16
	// auditDrain bounds the writing of the cycles still queued at shutdown.
	auditDrain = 2 * time.Second
)

// CycleAudit writes the room changes of every cycle to the audit log and keeps the log within
// its bounds. It works apart from the admin room, so the log is kept whether or not one is
// configured; the admin room adds its commands to the same log.
type CycleAudit struct {
	opts   AuditOptions
	cycles chan reconcile.CycleResult
}

var _ reconcile.Observer = (*CycleAudit)(nil)

// NewCycleAudit builds the audit writer; Run writes what the cycles report.
func NewCycleAudit(opts AuditOptions) *CycleAudit {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CycleAudit{opts: opts, cycles: make(chan reconcile.CycleResult, auditQueue)}
}

// ActionFinished implements sync.Observer; the log is written per cycle.
func (a *CycleAudit) ActionFinished(string, id.RoomID, string) {}

// CycleFinished implements sync.Observer. It runs on the cycle's goroutine, so the writing is
// handed to Run.
func (a *CycleAudit) CycleFinished(res reconcile.CycleResult, _ reconcile.CycleStats) {
	if len(res.Writes) == 0 {
		return
	}
	select {
	case a.cycles <- res:
	default:
		a.opts.Log.Warn().Str("cycle", res.ID).Int("entries", len(res.Writes)).Msg("Audit log writer busy; this cycle's audit entries are dropped")
	}
}

// Run prunes the log at once and then once a day, and writes the cycles' entries, until ctx ends;
// the cycles queued by then are still written.
func (a *CycleAudit) Run(ctx context.Context) error {
	a.prune(ctx)
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditDrain)
			defer cancel()
			for {
				select {
				case res := <-a.cycles:
					a.record(drain, res)
				default:
					return nil
				}
			}
		case res := <-a.cycles:
			a.record(ctx, res)
		case <-tick.C:
			a.prune(ctx)
		}
	}
}

// record writes a cycle's room changes, one entry each, stamped with the cycle's start.
func (a *CycleAudit) record(ctx context.Context, res reconcile.CycleResult) {
	entries := make([]plan.AuditEntry, 0, len(res.Writes))
	for _, w := range res.Writes {
		entries = append(entries, plan.AuditEntry{At: res.Started, Actor: "cycle " + res.ID,
			Command: w.Kind + ": " + w.Reason, Target: w.Target.User, Room: w.Target.Room, Result: w.Result})
	}
	if err := a.opts.Store.AppendAudit(ctx, entries...); err != nil {
		a.opts.Log.Warn().Err(err).Str("cycle", res.ID).Msg("Could not write the cycle's audit entries")
	}
}

// prune deletes what is beyond the log's bounds.
func (a *CycleAudit) prune(ctx context.Context) {
	if a.opts.MaxAge <= 0 && a.opts.MaxRows <= 0 {
		return
	}
	var before time.Time
	if a.opts.MaxAge > 0 {
		before = a.opts.Now().Add(-a.opts.MaxAge)
	}
	n, err := a.opts.Store.PruneAudit(ctx, before, max(a.opts.MaxRows, 0))
	switch {
	case err != nil:
		a.opts.Log.Warn().Err(err).Msg("Could not prune the audit log; it is tried again in a day")
	case n > 0:
		a.opts.Log.Info().Int("deleted", n).Msg("Pruned the audit log (audit.max_age, audit.max_rows)")
	}
}
