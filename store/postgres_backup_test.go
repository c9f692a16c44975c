package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// fill writes one row of every kind and returns the state and history that were written.
func fill(t *testing.T, s *Postgres, n int) {
	t.Helper()
	ctx := t.Context()
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for i := range n {
		u := id.UserID("@u" + string(rune('a'+i)) + ":hs")
		if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: u, DesiredSince: at}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPending(ctx, plan.PendingRemoval{Room: "!r:hs", User: u, DueAt: at.Add(time.Hour), CreatedAt: at, Reason: "left"}); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordRemoval(ctx, plan.Removal{Room: "!old:hs", User: u, Action: plan.RemoveKick, Reason: "gone", At: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkMissingAccount(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
}

// everything is the store's whole content as the reconciler and the operator see it.
func everything(t *testing.T, s *Postgres) (plan.State, []plan.Removal, int) {
	t.Helper()
	st, err := s.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := s.Removals(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return st, rs, queryInt(t, s.db, "SELECT COUNT(*) FROM missing_accounts")
}

func TestPostgresBackupRestoresIntoAFreshDatabase(t *testing.T) {
	server := pg.Get(t)
	dataDir := t.TempDir()
	s := openPostgresTest(t, PostgresOptions{URL: server.Database(t), DataDir: dataDir, BackupRetention: 2})
	fill(t, s, 3)
	wantState, wantRemovals, wantMissing := everything(t, s)

	path, err := s.Backup(t.Context())
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if filepath.Dir(path) != filepath.Join(dataDir, "backups") || !strings.HasSuffix(path, ".dump") {
		t.Errorf("backup at %s, want DATA_DIR/backups/*.dump", path)
	}
	if err := s.LastBackupError(); err != nil {
		t.Errorf("LastBackupError after a good backup: %v", err)
	}

	fresh := server.Database(t)
	out, err := exec.CommandContext(t.Context(), "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+fresh, path).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore of the backup into a fresh database: %v\n%s", err, out)
	}
	r := openPostgresTest(t, PostgresOptions{URL: fresh})
	gotState, gotRemovals, gotMissing := everything(t, r)
	if !reflect.DeepEqual(gotState, wantState) || !reflect.DeepEqual(gotRemovals, wantRemovals) || gotMissing != wantMissing {
		t.Errorf("restored content differs:\n got  %+v %+v %d\n want %+v %+v %d", gotState, gotRemovals, gotMissing, wantState, wantRemovals, wantMissing)
	}
	// Only the schema was dumped: nothing else of a shared database.
	if n := queryInt(t, rawPostgres(t, fresh), "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema', '"+DefaultSchema+"')"); n != 0 {
		t.Errorf("the dump carried %d tables from outside the schema", n)
	}
}

func TestPostgresBackupOnlyDumpsItsSchema(t *testing.T) {
	server := pg.Get(t)
	url := server.Database(t)
	if _, err := rawPostgres(t, url).ExecContext(t.Context(), "CREATE TABLE public.synapse_secrets (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	s := openPostgresTest(t, PostgresOptions{URL: url})
	path, err := s.Backup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "pg_restore", "--list", path).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_restore --list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "synapse_secrets") || !strings.Contains(string(out), "managed_members") {
		t.Errorf("the dump's table of contents should hold the store's tables only:\n%s", out)
	}
}

func TestPostgresBackupRetentionKeepsExactlyN(t *testing.T) {
	const keep = 3
	dataDir := t.TempDir()
	clock := time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)
	s := openPostgresTest(t, PostgresOptions{URL: pg.Get(t).Database(t), DataDir: dataDir, BackupRetention: keep,
		Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	// Someone else's file and an SQLite backup in the same folder are not counted or deleted.
	for _, n := range []string{"notes.txt", "authentik-matrix-sync-20200101T000000Z.db"} {
		if err := os.MkdirAll(filepath.Join(dataDir, "backups"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dataDir, "backups", n), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var taken []string
	for range keep + 2 {
		p, err := s.Backup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, p)
	}
	got, err := s.Backups()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{taken[4], taken[3], taken[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Backups() = %v, want %v", got, want)
	}
	if want := filepath.Join(dataDir, "backups", "authentik-matrix-sync-20261126T091600Z.dump"); taken[0] != want {
		t.Errorf("first backup named %s, want %s (UTC timestamp)", taken[0], want)
	}
	for _, n := range []string{"notes.txt", "authentik-matrix-sync-20200101T000000Z.db"} {
		if _, err := os.Stat(filepath.Join(dataDir, "backups", n)); err != nil {
			t.Errorf("%s was touched by rotation: %v", n, err)
		}
	}
}

func TestPostgresManualBackupsDoNotCountAgainstRetention(t *testing.T) {
	dataDir := t.TempDir()
	clock := time.Date(2026, 11, 26, 9, 59, 0, 0, time.UTC)
	s := openPostgresTest(t, PostgresOptions{URL: pg.Get(t).Database(t), DataDir: dataDir, BackupRetention: 2,
		Now: func() time.Time { clock = clock.Add(time.Minute); return clock }})
	ctx := t.Context()
	fill(t, s, 2)
	clock = time.Date(2026, 11, 26, 9, 59, 0, 0, time.UTC) // fill read the clock too
	var automatic []string
	for range 2 {
		p, err := s.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		automatic = append(automatic, p)
	}
	for range 2 {
		if _, err := s.BackupAs(ctx, BackupManual); err != nil {
			t.Fatal(err)
		}
	}
	// Restoring the oldest automatic dump backs up the replaced state as a pre-restore dump and
	// deletes nothing, the dump restored from included.
	safety, err := s.Restore(ctx, automatic[0])
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	want := []string{
		"authentik-matrix-sync-pre-restore-20261126T100400Z.dump",
		"authentik-matrix-sync-manual-20261126T100300Z.dump",
		"authentik-matrix-sync-manual-20261126T100200Z.dump",
		"authentik-matrix-sync-20261126T100100Z.dump",
		"authentik-matrix-sync-20261126T100000Z.dump",
	}
	if got := backupNames(t, s.Backups); !reflect.DeepEqual(got, want) {
		t.Fatalf("after two automatic dumps (retention 2), two manual ones and a restore:\n got  %v\n want %v", got, want)
	}
	if filepath.Base(safety) != want[0] {
		t.Errorf("Restore returned %s, want %s", safety, want[0])
	}
	// The next automatic dump rotates the automatic ones only.
	if _, err := s.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	want = append([]string{"authentik-matrix-sync-20261126T100500Z.dump"}, want[:4]...)
	if got := backupNames(t, s.Backups); !reflect.DeepEqual(got, want) {
		t.Errorf("after a third automatic dump:\n got  %v\n want %v", got, want)
	}
	if p, at, err := s.NewestBackup(); err != nil || filepath.Base(p) != want[0] || !at.Equal(time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC)) {
		t.Errorf("NewestBackup = %s, %v, %v; want %s at 10:05 UTC", p, at, err, want[0])
	}
}

func TestPostgresBackupFailures(t *testing.T) {
	failing := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'pg_dump: error: server version: 99.0; pg_dump version: 15.0' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pgDump string
		want   []string
	}{
		{"missing", filepath.Join(t.TempDir(), "no-such-pg_dump"), []string{"not found", "database.pg_dump"}},
		{"failing", failing, []string{"pg_dump failed", "server version: 99.0"}},
	}
	url := pg.Get(t).Database(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			good := openPostgresTest(t, PostgresOptions{URL: url, DataDir: dataDir, BackupRetention: 1})
			kept, err := good.Backup(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			s := openPostgresTest(t, PostgresOptions{URL: url, DataDir: dataDir, BackupRetention: 1, PgDump: tc.pgDump})
			p, err := s.Backup(t.Context())
			if err == nil {
				t.Fatalf("Backup with a %s pg_dump succeeded: %s", tc.name, p)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if last := s.LastBackupError(); last == nil || last.Error() != err.Error() {
				t.Errorf("LastBackupError = %v, want %v", last, err)
			}
			if got, _ := s.Backups(); !reflect.DeepEqual(got, []string{kept}) {
				t.Errorf("after a failed backup Backups() = %v, want the earlier %s kept", got, kept)
			}
			if partial, _ := filepath.Glob(filepath.Join(dataDir, "backups", partialPattern)); len(partial) != 0 {
				t.Errorf("partial files left behind: %v", partial)
			}
		})
	}
}

func TestPostgresRestore(t *testing.T) {
	url := pg.Get(t).Database(t)
	s := openPostgresTest(t, PostgresOptions{URL: url})
	fill(t, s, 2)
	wantState, wantRemovals, wantMissing := everything(t, s)
	path, err := s.Backup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Changes after the backup are undone by the restore.
	fill(t, s, 5)
	if err := s.ForgetMember(t.Context(), "!r:hs", "@ua:hs"); err != nil {
		t.Fatal(err)
	}
	safety, err := s.Restore(t.Context(), path)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if safety == "" || safety == path {
		t.Errorf("Restore returned safety backup %q, want a new one", safety)
	}
	s.Close()
	r := openPostgresTest(t, PostgresOptions{URL: url})
	gotState, gotRemovals, gotMissing := everything(t, r)
	if !reflect.DeepEqual(gotState, wantState) || !reflect.DeepEqual(gotRemovals, wantRemovals) || gotMissing != wantMissing {
		t.Errorf("after restore:\n got  %+v %+v %d\n want %+v %+v %d", gotState, gotRemovals, gotMissing, wantState, wantRemovals, wantMissing)
	}
	// New removals get fresh ids after a restore: the identity sequence came back with the data.
	if err := r.RecordRemoval(t.Context(), plan.Removal{Room: "!r:hs", User: "@new:hs", Action: plan.RemoveBan, At: time.Now()}); err != nil {
		t.Errorf("RecordRemoval after restore: %v", err)
	}
}

func TestPostgresRestoreRefusesGarbage(t *testing.T) {
	url := pg.Get(t).Database(t)
	s := openPostgresTest(t, PostgresOptions{URL: url})
	fill(t, s, 1)
	bad := filepath.Join(t.TempDir(), "not-a-dump.dump")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.Restore(ctx, bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Restore of a non-dump = %v, want an error naming it", err)
	}
	if st, _, _ := everything(t, s); st.Members.Len() != 1 {
		t.Errorf("a refused restore changed the state: %d members", st.Members.Len())
	}
}
