package metrics

import (
	"context"
	"time"

	syncer "authentik-matrix-sync/sync"
)

// countedBackups counts the backups an inner Backuper takes.
type countedBackups struct {
	m     *Metrics
	inner syncer.Backuper
	now   func() time.Time
}

// CountBackups wraps b so that every backup moves backups_total and, when it succeeds,
// last_backup_timestamp_seconds.
func (m *Metrics) CountBackups(b syncer.Backuper) syncer.Backuper {
	return &countedBackups{m: m, inner: b, now: time.Now}
}

func (c *countedBackups) Backup(ctx context.Context) (string, error) {
	path, err := c.inner.Backup(ctx)
	if err != nil {
		c.m.backups.WithLabelValues(ResultFailed).Inc()
		return path, err
	}
	c.m.backups.WithLabelValues(ResultOK).Inc()
	c.m.lastBackup.Set(float64(c.now().UnixMilli()) / 1000)
	return path, nil
}
