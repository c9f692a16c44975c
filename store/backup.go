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
)

const (
	backupPrefix      = "authentik-matrix-sync-"
	backupStampLayout = "20060102T150405Z"
	// partialPattern names a backup being written; it never matches backupName, so rotation
	// and restores cannot pick up a half-written copy.
	partialPattern = ".authentik-matrix-sync-*.partial"
)

// backupName matches the files Backup writes: a UTC timestamp, and a counter when several
// backups fall in one second. Nothing else in the directory is counted or deleted.
var backupName = regexp.MustCompile(`^authentik-matrix-sync-(\d{8}T\d{6}Z)(?:-([1-9]\d*))?\.db$`)

type backupFile struct {
	name  string
	stamp string
	seq   int
}

func parseBackupName(name string) (backupFile, bool) {
	m := backupName.FindStringSubmatch(name)
	if m == nil {
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

// listBackups returns the backups in dir, newest first; a missing dir holds none.
func listBackups(dir string) ([]backupFile, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var out []backupFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if b, ok := parseBackupName(e.Name()); ok {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, newestFirst)
	return out, nil
}

// Backups lists the existing backups, newest first, as paths.
func (s *SQLite) Backups() ([]string, error) {
	bs, err := listBackups(s.backups)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(bs))
	for i, b := range bs {
		paths[i] = filepath.Join(s.backups, b.name)
	}
	return paths, nil
}

// Backup copies the database, consistently while writes go on, to a new file in DATA_DIR/backups,
// syncs it to disk, and then deletes all but the newest BackupRetention backups. If the copy
// fails, no backup is deleted. If only the clean-up fails, the new backup's path is returned
// together with the error.
func (s *SQLite) Backup(ctx context.Context) (string, error) {
	if s.readOnly {
		return "", fmt.Errorf("back up %s: %w", s.path, ErrReadOnly)
	}
	s.backupMu.Lock()
	defer s.backupMu.Unlock()

	dir := s.backups
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("back up %s: create %s: %w%s", s.path, dir, err, writeHint(dir, err))
	}
	removeStalePartials(dir)
	final, err := s.freeBackupName()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, partialPattern)
	if err != nil {
		return "", fmt.Errorf("back up %s into %s: %w%s", s.path, dir, err, writeHint(dir, err))
	}
	tmpPath := tmp.Name()
	tmp.Close()
	done := false
	defer func() {
		if !done {
			os.Remove(tmpPath)
		}
	}()
	// VACUUM INTO reads one snapshot inside a read transaction, so writers carry on and the
	// copy is consistent; it accepts the empty file CreateTemp made.
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO $1`, tmpPath); err != nil {
		return "", fmt.Errorf("back up %s to %s: %w: check free space and permissions in %s", s.path, final, err, dir)
	}
	if err := syncFile(tmpPath); err != nil {
		return "", fmt.Errorf("back up %s: flush %s to disk: %w", s.path, tmpPath, err)
	}
	if err := os.Rename(tmpPath, final); err != nil {
		return "", fmt.Errorf("back up %s: rename %s to %s: %w%s", s.path, tmpPath, final, err, writeHint(dir, err))
	}
	done = true
	if err := syncFile(dir); err != nil {
		return final, fmt.Errorf("backup %s written, but syncing %s failed: %w", final, dir, err)
	}
	if err := s.rotate(final); err != nil {
		return final, err
	}
	return final, nil
}

// freeBackupName picks the name for a backup taken now, adding a counter if a backup of the
// same second exists.
func (s *SQLite) freeBackupName() (string, error) {
	base := backupPrefix + s.now().UTC().Format(backupStampLayout)
	for seq := 1; seq < 1000; seq++ {
		name := base + ".db"
		if seq > 1 {
			name = fmt.Sprintf("%s-%d.db", base, seq)
		}
		p := filepath.Join(s.backups, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		} else if err != nil {
			return "", fmt.Errorf("back up %s: check whether %s exists: %w", s.path, p, err)
		}
	}
	return "", fmt.Errorf("back up %s: more than 999 backups named %s* exist in %s: check the clock and remove old backups", s.path, base, s.backups)
}

// rotate deletes all but the newest backups. The backup just written is kept even if a clock
// step made it sort older than the rest.
func (s *SQLite) rotate(keep string) error {
	bs, err := listBackups(s.backups)
	if err != nil {
		return fmt.Errorf("backup %s written, but rotation failed: %w", keep, err)
	}
	others := slices.DeleteFunc(bs, func(b backupFile) bool { return filepath.Join(s.backups, b.name) == keep })
	var errs []error
	for i := s.retention - 1; i < len(others); i++ {
		p := filepath.Join(s.backups, others[i].name)
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove old backup %s: %w", p, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("backup %s written, but rotation failed: %w", keep, errors.Join(errs...))
	}
	return nil
}

// removeStalePartials deletes copies a crash left half-written. Only this process writes here:
// it holds the DATA_DIR lock.
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
