package app

import (
	"context"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/metrics"
	"authentik-matrix-sync/store"
)

// manualBackups takes the backups an operator asks for in the admin room (!sync backup): manual
// ones, which the rotation of the automatic backups leaves alone.
type manualBackups struct{ st stateStore }

func (b manualBackups) Backup(ctx context.Context) (string, error) {
	return b.st.BackupAs(ctx, store.BackupManual)
}

// noteNewestBackup starts last_backup_timestamp_seconds at the newest backup in the backups
// directory, of any kind, so that an alert on the backup's age holds from the start.
func noteNewestBackup(m *metrics.Metrics, st stateStore, log zerolog.Logger) {
	path, at, err := st.NewestBackup()
	if err != nil {
		log.Warn().Err(err).Msg("Could not read the backups directory; last_backup_timestamp_seconds starts at 0")
		return
	}
	if path != "" {
		m.SetLastBackup(at)
	}
}
