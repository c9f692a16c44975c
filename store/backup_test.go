package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// stepClock starts at start and moves step forward on every reading.
func stepClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	next := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t := next
		next = next.Add(step)
		return t
	}
}

func TestParseBackupName(t *testing.T) {
	tests := []struct {
		name    string
		ok      bool
		stamp   string
		seq     int
		comment string
	}{
		{"authentik-matrix-sync-20261126T101500Z.db", true, "20261126T101500Z", 1, "plain"},
		{"authentik-matrix-sync-20261126T101500Z-2.db", true, "20261126T101500Z", 2, "second in the same second"},
		{"authentik-matrix-sync-20261126T101500Z-12.db", true, "20261126T101500Z", 12, "counter past 9"},
		{"authentik-matrix-sync-20261126T101500Z-0.db", false, "", 0, "counters start at 2"},
		{"authentik-matrix-sync-20261126T101500.db", false, "", 0, "no Z"},
		{"authentik-matrix-sync-20261126T101500Z.db-wal", false, "", 0, "SQLite side file"},
		{"authentik-matrix-sync.db", false, "", 0, "the live database"},
		{".authentik-matrix-sync-123.partial", false, "", 0, "a copy being written"},
		{"my-authentik-matrix-sync-20261126T101500Z.db", false, "", 0, "someone else's file"},
		{"authentik-matrix-sync-20261126T101500Z.dump", false, "", 0, "a Postgres store's backup"},
		{"authentik-matrix-sync-manual-20261126T101500Z.db", true, "20261126T101500Z", 1, "manual"},
		{"authentik-matrix-sync-pre-restore-20261126T101500Z-3.db", true, "20261126T101500Z", 3, "pre-restore, third in the second"},
		{"authentik-matrix-sync-nightly-20261126T101500Z.db", false, "", 0, "a kind the store does not write"},
	}
	for _, tc := range tests {
		t.Run(tc.comment, func(t *testing.T) {
			b, ok := parseBackupName(tc.name, extSQLite)
			if ok != tc.ok || (ok && (b.stamp != tc.stamp || b.seq != tc.seq)) {
				t.Errorf("parseBackupName(%q) = %+v, %v; want stamp %q seq %d, %v", tc.name, b, ok, tc.stamp, tc.seq, tc.ok)
			}
		})
	}
}

func TestBackupNamesSortNewestFirst(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"authentik-matrix-sync-20261126T101500Z.db",
		"authentik-matrix-sync-20261126T101500Z-10.db",
		"authentik-matrix-sync-20251231T235959Z.db",
		"authentik-matrix-sync-20261126T101500Z-2.db",
		"authentik-matrix-sync-20261126T101501Z.db",
		"notes.txt",
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "authentik-matrix-sync-20991231T000000Z.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	bs, err := (&backupSet{dir: dir, ext: extSQLite}).list()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bs {
		got = append(got, b.name)
	}
	want := []string{
		"authentik-matrix-sync-20261126T101501Z.db",
		"authentik-matrix-sync-20261126T101500Z-10.db",
		"authentik-matrix-sync-20261126T101500Z-2.db",
		"authentik-matrix-sync-20261126T101500Z.db",
		"authentik-matrix-sync-20251231T235959Z.db",
	}
	if !slices.Equal(got, want) {
		t.Errorf("listBackups:\n got  %v\n want %v", got, want)
	}
}

