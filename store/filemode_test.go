package store

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// TestDatabaseFilesArePrivate: the live database and its -wal and -shm are 0600, like the
// backups, whatever the umask, and files an older release left 0644 are narrowed at start.
// The umask is the process's: this test must not run in parallel.
func TestDatabaseFilesArePrivate(t *testing.T) {
	tests := []struct {
		name     string
		umask    int
		existing os.FileMode // 0: no database yet
	}{
		{"new database, umask 022", 0o022, 0},
		{"new database, umask 000", 0o000, 0},
		{"new database, umask 077", 0o077, 0},
		{"database left 0644", 0o000, 0o644},
		{"database left 0666", 0o022, 0o666},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, dbFileName)
			if tt.existing != 0 {
				first := openTest(t, Options{DataDir: dir, BackupRetention: 2})
				if err := first.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			old := syscall.Umask(tt.umask)
			t.Cleanup(func() { syscall.Umask(old) })

			s := openTest(t, Options{DataDir: dir, BackupRetention: 2})
			// A write makes SQLite open its -wal and -shm.
			now := time.Now()
			if err := s.PutMember(t.Context(), plan.ManagedMember{Room: id.RoomID("!r:example.org"),
				User: id.UserID("@u:example.org"), DesiredSince: now, AddedAt: now}); err != nil {
				t.Fatal(err)
			}
			backup, err := s.Backup(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{path, path + "-wal", path + "-shm", backup} {
				fi, err := os.Stat(p)
				if err != nil {
					t.Errorf("%s: %v", filepath.Base(p), err)
					continue
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("%s has mode %v, want 0600", filepath.Base(p), perm)
				}
			}
		})
	}
}
