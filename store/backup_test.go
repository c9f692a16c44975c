package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	syncer "authentik-matrix-sync/sync"
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
			m := syncer.ManagedMember{Room: "!r:hs", User: user(i), DesiredSince: time.UnixMilli(int64(i + 1))}
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
		k := syncer.RoomUser{Room: "!r:hs", User: user(i)}
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
	keep := syncer.ManagedMember{Room: "!r:hs", User: "@kept:hs"}
	if err := s.PutMember(ctx, keep); err != nil {
		t.Fatal(err)
	}
	backup, err := s.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutMember(ctx, syncer.ManagedMember{Room: "!r:hs", User: "@later:hs"}); err != nil {
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
	if st.Members.Len() != 1 || st.Members.Get(syncer.RoomUser{Room: keep.Room, User: keep.User}) != keep {
		t.Errorf("after restore members = %v, want only %v", st.Members, keep)
	}
	// The state replaced by the restore was kept aside.
	old := rawDB(t, safety)
	if n := queryInt(t, old, "SELECT COUNT(*) FROM managed_members"); n != 2 {
		t.Errorf("safety backup %s holds %d members, want the 2 from before the restore", safety, n)
	}
}