func TestBackupRetentionKeepsNewest(t *testing.T) {
	const keep = 3
	dir := t.TempDir()
	start := time.Date(2026, 11, 26, 10, 15, 0, 0, time.FixedZone("CET", 3600))
	s := openTest(t, Options{DataDir: dir, BackupRetention: keep, Now: stepClock(start, time.Minute)})
	foreign := []string{"notes.txt", "authentik-matrix-sync-manual.db", "authentik-matrix-sync-20000101T000000Z.db.bak"}
	for _, n := range foreign {
		if err := os.WriteFile(filepath.Join(dir, "backups", n), []byte("keep me"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var taken []string
	for range keep + 3 {
		p, err := s.Backup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, p)
	}
	if want := filepath.Join(dir, "backups", "authentik-matrix-sync-20261126T091500Z.db"); taken[0] != want {
		t.Errorf("first backup at %s, want %s (UTC name)", taken[0], want)
	}
	got, err := s.Backups()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(taken[len(taken)-keep:])
	slices.Reverse(want)
	if !slices.Equal(got, want) {
		t.Errorf("after %d backups with retention %d:\n got  %v\n want %v", len(taken), keep, got, want)
	}
	for _, n := range foreign {
		if _, err := os.Stat(filepath.Join(dir, "backups", n)); err != nil {
			t.Errorf("rotation touched %s, which is not a backup: %v", n, err)
		}
	}
	if partial, _ := filepath.Glob(filepath.Join(dir, "backups", partialPattern)); len(partial) != 0 {
		t.Errorf("partial copies left behind: %v", partial)
	}
}

func TestBackupsInOneSecondGetCounters(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC)
	s := openTest(t, Options{DataDir: dir, BackupRetention: 2, Now: func() time.Time { return at }})
	var got []string
	for range 3 {
		p, err := s.Backup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(p))
	}
	want := []string{
		"authentik-matrix-sync-20261126T101500Z.db",
		"authentik-matrix-sync-20261126T101500Z-2.db",
		"authentik-matrix-sync-20261126T101500Z-3.db",
	}
	if !slices.Equal(got, want) {
		t.Errorf("names: got %v, want %v", got, want)
	}
	left, err := s.Backups()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 2 || filepath.Base(left[0]) != want[2] || filepath.Base(left[1]) != want[1] {
		t.Errorf("kept %v, want the last two of %v, newest first", left, want)
	}
}

func TestBackupKeepsTheNewCopyAfterAClockStep(t *testing.T) {
	dir := t.TempDir()
	times := []time.Time{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var i atomic.Int32
	s := openTest(t, Options{DataDir: dir, BackupRetention: 2, Now: func() time.Time { return times[i.Add(1)-1] }})
	var taken []string
	for range times {
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
	if want := []string{taken[1], taken[2]}; !slices.Equal(got, want) {
		t.Errorf("after a clock step back: kept %v, want %v", got, want)
	}
}

func TestBackupWhileWritingIsConsistent(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	ctx := t.Context()
	user := func(i int) id.UserID { return id.UserID(fmt.Sprintf("@user%04d:hs", i)) }
	var written atomic.Int64
	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		defer close(writerErr)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := plan.ManagedMember{Room: "!r:hs", User: user(i), DesiredSince: time.UnixMilli(int64(i + 1))}
			if err := s.PutMember(ctx, m); err != nil {
				writerErr <- err
				return
			}
			written.Store(int64(i + 1))
		}
	}()
	for written.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	before := int(written.Load())
	path, err := s.Backup(ctx)
	close(stop)
	if werr := <-writerErr; werr != nil {
		t.Fatalf("writer during backup: %v", werr)
	}
	if err != nil {
		t.Fatalf("Backup while writing: %v", err)
	}
	after := int(written.Load())

	// Restore the way an operator would: copy the backup over the database of a fresh DATA_DIR.
	restored := t.TempDir()
	copyFile(t, path, filepath.Join(restored, dbFileName), 0o600)
	r := openTest(t, Options{DataDir: restored, ReadOnly: true})
	if n := queryInt(t, r.db, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"); n != 0 {
		t.Errorf("backup fails the integrity check")
	}
	st, err := r.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := st.Members.Len()
	if n < before || n > after {
		t.Fatalf("backup holds %d members, want between %d (written before) and %d (written by the end)", n, before, after)
	}
	// A consistent snapshot holds exactly the first n writes, with nothing torn.
	for i := range n {
		k := plan.RoomUser{Room: "!r:hs", User: user(i)}
		if m, ok := st.Members.Lookup(k); !ok || m.DesiredSince.UnixMilli() != int64(i+1) {
			t.Fatalf("backup lacks write %d of its first %d (got %+v, %v)", i, n, m, ok)
		}
	}
}

