package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	// Each store writes its own kind of file: an SQLite database or a pg_dump archive.
	extSQLite = ".db"
	extDump   = ".dump"
)

// backupName matches the files Backup writes: a UTC timestamp, and a counter when several
// backups fall in one second. Nothing else in the directory is counted or deleted.
var backupName = regexp.MustCompile(`^authentik-matrix-sync-(\d{8}T\d{6}Z)(?:-([1-9]\d*))?(\.db|\.dump)$`)

type backupFile struct {
	name  string
	stamp string
	seq   int
}

// parseBackupName recognises a backup of the kind ext.
func parseBackupName(name, ext string) (backupFile, bool) {
	m := backupName.FindStringSubmatch(name)
	if m == nil || m[3] != ext {
		return backupFile{}, false
	}
	b := backupFile{name: name, stamp: m[1], seq: 1}
	if m[2] != "" {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return backupFile{}, false
		}
		b.seq = n
	}
	return b, true
}

// newestFirst orders by timestamp, then by counter; plain name order would put "-2.db" before ".db".
func newestFirst(a, b backupFile) int {
	return cmp.Or(strings.Compare(b.stamp, a.stamp), cmp.Compare(b.seq, a.seq))
}

// backupSet is one store's backups: a directory, the file kind, how many to keep.
type backupSet struct {
	dir       string
	ext       string
	retention int
	now       func() time.Time
	// source names what is backed up, for errors.
	source string

	// mu keeps two backups from picking the same file name.
	mu sync.Mutex

	statusMu sync.Mutex
	lastErr  error
}

// list returns the backups, newest first; a missing dir holds none.
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

// paths lists the existing backups, newest first, as paths.
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

// take writes a backup with write, which fills the temporary file it is given, then syncs it,
// renames it into place and rotates. If the copy fails, no backup is deleted. If only the
// clean-up fails, the new backup's path is returned together with the error. The outcome is kept
// for LastBackupError.
func (b *backupSet) take(ctx context.Context, write func(ctx context.Context, tmp, final string) error) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	path, err := b.takeLocked(ctx, write)
	b.statusMu.Lock()
	b.lastErr = err
	b.statusMu.Unlock()
	return path, err
}

func (b *backupSet) takeLocked(ctx context.Context, write func(ctx context.Context, tmp, final string) error) (string, error) {
	dir := b.dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("back up %s: create %s: %w%s", b.source, dir, err, writeHint(dir, err))
	}
	removeStalePartials(dir)
	final, err := b.freeName()
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
	if err := os.Rename(tmpPath, final); err != nil {
		return "", fmt.Errorf("back up %s: rename %s to %s: %w%s", b.source, tmpPath, final, err, writeHint(dir, err))
	}
	done = true
	if err := syncFile(dir); err != nil {
		return final, fmt.Errorf("backup %s written, but syncing %s failed: %w", final, dir, err)
	}
	if err := b.rotate(final); err != nil {
		return final, err
	}
	return final, nil
}

// freeName picks the name for a backup taken now, adding a counter if a backup of the same
// second exists.
func (b *backupSet) freeName() (string, error) {
	base := backupPrefix + b.now().UTC().Format(backupStampLayout)
	for seq := 1; seq < 1000; seq++ {
		name := base + b.ext
		if seq > 1 {
			name = fmt.Sprintf("%s-%d%s", base, seq, b.ext)
		}
		p := filepath.Join(b.dir, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", fmt.Errorf("back up %s: check whether %s exists: %w", b.source, p, err)
		}
	}
	return "", fmt.Errorf("back up %s: more than 999 backups named %s* exist in %s: check the clock and remove old backups", b.source, base, b.dir)
}

// rotate deletes all but the newest backups. The backup just written is kept even if a clock
// step made it sort older than the rest.
func (b *backupSet) rotate(keep string) error {
	bs, err := b.list()
	if err != nil {
		return fmt.Errorf("backup %s written, but rotation failed: %w", keep, err)
	}
	others := slices.DeleteFunc(bs, func(f backupFile) bool { return filepath.Join(b.dir, f.name) == keep })
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

// removeStalePartials deletes copies a crash left half-written. Only this process writes here:
// it holds the DATA_DIR lock or the leader lock.
func removeStalePartials(dir string) {
	stale, _ := filepath.Glob(filepath.Join(dir, partialPattern))
	for _, p := range stale {
		os.Remove(p)
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

// Backups lists the existing backups, newest first, as paths.
func (s *SQLite) Backups() ([]string, error) { return s.backupSet.paths() }

// LastBackupError is the error of the most recent backup attempt, nil if it succeeded or none
// was tried yet: while it is set, removals are held.
func (s *SQLite) LastBackupError() error { return s.backupSet.lastError() }

// Backup copies the database, consistently while writes go on, to a new file in DATA_DIR/backups,
// syncs it to disk, and then deletes all but the newest BackupRetention backups. If the copy
// fails, no backup is deleted. If only the clean-up fails, the new backup's path is returned
// together with the error.
func (s *SQLite) Backup(ctx context.Context) (string, error) {
	if s.readOnly {
		return "", fmt.Errorf("back up %s: %w", s.path, ErrReadOnly)
	}
	return s.backupSet.take(ctx, func(ctx context.Context, tmp, final string) error {
		// VACUUM INTO reads one snapshot inside a read transaction, so writers carry on and the
		// copy is consistent; it accepts the empty file CreateTemp made.
		if _, err := s.db.ExecContext(ctx, `VACUUM INTO $1`, tmp); err != nil {
			return fmt.Errorf("back up %s to %s: %w: check free space and permissions in %s", s.path, final, err, s.backupSet.dir)
		}
		return nil
	})
}
