package app

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/adminroom"
	"authentik-matrix-sync/config"
)

// startAuditLog starts the writer of the audit log, which records every cycle's room changes and
// keeps the log within audit.max_age and audit.max_rows, whether or not an admin room is
// configured. The reconciler reports to it as one of its observers.
func startAuditLog(ctx context.Context, cfg *config.Config, st stateStore, log zerolog.Logger, goRun func(func() error)) (*adminroom.CycleAudit, error) {
	as, ok := st.(adminroom.AuditStore)
	if !ok {
		return nil, fmt.Errorf("the %T state store cannot keep the audit log", st)
	}
	a := adminroom.NewCycleAudit(adminroom.AuditOptions{Store: as, MaxAge: cfg.Audit.MaxAge, MaxRows: cfg.Audit.MaxRows,
		Log: log.With().Str("component", "audit").Logger()})
	goRun(func() error { return a.Run(ctx) })
	return a, nil
}
