package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/store/pgtest"
)

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// storeConfig writes a config whose database section is db and returns its path.
func storeConfig(t *testing.T, dataDir, db string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	content := `homeserver: {address: "http://127.0.0.1:1"}
matrix: {user_id: "@bot:example.org", access_token: "x"}
authentik: {url: "http://127.0.0.1:1", token: "y"}
database: {data_dir: "` + dataDir + `", backup_retention: 2` + db + `}
`
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newSQLiteState creates the SQLite state in dataDir, as the bot's first start does.
func newSQLiteState(t *testing.T, dataDir string) {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: dataDir, BackupRetention: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBackupAndRestoreCommands(t *testing.T) {
	tests := []struct {
		name string
		db   func(t *testing.T) string
		ext  string
	}{
		{"sqlite", func(*testing.T) string { return "" }, ".db"},
		{"postgres", func(t *testing.T) string { return `, uri: "` + pg.Get(t).Database(t) + `"` }, ".dump"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			cfg := storeConfig(t, dataDir, tc.db(t))
			if tc.ext == ".db" {
				if code := run([]string{"backup", "-c", cfg}); code == 0 {
					t.Error("backup before the bot ever ran succeeded")
				}
				newSQLiteState(t, dataDir)
			}
			for i := range 3 {
				// Flags before and after the command both work.
				args := []string{"backup", "-c", cfg}
				if i == 1 {
					args = []string{"-c", cfg, "backup"}
				}
				if code := run(args); code != 0 {
					t.Fatalf("%v exited %d", args, code)
				}
			}
			// Manual backups are not rotated: all three are kept with retention 2.
			backups, _ := filepath.Glob(filepath.Join(dataDir, "backups", "authentik-matrix-sync-manual-*"+tc.ext))
			if len(backups) != 3 {
				t.Fatalf("after three backups with retention 2: %v", backups)
			}
			if code := run([]string{"restore", "-c", cfg}); code == 0 {
				t.Error("restore without a file succeeded")
			}
			if code := run([]string{"restore", backups[0], "-c", cfg}); code != 0 {
				t.Fatalf("restore %s exited %d", backups[0], code)
			}
			if _, err := os.Stat(backups[0]); err != nil {
				t.Errorf("restore deleted the backup it restored: %v", err)
			}
			if safety, _ := filepath.Glob(filepath.Join(dataDir, "backups", "authentik-matrix-sync-pre-restore-*"+tc.ext)); len(safety) != 1 {
				t.Errorf("pre-restore backups %v, want the one restore took", safety)
			}
			if code := run([]string{"restore", "-c", cfg, filepath.Join(dataDir, "missing"+tc.ext)}); code == 0 {
				t.Error("restore of a missing file succeeded")
			}
		})
	}
}

func TestBackupCommandWhileTheBotRuns(t *testing.T) {
	dataDir := t.TempDir()
	cfg := storeConfig(t, dataDir, "")
	// The running bot holds the DATA_DIR lock.
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: dataDir, BackupRetention: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutMember(t.Context(), plan.ManagedMember{Room: "!r:hs", User: "@alice:hs"}); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"backup", "-c", cfg}); code != 0 {
		t.Fatalf("backup while the bot runs exited %d", code)
	}
	backups, err := st.Backups()
	if err != nil || len(backups) != 1 || !strings.Contains(filepath.Base(backups[0]), "-manual-") {
		t.Fatalf("backups %v, %v; want one manual backup", backups, err)
	}
	if err := st.PutMember(t.Context(), plan.ManagedMember{Room: "!r:hs", User: "@bob:hs"}); err != nil {
		t.Errorf("the bot's store after the backup: %v", err)
	}
}

func TestMigrateStoreCommand(t *testing.T) {
	dataDir := t.TempDir()
	newSQLiteState(t, dataDir)
	url := pg.Get(t).Database(t)
	pgCfg := storeConfig(t, t.TempDir(), `, uri: "`+url+`"`)
	if code := run([]string{"migrate-store", "-c", pgCfg, "-from", "sqlite:" + dataDir}); code != 0 {
		t.Fatalf("migrate-store exited %d", code)
	}
	if code := run([]string{"migrate-store", "-c", pgCfg, "-from", "sqlite:" + dataDir, "-to", url}); code != 0 {
		t.Fatalf("migrate-store into an empty copy again exited %d", code)
	}
	if code := run([]string{"migrate-store", "-c", pgCfg, "-from", strings.TrimPrefix(dataDir, "/")}); code == 0 {
		t.Error("migrate-store without sqlite: succeeded")
	}
}