func TestBackupIntoUnwritableDirFailsAndKeepsOldBackups(t *testing.T) {
	if !asUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 2, Now: stepClock(time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC), time.Minute)})
	var old []string
	for range 2 {
		p, err := s.Backup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, p)
	}
	slices.Reverse(old)
	backups := filepath.Join(dir, "backups")
	if err := os.Chmod(backups, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(backups, 0o700) })
	before := snapshot(t, backups)

	p, err := s.Backup(t.Context())
	if err == nil {
		t.Fatalf("Backup into a read-only directory succeeded: %s", p)
	}
	if p != "" {
		t.Errorf("failed Backup returned path %q, want none", p)
	}
	t.Logf("operator sees: %v", err)
	for _, want := range []string{backups, fmt.Sprintf("writable by uid %d", os.Geteuid())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Errorf("error %v does not wrap the permission error", err)
	}
	if after := snapshot(t, backups); !slices.Equal(before, after) {
		t.Errorf("a failed backup changed the backups:\nbefore %v\nafter  %v", before, after)
	}
	if got, err := s.Backups(); err != nil || !slices.Equal(got, old) {
		t.Errorf("Backups() = %v, %v; want %v", got, err, old)
	}
}

func TestRestoreSQLite(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 5})
	keep := plan.ManagedMember{Room: "!r:hs", User: "@kept:hs"}
	if err := s.PutMember(ctx, keep); err != nil {
		t.Fatal(err)
	}
	backup, err := s.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: "@later:hs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSQLite(ctx, Options{DataDir: dir, BackupRetention: 5}, backup); err == nil || !strings.Contains(err.Error(), "another authentik-matrix-sync") {
		t.Fatalf("restore while the store is open = %v, want a refusal naming the running instance", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(garbage, []byte("not sqlite"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := RestoreSQLite(ctx, Options{DataDir: dir, BackupRetention: 5}, garbage); err == nil {
		t.Fatal("restore of a file that is no SQLite database succeeded")
	}
	safety, err := RestoreSQLite(ctx, Options{DataDir: dir, BackupRetention: 5}, backup)
	if err != nil {
		t.Fatalf("RestoreSQLite: %v", err)
	}
	r := openTest(t, Options{DataDir: dir, BackupRetention: 5})
	st, err := r.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Members.Len() != 1 || st.Members.Get(plan.RoomUser{Room: keep.Room, User: keep.User}) != keep {
		t.Errorf("after restore members = %v, want only %v", st.Members, keep)
	}
	// The state replaced by the restore was kept aside.
	old := rawDB(t, safety)
	if n := queryInt(t, old, "SELECT COUNT(*) FROM managed_members"); n != 2 {
		t.Errorf("safety backup %s holds %d members, want the 2 from before the restore", safety, n)
	}
}

// backupNames lists the backups in dir, newest first, as file names.
func backupNames(t *testing.T, list func() ([]string, error)) []string {
	t.Helper()
	paths, err := list()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	return names
}

func TestManualBackupsDoNotCountAgainstRetention(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 2, Now: stepClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), time.Minute)})
	ctx := t.Context()
	take := func(kind BackupKind) {
		t.Helper()
		if _, err := s.BackupAs(ctx, kind); err != nil {
			t.Fatalf("%q backup: %v", kind, err)
		}
	}
	take(BackupAutomatic)
	take(BackupAutomatic)
	for range 3 {
		take(BackupManual)
	}
	take(BackupPreRestore)
	want := []string{
		"authentik-matrix-sync-pre-restore-20261126T100500Z.db",
		"authentik-matrix-sync-manual-20261126T100400Z.db",
		"authentik-matrix-sync-manual-20261126T100300Z.db",
		"authentik-matrix-sync-manual-20261126T100200Z.db",
		"authentik-matrix-sync-20261126T100100Z.db",
		"authentik-matrix-sync-20261126T100000Z.db",
	}
	if got := backupNames(t, s.Backups); !slices.Equal(got, want) {
		t.Fatalf("after two automatic backups (retention 2) and four others:\n got  %v\n want %v", got, want)
	}
	// The next automatic backup rotates the automatic ones only.
	take(BackupAutomatic)
	want = append([]string{"authentik-matrix-sync-20261126T100600Z.db"}, want[:5]...)
	if got := backupNames(t, s.Backups); !slices.Equal(got, want) {
		t.Errorf("after a third automatic backup:\n got  %v\n want %v", got, want)
	}
}

