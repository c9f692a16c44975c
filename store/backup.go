package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	backupPrefix      = "authentik-matrix-sync-"
	backupStampLayout = "20060102T150405Z"
	// partialPattern names a backup being written; it never matches backupName, so rotation
	// and restores cannot pick up a half-written copy.
	partialPattern = ".authentik-matrix-sync-*.partial"
	// stalePartialAge is how long a partial copy must have been left untouched before a backup
	// deletes it as a crash's leftover: a copy still being written, by this process or by the
	// backup subcommand beside it, is written to all the time.
	stalePartialAge = time.Hour
	// Each store writes its own kind of file: an SQLite database or a pg_dump archive.
	extSQLite = ".db"
	extDump   = ".dump"
)

// BackupKind tells the backups taken before removals, which rotate, from those an operator asked
// for, which are kept until the operator deletes them. The kind is part of the file name.
type BackupKind string

const (
	// BackupAutomatic is taken before the removals of a cycle; the newest BackupRetention are kept.
	BackupAutomatic BackupKind = ""
	// BackupManual is taken by the backup subcommand or !sync backup.
	BackupManual BackupKind = "manual"
	// BackupPreRestore holds the state a restore replaced.
	BackupPreRestore BackupKind = "pre-restore"
)

// backupName matches the files Backup writes: the kind (none for automatic ones), a UTC
// timestamp, and a counter when several backups of a kind fall in one second. Nothing else in
// the directory is counted or deleted.
var backupName = regexp.MustCompile(`^authentik-matrix-sync-(?:(manual|pre-restore)-)?(\d{8}T\d{6}Z)(?:-([1-9]\d*))?(\.db|\.dump)$`)

type backupFile struct {
	name  string
	kind  BackupKind
	stamp string
	seq   int
}

// parseBackupName recognises a backup of the file type ext.
func parseBackupName(name, ext string) (backupFile, bool) {
	m := backupName.FindStringSubmatch(name)
	if m == nil || m[4] != ext {
		return backupFile{}, false
	}
	b := backupFile{name: name, kind: BackupKind(m[1]), stamp: m[2], seq: 1}
	if m[3] != "" {
		n, err := strconv.Atoi(m[3])
		if err != nil {
			return backupFile{}, false
		}
		b.seq = n
	}
	return b, true
}

// takenAt is when the backup was taken, to the second, from its name.
func (f backupFile) takenAt() time.Time {
	t, err := time.Parse(backupStampLayout, f.stamp)
	if err != nil {
		return time.Time{}
	}
	return t
}

// newestFirst orders by timestamp, then by counter; plain name order would put "-2.db" before
// ".db". Kinds taken in the same second sort by kind, so the order is total.
func newestFirst(a, b backupFile) int {
	return cmp.Or(strings.Compare(b.stamp, a.stamp), cmp.Compare(b.seq, a.seq), strings.Compare(string(a.kind), string(b.kind)))
}

// backupSet is one store's backups: a directory, the file type, how many automatic ones to keep.
type backupSet struct {
	dir       string
	ext       string
	retention int
	now       func() time.Time
	// source names what is backed up, for errors.
	source string

	// mu keeps two backups of this process from picking the same file name; claimName keeps
	// them apart from another process's.
	mu sync.Mutex

	statusMu sync.Mutex
	lastErr  error
}

// list returns the backups of every kind, newest first; a missing dir holds none.
func (b *backupSet) list() ([]backupFile, error) {
	entries, err := os.ReadDir(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", b.dir, err)
	}
	var out []backupFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if f, ok := parseBackupName(e.Name(), b.ext); ok {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// paths lists the existing backups of every kind, newest first, as paths.
func (b *backupSet) paths() ([]string, error) {
	bs, err := b.list()
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(bs))
	for i, f := range bs {
		paths[i] = filepath.Join(b.dir, f.name)
	}
	return paths, nil
}

// newest returns the path and time (from its name) of the newest backup of any kind; an empty
// path when there is none.
func (b *backupSet) newest() (string, time.Time, error) {
	bs, err := b.list()
	if err != nil || len(bs) == 0 {
		return "", time.Time{}, err
	}
	return filepath.Join(b.dir, bs[0].name), bs[0].takenAt(), nil
}

// take writes a backup of the kind with write, which fills the temporary file it is given, then
// syncs it, moves it into place and, for an automatic backup, rotates. If the copy fails, no
// backup is deleted. If only the clean-up fails, the new backup's path is returned together with
// the error. The outcome of an automatic backup is kept for LastBackupError.
func (b *backupSet) take(ctx context.Context, kind BackupKind, write func(ctx context.Context, tmp, final string) error) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path, err := b.takeLocked(ctx, kind, write)
	if kind == BackupAutomatic {
		b.statusMu.Lock()
		b.lastErr = err
		b.statusMu.Unlock()
	}
	return path, err
}

