package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLastBackupStartsFromTheNewestOnDisk(t *testing.T) {
	m := New(BuildInfo{})
	m.SetLastBackup(time.Time{})
	if ts := testutil.ToFloat64(m.lastBackup); ts != 0 {
		t.Errorf("without a backup on disk the gauge is %v, want unset (0)", ts)
	}
	onDisk := time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)
	m.SetLastBackup(onDisk)
	if ts := testutil.ToFloat64(m.lastBackup); ts != float64(onDisk.Unix()) {
		t.Errorf("gauge %v, want %v (the newest backup on disk)", ts, onDisk.Unix())
	}
}

func TestTimedBackupsMoveOnlyTheTimestamp(t *testing.T) {
	m := New(BuildInfo{})
	if _, err := m.TimeBackups(fakeBackuper{}).Backup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ts := testutil.ToFloat64(m.lastBackup); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last backup timestamp %v after a manual backup", ts)
	}
	if n := testutil.ToFloat64(m.backups.WithLabelValues(ResultOK)); n != 0 {
		t.Errorf("a manual backup counted in backups_total: %v", n)
	}
}
