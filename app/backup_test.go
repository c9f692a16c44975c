package app

import (
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/store"
)

func TestLastBackupMetricStartsFromTheNewestBackupOnDisk(t *testing.T) {
	taken := time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)
	dataDir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: dataDir, BackupRetention: 2, Now: func() time.Time { return taken }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	scrape := func(st stateStore) string {
		t.Helper()
		m := newMetrics()
		noteNewestBackup(m, st, zerolog.Nop())
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, l := range strings.Split(rec.Body.String(), "\n") {
			if strings.Contains(l, "last_backup_timestamp_seconds ") && !strings.HasPrefix(l, "#") {
				return l
			}
		}
		t.Fatalf("no last_backup_timestamp_seconds in\n%s", rec.Body.String())
		return ""
	}
	if l := scrape(st); !strings.HasSuffix(l, " 0") {
		t.Errorf("without backups: %q, want 0", l)
	}
	if _, err := st.BackupAs(t.Context(), store.BackupManual); err != nil {
		t.Fatal(err)
	}
	l := scrape(st)
	if v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64); err != nil || int64(v) != taken.Unix() {
		t.Errorf("after a backup taken at %s: %q, want its time (%d)", taken, l, taken.Unix())
	}
}

func TestAdminRoomBackupsAreManual(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Backup(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	for range 2 {
		p, err := m.TimeBackups(manualBackups{st}).Backup(t.Context())
		if err != nil || !strings.Contains(filepath.Base(p), "-manual-") {
			t.Fatalf("!sync backup wrote %s, %v; want a manual backup", p, err)
		}
	}
	// Retention 1 keeps the automatic backup beside both manual ones.
	if bs, err := st.Backups(); err != nil || len(bs) != 3 {
		t.Errorf("backups %v, %v; want the automatic one and two manual ones", bs, err)
	}
}
