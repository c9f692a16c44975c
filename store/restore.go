package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// RestoreSQLite replaces the database in opts.DataDir with the backup file, after checking that
// the file is a state database this release can read. It takes the DATA_DIR lock first, so it
// refuses while the bot runs: replacing a database under an open connection would corrupt it.
// The database being replaced is backed up first, as a pre-restore backup, and that path is
// returned; no backup is deleted, the file restored from included.
func RestoreSQLite(ctx context.Context, opts Options, backup string) (string, error) {
	if err := checkSQLiteFile(ctx, backup, "restore", true); err != nil {
		return "", err
	}
	s, err := OpenSQLite(ctx, opts)
	if err != nil {
		return "", fmt.Errorf("restore %s: %w", backup, err)
	}
	defer s.Close()
	safety, err := s.BackupAs(ctx, BackupPreRestore)
	if err != nil {
		return "", fmt.Errorf("restore %s: back up the current state first: %w", backup, err)
	}
	// The lock stays held; only the connections go, so the file can be swapped.
	if err := s.db.Close(); err != nil {
		return safety, fmt.Errorf("restore %s: close %s: %w", backup, s.path, err)
	}
	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, ".authentik-matrix-sync-restore-*")
	if err != nil {
		return safety, fmt.Errorf("restore %s into %s: %w%s", backup, dir, err, writeHint(dir, err))
	}
	defer os.Remove(tmp.Name())
	src, err := os.Open(backup)
	if err != nil {
		tmp.Close()
		return safety, fmt.Errorf("restore %s: %w", backup, err)
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return safety, fmt.Errorf("restore %s: copy into %s: %w", backup, dir, err)
	}
	// The old WAL belongs to the old file; left in place it would be replayed onto the new one.
	for _, side := range []string{s.path + "-wal", s.path + "-shm"} {
		if err := os.Remove(side); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return safety, fmt.Errorf("restore %s: remove %s: %w", backup, side, err)
		}
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return safety, fmt.Errorf("restore %s: replace %s: %w", backup, s.path, err)
	}
	if err := syncFile(dir); err != nil {
		return safety, fmt.Errorf("restore %s: sync %s: %w", backup, dir, err)
	}
	return safety, nil
}

// checkSQLiteFile opens the file read-only and checks that it is a state database no newer than
// this release; verb says what it is checked for. immutable suits a backup, which has no WAL; a
// live database must be read through its WAL.
func checkSQLiteFile(ctx context.Context, path, verb string, immutable bool) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: not a regular file", verb, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	params := url.Values{"mode": {"ro"}}
	if immutable {
		params.Set("immutable", "1")
	}
	db, err := sql.Open("sqlite", dsn(abs, params))
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, path, err)
	}
	defer db.Close()
	version, compat, err := readOnlyVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("%s %s: not an SQLite state database: %w", verb, path, err)
	}
	ms, err := loadMigrations(dialectSQLite)
	if err != nil {
		return err
	}
	if version == 0 {
		return fmt.Errorf("%s %s: the file holds no authentik-matrix-sync state (no schema version)", verb, path)
	}
	return checkNotNewer(path, version, compat, len(ms))
}
