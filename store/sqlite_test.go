package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store/storetest"
)

func TestSQLiteSuite(t *testing.T) {
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) storetest.Store {
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = t.TempDir()
			dirs[t] = dir
		}
		mu.Unlock()
		return openTest(t, Options{DataDir: dir, BackupRetention: 3})
	})
}

// openTest opens a store that is closed when t ends.
func openTest(t *testing.T, opts Options) *SQLite {
	t.Helper()
	s, err := OpenSQLite(t.Context(), opts)
	if err != nil {
		t.Fatalf("OpenSQLite(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// rawDB opens the database file directly, bypassing the store, to inspect or tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t *testing.T, db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestOpenCreatesDirsAndSchema(t *testing.T) {
	// The odd characters would cut the path short if it reached SQLite unescaped.
	dir := filepath.Join(t.TempDir(), "nested dir #1?x=%41", "data")
	s := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	if _, err := os.Stat(filepath.Join(dir, dbFileName)); err != nil {
		t.Fatalf("database not at its path: %v", err)
	}
	for _, d := range []string{dir, filepath.Join(dir, "backups")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatalf("directory not created: %v", err)
		}
		if perm := fi.Mode().Perm(); perm != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, perm)
		}
	}
	ms, err := loadMigrations(dialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	if v := queryInt(t, s.db, selectSchemaVersion); v != len(ms) {
		t.Errorf("schema version %d, want %d", v, len(ms))
	}
	for _, table := range []string{"schema_version", "managed_members", "pending_removals", "removals", "missing_accounts"} {
		if n := queryInt(t, s.db, fmt.Sprintf("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", table)); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	// Pragmas are per connection: hold one so every check sees the same.
	conn, err := s.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pragmas := []struct {
		name string
		want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"},
		{"busy_timeout", "5000"},
	}
	for _, p := range pragmas {
		var got string
		if err := conn.QueryRowContext(t.Context(), "PRAGMA "+p.name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != p.want {
			t.Errorf("PRAGMA %s = %s, want %s", p.name, got, p.want)
		}
	}
}

func TestReopenKeepsSchemaAndData(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	if err := s.PutMember(t.Context(), plan.ManagedMember{Room: "!r:hs", User: "@u:hs"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, Options{DataDir: dir, BackupRetention: 1})
	if n := queryInt(t, s.db, "SELECT COUNT(*) FROM schema_version"); n != 1 {
		t.Errorf("schema_version has %d rows after a second open, want 1", n)
	}
	if n := queryInt(t, s.db, "SELECT COUNT(*) FROM managed_members"); n != 1 {
		t.Errorf("managed_members has %d rows after a second open, want 1", n)
	}
}

// Zero times are stored as NULL, so SQL over the file (and another dialect) reads "never", not
// a date in year 1.
func TestZeroTimesAreStoredAsNull(t *testing.T) {
	s := openTest(t, Options{DataDir: t.TempDir(), BackupRetention: 1})
	ms := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		m         plan.ManagedMember
		wantNulls int
	}{
		{plan.ManagedMember{Room: "!r:hs", User: "@none:hs"}, 2},
		{plan.ManagedMember{Room: "!r:hs", User: "@desired:hs", DesiredSince: ms}, 1},
		{plan.ManagedMember{Room: "!r:hs", User: "@both:hs", DesiredSince: ms, AddedAt: ms}, 0},
	}
	for _, tc := range tests {
		if err := s.PutMember(t.Context(), tc.m); err != nil {
			t.Fatal(err)
		}
		var nulls int
		var stored sql.NullInt64
		err := s.db.QueryRowContext(t.Context(), `SELECT (desired_since_ms IS NULL) + (added_at_ms IS NULL), desired_since_ms
FROM managed_members WHERE user_id = $1`, tc.m.User).Scan(&nulls, &stored)
		if err != nil {
			t.Fatal(err)
		}
		if nulls != tc.wantNulls {
			t.Errorf("%s: %d NULL times stored, want %d", tc.m.User, nulls, tc.wantNulls)
		}
		if stored.Valid && stored.Int64 != 1_700_000_000_123 {
			t.Errorf("%s: desired_since_ms = %d, want unix milliseconds 1700000000123", tc.m.User, stored.Int64)
		}
	}
}

func TestMigrateRollsBackAFailedUpgrade(t *testing.T) {
	db := rawDB(t, filepath.Join(t.TempDir(), "x.db"))
	ms := []migration{
		{version: 1, name: "001_good.sql", sql: "CREATE TABLE good (x TEXT)"},
		{version: 2, name: "002_bad.sql", sql: "CREATE TABLE broken (x TEXT); SELECT * FROM no_such_table"},
	}
	err := migrate(t.Context(), db, "x.db", ms)
	if err == nil || !strings.Contains(err.Error(), "002_bad.sql") {
		t.Fatalf("migrate = %v, want an error naming 002_bad.sql", err)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('good', 'broken', 'schema_version')"); n != 0 {
		t.Errorf("%d tables of the failed upgrade were left behind, want none", n)
	}
	if err := migrate(t.Context(), db, "x.db", ms[:1]); err != nil {
		t.Fatalf("migrate with the good migration only: %v", err)
	}
	if v := queryInt(t, db, selectSchemaVersion); v != 1 {
		t.Errorf("schema version %d, want 1", v)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, dbFileName)
	if _, err := rawDB(t, path).ExecContext(t.Context(), "UPDATE schema_version SET version = 999; UPDATE schema_compat SET compat = 998"); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprint("read-only ", ro), func(t *testing.T) {
			s, err := OpenSQLite(t.Context(), Options{DataDir: dir, BackupRetention: 1, ReadOnly: ro})
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite succeeded on a schema from the future")
			}
			for _, want := range []string{path, "999", upTo(t)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	if v := queryInt(t, rawDB(t, path), selectSchemaVersion); v != 999 {
		t.Errorf("schema version changed to %d by a refused open", v)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no data dir", Options{BackupRetention: 1}, "DATA_DIR"},
		{"no retention", Options{DataDir: t.TempDir()}, "DB_BACKUP_RETENTION_COUNT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenSQLite(t.Context(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestSecondOpenIsRefusedUntilClose(t *testing.T) {
	dir := t.TempDir()
	first := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	second, err := OpenSQLite(t.Context(), Options{DataDir: dir, BackupRetention: 1})
	if err == nil {
		second.Close()
		t.Fatal("a second store opened on a DATA_DIR in use")
	}
	for _, want := range []string{"another authentik-matrix-sync is using DATA_DIR", filepath.Join(dir, lockFileName)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	reader := openTest(t, Options{DataDir: dir, ReadOnly: true})
	if _, err := reader.LoadState(t.Context()); err != nil {
		t.Errorf("read-only open beside a running store: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, Options{DataDir: dir, BackupRetention: 1})
}

// snapshot describes every file under dir: name, size, mode, mtime and content hash.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d %d", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

// writes tries every write a read-only store must refuse.
func writes(s *SQLite) map[string]func(context.Context) error {
	room, user := id.RoomID("!r:hs"), id.UserID("@u:hs")
	now := time.Now()
	return map[string]func(context.Context) error{
		"PutMember": func(ctx context.Context) error { return s.PutMember(ctx, plan.ManagedMember{Room: room, User: user}) },
		"PutMembers": func(ctx context.Context) error {
			return s.PutMembers(ctx, []plan.ManagedMember{{Room: room, User: user}})
		},
		"ForgetMember": func(ctx context.Context) error { return s.ForgetMember(ctx, room, user) },
		"PutPending": func(ctx context.Context) error {
			return s.PutPending(ctx, plan.PendingRemoval{Room: room, User: user, DueAt: now, CreatedAt: now})
		},
		"DeletePending": func(ctx context.Context) error { return s.DeletePending(ctx, room, user) },
		"RecordRemoval": func(ctx context.Context) error {
			return s.RecordRemoval(ctx, plan.Removal{Room: room, User: user, Action: plan.RemoveKick, At: now})
		},
		"MarkMissingAccount":  func(ctx context.Context) error { _, err := s.MarkMissingAccount(ctx, user); return err },
		"ClearMissingAccount": func(ctx context.Context) error { return s.ClearMissingAccount(ctx, user) },
		"Backup":              func(ctx context.Context) error { _, err := s.Backup(ctx); return err },
	}
}

func checkWritesRefused(t *testing.T, s *SQLite) {
	t.Helper()
	for name, write := range writes(s) {
		if err := write(t.Context()); !errors.Is(err, ErrReadOnly) {
			t.Errorf("%s on a read-only store: err = %v, want ErrReadOnly", name, err)
		}
	}
}

func TestReadOnlyOfMissingDatabaseIsEmptyAndCreatesNothing(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "data")
	s := openTest(t, Options{DataDir: dir, ReadOnly: true})
	st, err := s.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Members.Len() != 0 || len(st.Pending) != 0 || st.Members == nil || st.Pending == nil {
		t.Errorf("state of a missing database: %+v, want empty", st)
	}
	if rs, err := s.Removals(t.Context(), 5); err != nil || len(rs) != 0 {
		t.Errorf("Removals = %v, %v; want none", rs, err)
	}
	if bs, err := s.Backups(); err != nil || len(bs) != 0 {
		t.Errorf("Backups = %v, %v; want none", bs, err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	checkWritesRefused(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, parent); len(got) != 1 {
		t.Errorf("a read-only open created files: %v", got)
	}
}

func TestReadOnlyNeverWrites(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{DataDir: dir, BackupRetention: 2})
	ctx := t.Context()
	m := plan.ManagedMember{Room: "!r:hs", User: "@u:hs", DesiredSince: time.UnixMilli(1_700_000_000_000).UTC()}
	if err := w.PutMember(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := w.RecordRemoval(ctx, plan.Removal{Room: "!r:hs", User: "@gone:hs", Action: plan.RemoveKick, Reason: "left", At: time.UnixMilli(1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Backup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dir)

	r := openTest(t, Options{DataDir: dir, ReadOnly: true})
	st, err := r.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Members.Get(plan.RoomUser{Room: m.Room, User: m.User}); got != m {
		t.Errorf("read-only LoadState: member %+v, want %+v", got, m)
	}
	if rs, err := r.Removals(ctx, 5); err != nil || len(rs) != 1 {
		t.Errorf("Removals = %v, %v; want one", rs, err)
	}
	if bs, err := r.Backups(); err != nil || len(bs) != 1 {
		t.Errorf("Backups = %v, %v; want one", bs, err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	checkWritesRefused(t, r)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, dir); !slices.Equal(before, after) {
		t.Errorf("a read-only open changed DATA_DIR:\nbefore %v\nafter  %v", before, after)
	}
}

func TestReadOnlySeesARunningWriter(t *testing.T) {
	dir := t.TempDir()
	w := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	ctx := t.Context()
	put := func(u id.UserID) {
		if err := w.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: u}); err != nil {
			t.Fatal(err)
		}
	}
	put("@one:hs")
	r := openTest(t, Options{DataDir: dir, ReadOnly: true})
	put("@two:hs")
	st, err := r.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Members.Len() != 2 {
		t.Errorf("read-only store sees %d members of a running writer, want 2: %v", st.Members.Len(), st.Members)
	}
}

func TestReadOnlyRefusesAnOlderSchema(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, dbFileName)
	if _, err := rawDB(t, path).ExecContext(t.Context(), "CREATE TABLE unrelated (x TEXT)"); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(t.Context(), Options{DataDir: dir, ReadOnly: true})
	if err == nil {
		s.Close()
		t.Fatal("read-only open of an un-upgraded database succeeded")
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "start the bot once") {
		t.Errorf("error %q should name %s and say how to upgrade", err, path)
	}
}

// failOn makes every write to table fail inside SQLite, half-way through a transaction.
func failOn(t *testing.T, s *SQLite, table, op string) {
	t.Helper()
	q := fmt.Sprintf(`CREATE TRIGGER fail_%[1]s BEFORE %[2]s ON %[1]s BEGIN SELECT RAISE(ABORT, 'injected failure'); END`, table, op)
	if _, err := s.db.ExecContext(t.Context(), q); err != nil {
		t.Fatal(err)
	}
}

func TestMultiRowWritesAreAtomic(t *testing.T) {
	room, user := id.RoomID("!r:hs"), id.UserID("@u:hs")
	removal := plan.Removal{Room: room, User: user, Action: plan.RemoveBan, Reason: "left", At: time.UnixMilli(5)}
	tests := []struct {
		name      string
		table, op string
		write     func(context.Context, *SQLite) error
	}{
		{"ForgetMember, member delete fails", "managed_members", "DELETE", func(ctx context.Context, s *SQLite) error { return s.ForgetMember(ctx, room, user) }},
		{"ForgetMember, pending delete fails", "pending_removals", "DELETE", func(ctx context.Context, s *SQLite) error { return s.ForgetMember(ctx, room, user) }},
		{"RecordRemoval, history insert fails", "removals", "INSERT", func(ctx context.Context, s *SQLite) error { return s.RecordRemoval(ctx, removal) }},
		{"RecordRemoval, member delete fails", "managed_members", "DELETE", func(ctx context.Context, s *SQLite) error { return s.RecordRemoval(ctx, removal) }},
		{"RecordRemoval, pending delete fails", "pending_removals", "DELETE", func(ctx context.Context, s *SQLite) error { return s.RecordRemoval(ctx, removal) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, Options{DataDir: t.TempDir(), BackupRetention: 1})
			ctx := t.Context()
			if err := s.PutMember(ctx, plan.ManagedMember{Room: room, User: user}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutPending(ctx, plan.PendingRemoval{Room: room, User: user, DueAt: time.UnixMilli(9), CreatedAt: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
			failOn(t, s, tc.table, tc.op)
			if err := tc.write(ctx, s); err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("write = %v, want the injected failure", err)
			}
			st, err := s.LoadState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			k := plan.RoomUser{Room: room, User: user}
			if _, ok := st.Members.Lookup(k); !ok {
				t.Error("member gone after a failed write")
			}
			if _, ok := st.Pending[k]; !ok {
				t.Error("pending removal gone after a failed write")
			}
			if n := queryInt(t, s.db, "SELECT COUNT(*) FROM removals"); n != 0 {
				t.Errorf("%d history rows after a failed write, want 0", n)
			}
		})
	}
}

func TestUnwritableDataDirIsRefused(t *testing.T) {
	if !asUnprivileged(t) {
		return
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	s, err := OpenSQLite(t.Context(), Options{DataDir: dir, BackupRetention: 1})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite succeeded on an unwritable DATA_DIR")
	}
	t.Logf("operator sees: %v", err)
	for _, want := range []string{dir, fmt.Sprintf("not writable by uid %d", os.Geteuid()), "owner"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
