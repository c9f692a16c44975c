package metrics

import (
	"context"
	"time"

	"authentik-matrix-sync/reconcile"
)

// countedBackups counts the backups an inner Backuper takes.
type countedBackups struct {
	m     *Metrics
	inner reconcile.Backuper
	now   func() time.Time
	// count adds the backup to backups_total; off for the backups an operator asks for.
	count bool
}

// CountBackups wraps b so that every backup moves backups_total and, when it succeeds,
// last_backup_timestamp_seconds.
func (m *Metrics) CountBackups(b reconcile.Backuper) reconcile.Backuper {
	return &countedBackups{m: m, inner: b, now: time.Now, count: true}
}

// TimeBackups wraps b so that every backup that succeeds moves last_backup_timestamp_seconds
// without counting in backups_total, which counts the backups taken before removals: for the
// backups an operator asks for (!sync backup).
func (m *Metrics) TimeBackups(b reconcile.Backuper) reconcile.Backuper {
	return &countedBackups{m: m, inner: b, now: time.Now}
}

// SetLastBackup sets last_backup_timestamp_seconds to the time of a backup taken before this
// process started (the newest in the backups directory), so the gauge tells a backup's age from
// the start rather than reading 0; a zero at leaves it unset.
func (m *Metrics) SetLastBackup(at time.Time) {
	if !at.IsZero() {
		m.lastBackup.Set(float64(at.UnixMilli()) / 1000)
	}
}

func (c *countedBackups) Backup(ctx context.Context) (string, error) {
	path, err := c.inner.Backup(ctx)
	if err != nil {
		if c.count {
			c.m.backups.WithLabelValues(ResultFailed).Inc()
		}
		return path, err
	}
	if c.count {
		c.m.backups.WithLabelValues(ResultOK).Inc()
	}
	c.m.lastBackup.Set(float64(c.now().UnixMilli()) / 1000)
	return path, nil
}