func TestManualBackupFailureDoesNotHoldRemovals(t *testing.T) {
	if !asUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 2})
	backups := filepath.Join(dir, "backups")
	if err := os.Chmod(backups, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(backups, 0o700) })
	if _, err := s.BackupAs(t.Context(), BackupManual); err == nil {
		t.Fatal("a manual backup into a read-only directory succeeded")
	}
	if err := s.LastBackupError(); err != nil {
		t.Errorf("LastBackupError after a failed manual backup = %v, want nil: only automatic backups hold removals", err)
	}
}

func TestRestoreKeepsTheFileItRestoredFrom(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := Options{DataDir: dir, BackupRetention: 2, Now: stepClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), time.Minute)}
	s := openTest(t, opts)
	var automatic []string
	for i := range 2 {
		if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: id.UserID(fmt.Sprintf("@u%d:hs", i))}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		automatic = append(automatic, p)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The oldest automatic backup, the first a rotation would delete.
	safety, err := RestoreSQLite(ctx, opts, automatic[0])
	if err != nil {
		t.Fatalf("RestoreSQLite: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(safety), "authentik-matrix-sync-pre-restore-") {
		t.Errorf("the replaced state went to %s, want a pre-restore backup", safety)
	}
	for _, p := range automatic {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("restore deleted backup %s: %v", p, err)
		}
	}
	r := openTest(t, opts)
	if st, err := r.LoadState(ctx); err != nil || st.Members.Len() != 1 {
		t.Errorf("after restoring the first backup: %v members, %v; want 1", st.Members.Len(), err)
	}
	if got := backupNames(t, r.Backups); len(got) != 3 {
		t.Errorf("backups after the restore: %v, want the two automatic ones and the pre-restore one", got)
	}
}

func TestBackupSQLiteWhileTheBotRuns(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := Options{DataDir: dir, BackupRetention: 1, Now: stepClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), time.Minute)}
	if _, err := BackupSQLite(ctx, opts); err == nil || !strings.Contains(err.Error(), "no state database yet") {
		t.Errorf("backup before the first start = %v, want an error saying there is no database yet", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the failed backup created the database: %v", err)
	}
	// The running bot: it holds the DATA_DIR lock and keeps writing.
	s := openTest(t, opts)
	auto, err := s.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var written atomic.Int64
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: id.UserID(fmt.Sprintf("@u%04d:hs", i))}); err != nil {
				done <- err
				return
			}
			written.Store(int64(i + 1))
		}
	}()
	for written.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	before := int(written.Load())
	path, err := BackupSQLite(ctx, opts)
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("the bot's writes during the backup: %v", werr)
	}
	if err != nil {
		t.Fatalf("BackupSQLite while the bot runs: %v", err)
	}
	if !strings.HasPrefix(filepath.Base(path), "authentik-matrix-sync-manual-") {
		t.Errorf("backup written to %s, want a manual backup", path)
	}
	if err := checkSQLiteFile(ctx, path, "check", true); err != nil {
		t.Fatalf("the online backup is no state database: %v", err)
	}
	copyDB := rawDB(t, path)
	if n := queryInt(t, copyDB, "SELECT COUNT(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"); n != 0 {
		t.Error("the online backup fails the integrity check")
	}
	if n := queryInt(t, copyDB, "SELECT COUNT(*) FROM managed_members"); n < before || n > int(written.Load()) {
		t.Errorf("the online backup holds %d members, want between %d and %d", n, before, written.Load())
	}
	// The bot goes on as before: it writes, and its automatic backup was not rotated away.
	if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: "@after:hs"}); err != nil {
		t.Errorf("the bot's write after the backup: %v", err)
	}
	if got := backupNames(t, s.Backups); !slices.Contains(got, filepath.Base(auto)) || !slices.Contains(got, filepath.Base(path)) {
		t.Errorf("backups %v, want %s and %s", got, filepath.Base(auto), filepath.Base(path))
	}
}