func (b *backupSet) takeLocked(ctx context.Context, kind BackupKind, write func(ctx context.Context, tmp, final string) error) (string, error) {
	dir := b.dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("back up %s: create %s: %w%s", b.source, dir, err, writeHint(dir, err))
	}
	// The file times are the system's, whatever clock names the backups.
	removeStalePartials(dir, time.Now())
	base := backupPrefix
	if kind != BackupAutomatic {
		base += string(kind) + "-"
	}
	base += b.now().UTC().Format(backupStampLayout)
	final, err := b.freeName(base)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, partialPattern)
	if err != nil {
		return "", fmt.Errorf("back up %s into %s: %w%s", b.source, dir, err, writeHint(dir, err))
	}
	tmpPath := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	if err := write(ctx, tmpPath, final); err != nil {
		return "", err
	}
	if err := syncFile(tmpPath); err != nil {
		return "", fmt.Errorf("back up %s: flush %s to disk: %w", b.source, tmpPath, err)
	}
	if final, err = b.claimName(tmpPath, base); err != nil {
		return "", err
	}
	done = true
	if err := syncFile(dir); err != nil {
		return final, fmt.Errorf("backup %s written, but syncing %s failed: %w", final, dir, err)
	}
	if kind != BackupAutomatic {
		return final, nil
	}
	if err := b.rotate(final); err != nil {
		return final, err
	}
	return final, nil
}

// nameFor is the name of the seq-th backup of one kind taken in one second.
func (b *backupSet) nameFor(base string, seq int) string {
	if seq > 1 {
		return filepath.Join(b.dir, fmt.Sprintf("%s-%d%s", base, seq, b.ext))
	}
	return filepath.Join(b.dir, base+b.ext)
}

const maxBackupsPerSecond = 999

// freeName picks the name a backup taken now is expected to get, adding a counter if a backup of
// the same kind and second exists; claimName settles it once the copy is complete.
func (b *backupSet) freeName(base string) (string, error) {
	for seq := 1; seq <= maxBackupsPerSecond; seq++ {
		p := b.nameFor(base, seq)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", fmt.Errorf("back up %s: check whether %s exists: %w", b.source, p, err)
		}
	}
	return "", b.tooMany(base)
}

// claimName gives the finished copy at tmp the first free name. A hard link takes a name only if
// it is free, so a backup that another process (the backup subcommand beside the running bot)
// finishes in the same second is never replaced; a file system without hard links gets a rename
// after a check.
func (b *backupSet) claimName(tmp, base string) (string, error) {
	for seq := 1; seq <= maxBackupsPerSecond; seq++ {
		p := b.nameFor(base, seq)
		err := os.Link(tmp, p)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			os.Remove(tmp)
			return p, nil
		}
		if _, serr := os.Lstat(p); serr == nil {
			continue
		} else if !errors.Is(serr, fs.ErrNotExist) {
			return "", fmt.Errorf("back up %s: move %s to %s: %w%s", b.source, tmp, p, err, writeHint(b.dir, err))
		}
		if err := os.Rename(tmp, p); err != nil {
			return "", fmt.Errorf("back up %s: rename %s to %s: %w%s", b.source, tmp, p, err, writeHint(b.dir, err))
		}
		return p, nil
	}
	return "", b.tooMany(base)
}

func (b *backupSet) tooMany(base string) error {
	return fmt.Errorf("back up %s: more than %d backups named %s* exist in %s: check the clock and remove old backups", b.source, maxBackupsPerSecond, base, b.dir)
}