func TestBackupSQLiteWithTheBotStopped(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	opts := Options{DataDir: dir, BackupRetention: 1}
	s := openTest(t, opts)
	if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: "@kept:hs"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path, err := BackupSQLite(ctx, opts)
	if err != nil {
		t.Fatalf("BackupSQLite: %v", err)
	}
	if n := queryInt(t, rawDB(t, path), "SELECT COUNT(*) FROM managed_members"); n != 1 {
		t.Errorf("backup holds %d members, want 1", n)
	}
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(filepath.Join(dir, dbFileName+side)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the backup left %s%s behind: %v", dbFileName, side, err)
		}
	}
	// The bot starts again as usual: the backup took no lock it kept.
	openTest(t, opts)
}

func TestNewestBackup(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, Options{DataDir: dir, BackupRetention: 3, Now: stepClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), time.Minute)})
	if p, at, err := s.NewestBackup(); err != nil || p != "" || !at.IsZero() {
		t.Errorf("NewestBackup without backups = %q, %v, %v", p, at, err)
	}
	if _, err := s.Backup(t.Context()); err != nil {
		t.Fatal(err)
	}
	manual, err := s.BackupAs(t.Context(), BackupManual)
	if err != nil {
		t.Fatal(err)
	}
	p, at, err := s.NewestBackup()
	if err != nil || p != manual || !at.Equal(time.Date(2026, 11, 26, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("NewestBackup = %q, %v, %v; want %s at 10:01 UTC", p, at, err, manual)
	}
}

func TestOnlyStalePartialCopiesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	fresh := filepath.Join(dir, ".authentik-matrix-sync-fresh.partial")
	stale := filepath.Join(dir, ".authentik-matrix-sync-stale.partial")
	for p, age := range map[string]time.Duration{fresh: time.Minute, stale: 2 * stalePartialAge} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	removeStalePartials(dir, now)
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a copy being written (by another process) was removed: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a crash's leftover was kept: %v", err)
	}
}

func TestBackupNeverReplacesAnotherProcesssCopy(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	set := &backupSet{dir: dir, ext: extSQLite, retention: 1, now: func() time.Time { return at }, source: "test"}
	// The other process finishes its copy under the name this one picked, while this one writes.
	theirs := filepath.Join(dir, "authentik-matrix-sync-manual-20261126T100000Z.db")
	p, err := set.take(t.Context(), BackupManual, func(_ context.Context, tmp, final string) error {
		if final != theirs {
			t.Errorf("picked %s, want %s", final, theirs)
		}
		if err := os.WriteFile(theirs, []byte("theirs"), 0o600); err != nil {
			return err
		}
		return os.WriteFile(tmp, []byte("ours"), 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "authentik-matrix-sync-manual-20261126T100000Z-2.db"); p != want {
		t.Errorf("our copy went to %s, want %s", p, want)
	}
	if b, _ := os.ReadFile(theirs); string(b) != "theirs" {
		t.Errorf("the other process's copy now holds %q", b)
	}
}