// rotate deletes all but the newest automatic backups; manual and pre-restore ones are neither
// counted nor deleted. The backup just written is kept even if a clock step made it sort older
// than the rest.
func (b *backupSet) rotate(keep string) error {
	bs, err := b.list()
	if err != nil {
		return fmt.Errorf("backup %s written, but rotation failed: %w", keep, err)
	}
	others := slices.DeleteFunc(bs, func(f backupFile) bool {
		return f.kind != BackupAutomatic || filepath.Join(b.dir, f.name) == keep
	})
	var errs []error
	for i := b.retention - 1; i < len(others); i++ {
		p := filepath.Join(b.dir, others[i].name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old backup %s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("backup %s written, but rotation failed: %w", keep, errors.Join(errs...))
	}
	return nil
}

// lastError is the error of the most recent backup attempt, nil if it succeeded or none was
// tried yet.
func (b *backupSet) lastError() error {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	return b.lastErr
}

// removeStalePartials deletes copies a crash left half-written: those untouched for
// stalePartialAge. A younger one may be a backup another process is writing right now.
func removeStalePartials(dir string, now time.Time) {
	stale, _ := filepath.Glob(filepath.Join(dir, partialPattern))
	for _, p := range stale {
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > stalePartialAge {
			os.Remove(p)
		}
	}
}

// syncFile flushes a file or directory to disk; for a directory, that makes a rename durable.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Backups lists the existing backups of every kind, newest first, as paths.
func (s *SQLite) Backups() ([]string, error) { return s.backupSet.paths() }

// NewestBackup returns the path and time of the newest backup of any kind; an empty path when
// there is none.
func (s *SQLite) NewestBackup() (string, time.Time, error) { return s.backupSet.newest() }

// LastBackupError is the error of the most recent automatic backup, nil if it succeeded or none
// was tried yet: while it is set, removals are held.
func (s *SQLite) LastBackupError() error { return s.backupSet.lastError() }

// Backup takes an automatic backup: the one before removals, rotated by BackupRetention.
func (s *SQLite) Backup(ctx context.Context) (string, error) {
	return s.BackupAs(ctx, BackupAutomatic)
}

// BackupAs copies the database, consistently while writes go on, to a new file of the kind in
// DATA_DIR/backups and syncs it to disk. An automatic backup then deletes all but the newest
// BackupRetention automatic backups; the other kinds delete nothing. If the copy fails, no backup
// is deleted. If only the clean-up fails, the new backup's path is returned together with the
// error.
func (s *SQLite) BackupAs(ctx context.Context, kind BackupKind) (string, error) {
	if s.readOnly {
		return "", fmt.Errorf("back up %s: %w", s.path, ErrReadOnly)
	}
	return s.backupSet.take(ctx, kind, vacuumInto(s.db, s.path, s.backupSet.dir))
}

// vacuumInto copies the database behind db into the backup file. VACUUM INTO reads one snapshot
// inside a read transaction, so writers, in this process or another, carry on and the copy is
// consistent; it accepts the empty file CreateTemp made.
func vacuumInto(db *sql.DB, path, dir string) func(ctx context.Context, tmp, final string) error {
	return func(ctx context.Context, tmp, final string) error {
		if _, err := db.ExecContext(ctx, `VACUUM INTO $1`, tmp); err != nil {
			return fmt.Errorf("back up %s to %s: %w: check free space and permissions in %s", path, final, err, dir)
		}
		return nil
	}
}

// BackupSQLite takes a manual backup of the database in opts.DataDir, whether or not the bot is
// running: SQLite's locks, which work across processes, give VACUUM INTO one consistent snapshot
// while the bot writes, exactly as for the bot's own backups. It takes no DATA_DIR lock, runs no
// migration and writes nothing to the database, so the copy holds the schema as found (a restore
// upgrades it). Manual backups are not rotated, so nothing is deleted.
func BackupSQLite(ctx context.Context, opts Options) (string, error) {
	if opts.DataDir == "" {
		return "", errors.New("back up the state: the data directory is empty: set DATA_DIR")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return "", fmt.Errorf("back up the state: resolve data directory %q: %w", opts.DataDir, err)
	}
	path := filepath.Join(dir, dbFileName)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("back up %s: there is no state database yet (the bot creates it at its first start): check DATA_DIR", path)
	} else if err != nil {
		return "", fmt.Errorf("back up %s: %w", path, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// A read-write connection, although it only reads: when the bot is not running, it is the
	// one that recovers a WAL a crash left behind and removes the -wal and -shm files at close,
	// where a read-only one would leave them. It sets no journal mode, which would need a write.
	params := url.Values{"mode": {"rw"}}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	db, err := sql.Open("sqlite", dsn(path, params))
	if err != nil {
		return "", fmt.Errorf("back up %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	version, _, err := readOnlyVersion(ctx, db)
	if err != nil {
		return "", fmt.Errorf("back up %s: %w: check that the file is an SQLite database", path, err)
	}
	if version == 0 {
		return "", fmt.Errorf("back up %s: the file holds no authentik-matrix-sync state (no schema version)", path)
	}
	set := &backupSet{dir: filepath.Join(dir, backupDir), ext: extSQLite, retention: opts.BackupRetention, now: now, source: path}
	return set.take(ctx, BackupManual, vacuumInto(db, path, set.dir))
}
