package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	// The pure-Go driver keeps the binary free of cgo, so it runs in a scratch image.
	_ "modernc.org/sqlite"

	"authentik-matrix-sync/reconcile"
)

const (
	dbFileName   = "authentik-matrix-sync.db"
	lockFileName = "authentik-matrix-sync.lock"
	backupDir    = "backups"
	busyTimeout  = 5 * time.Second
	// pageCacheKiB bounds each connection's page cache. With SQLite's default, 2 MiB per
	// connection, the caches filled as the database grew, outside Go's heap, and the resident
	// size crept up for as long as the history grew (BenchmarkSQLiteMemoryUnderChurn). The
	// operating system caches the file as well, so a page not held here is read from memory,
	// not from the disk.
	pageCacheKiB = 256
	// maxConns bounds the connections, each with its own page cache. SQLite takes one write at
	// a time anyway, so more would only wait; they stay open rather than being closed and
	// opened again at every burst of writes.
	maxConns = 4
	// wOK is W_OK of access(2), which package syscall does not name.
	wOK = 2
)

// Options says where the store lives and how it behaves.
type Options struct {
	// DataDir holds the database file (DataDir/authentik-matrix-sync.db) and its backups
	// (DataDir/backups/). It is created if missing, unless ReadOnly is set.
	DataDir string
	// BackupRetention is how many backups Backup keeps, newest first; at least 1.
	BackupRetention int
	// ReadOnly opens the database for the plan subcommand: no migrations, no lock, no writes. A
	// missing database is read as an empty state and nothing is created.
	ReadOnly bool
	// Now is the clock for backup names and missing-account notes; nil means time.Now.
	Now func() time.Time
	// pageCacheKiB replaces the constant of that name when set, for a benchmark to compare.
	pageCacheKiB int
}

// SQLite is the state store on one SQLite file. Times are kept to the millisecond.
type SQLite struct {
	sqlState
	dataDir   string
	path      string
	backupSet *backupSet
	// lock is the open lock file whose flock keeps a second process out; nil when read-only.
	lock         *os.File
	pageCacheKiB int

	closeMu sync.Mutex
	closed  bool
}

var (
	_ reconcile.Store    = (*SQLite)(nil)
	_ reconcile.Backuper = (*SQLite)(nil)
)

// OpenSQLite opens (creating and upgrading as needed) the state database in opts.DataDir and locks
// the directory against a second process for the life of the store.
func OpenSQLite(ctx context.Context, opts Options) (*SQLite, error) {
	if opts.DataDir == "" {
		return nil, errors.New("open state store: the data directory is empty: set DATA_DIR to a writable directory")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open state store: resolve data directory %q: %w", opts.DataDir, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	ms, err := loadMigrations(dialectSQLite)
	if err != nil {
		return nil, err
	}
	s := &SQLite{dataDir: dir, path: filepath.Join(dir, dbFileName), pageCacheKiB: opts.pageCacheKiB}
	s.backupSet = &backupSet{dir: filepath.Join(dir, backupDir), ext: extSQLite,
		retention: opts.BackupRetention, now: now, source: s.path}
	s.where, s.now, s.readOnly = s.path, now, opts.ReadOnly
	if opts.ReadOnly {
		if err := s.openReadOnly(ctx, ms); err != nil {
			return nil, err
		}
		return s, nil
	}
	if opts.BackupRetention < 1 {
		return nil, fmt.Errorf("open state store: backup retention must be at least 1, got %d: set DB_BACKUP_RETENTION_COUNT", opts.BackupRetention)
	}
	if err := s.prepareDirs(); err != nil {
		return nil, err
	}
	if s.lock, err = lockDataDir(dir); err != nil {
		return nil, err
	}
	if err := s.openWritable(ctx, ms); err != nil {
		s.lock.Close() // releases the flock
		return nil, err
	}
	return s, nil
}

// prepareDirs creates DATA_DIR and its backups directory and checks that this user may write
// there, so a volume with the wrong owner fails at start rather than at the first removal.
func (s *SQLite) prepareDirs() error {
	for _, d := range []string{s.dataDir, s.backupSet.dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create directory %s: %w%s", d, err, writeHint(d, err))
		}
		if err := syscall.Access(d, wOK); err != nil {
			return fmt.Errorf("data directory %s is not writable by uid %d: fix the volume's owner or permissions (%w)", d, os.Geteuid(), err)
		}
	}
	if err := syscall.Access(s.path, wOK); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("database file %s is not writable by uid %d: fix its owner or permissions (%w)", s.path, os.Geteuid(), err)
	}
	return nil
}

// writeHint says what to do when a write under DATA_DIR was refused.
func writeHint(dir string, err error) string {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Sprintf(": make %s writable by uid %d (fix the volume's owner or permissions)", dir, os.Geteuid())
	}
	return ""
}

// lockDataDir takes an exclusive flock that lives as long as the returned file is open. Two
// processes on one SQLite file would each trust their own view of pending removals.
func lockDataDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w%s", p, err, writeHint(dir, err))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another authentik-matrix-sync is using DATA_DIR %s (lock held on %s): stop the other instance, or give this one its own DATA_DIR", dir, p)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return f, nil
}

// dsn builds a file: URI, so that SQLite's own parameters (mode, immutable) apply and odd
// characters in the path are escaped.
func dsn(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}
	return u.String()
}

func (s *SQLite) openWritable(ctx context.Context, ms []migration) error {
	if err := keepPrivate(s.path); err != nil {
		return err
	}
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "foreign_keys(1)")
	// FULL syncs the WAL at every commit, so a removal recorded before a power cut is still
	// recorded after it. NORMAL could lose the last commits; at a few writes per cycle the
	// extra fsync costs nothing worth saving.
	params.Add("_pragma", "synchronous(FULL)")
	// Temporary tables and indices stay in memory: the container's root file system is
	// read-only and only the data directory is writable.
	params.Add("_pragma", "temp_store(MEMORY)")
	params.Add("_pragma", fmt.Sprintf("cache_size(%d)", -cmpOr(s.pageCacheKiB, pageCacheKiB)))
	// Write transactions take the write lock at BEGIN: a deferred one that reads first and
	// then writes can fail with SQLITE_BUSY that busy_timeout does not retry.
	params.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", dsn(s.path, params))
	if err != nil {
		return fmt.Errorf("open database %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("open database %s: %w: check that the file is an SQLite database and DATA_DIR is writable", s.path, err)
	}
	if err := migrate(ctx, db, s.path, ms); err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

// keepPrivate makes the database file, and the -wal and -shm files beside it, readable by this
// user alone (0600, like the backups), whatever the umask. SQLite would create the database
// 0644 less the umask and give its -wal and -shm the database file's mode, so the file is made
// here before SQLite opens it (an empty file is an empty database to SQLite). Files an older
// release left more open are narrowed; one owned by another user is left as it is, since only
// its owner may change its mode.
func keepPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open database %s: %w%s", path, err, writeHint(filepath.Dir(path), err))
	}
	defer f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open database %s: check the mode of %s: %w", path, p, err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("open database %s: make %s private (mode 0600): %w", path, p, err)
		}
	}
	return nil
}

// openReadOnly opens the database without writing to it or to its directory.
func (s *SQLite) openReadOnly(ctx context.Context, ms []migration) error {
	if _, err := os.Stat(s.path); errors.Is(err, fs.ErrNotExist) {
		return s.openEmpty(ctx, ms)
	} else if err != nil {
		return fmt.Errorf("open database %s read-only: %w", s.path, err)
	}
	params := url.Values{}
	params.Set("mode", "ro")
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	params.Add("_pragma", "query_only(1)")
	if !walInUse(s.path) {
		// Without a running writer a read-only open would still create the -wal and -shm files
		// and leave them behind. Immutable reads the main file only, which is complete when
		// no writer has a WAL open.
		params.Set("immutable", "1")
	}
	db, err := sql.Open("sqlite", dsn(s.path, params))
	if err != nil {
		return fmt.Errorf("open database %s read-only: %w", s.path, err)
	}
	version, compat, err := readOnlyVersion(ctx, db)
	if err != nil {
		db.Close()
		return fmt.Errorf("open database %s read-only: %w: check that the file is readable and is an SQLite database", s.path, err)
	}
	if err := checkNotNewer(s.path, version, compat, len(ms)); err != nil {
		db.Close()
		return err
	}
	if version < len(ms) {
		db.Close()
		return fmt.Errorf("database %s has schema version %d, older than this release's %d, and a read-only open does not upgrade it: start the bot once to upgrade, then plan again", s.path, version, len(ms))
	}
	s.db = db
	return nil
}

// walInUse reports whether a writer has (or had, until a crash) the database open in WAL mode:
// then the newest commits may be in the -wal file and must be read through SQLite's locks.
func walInUse(path string) bool {
	if _, err := os.Stat(path + "-shm"); err == nil {
		return true
	}
	fi, err := os.Stat(path + "-wal")
	return err == nil && fi.Size() > 0
}

// readOnlyVersion reads the schema version and its compat (see migration.compat; 0 when not
// recorded) without creating any table.
func readOnlyVersion(ctx context.Context, db *sql.DB) (version, compat int, err error) {
	read := func(table, query string, into *int) error {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, table).Scan(&n); err != nil || n == 0 {
			return err
		}
		return db.QueryRowContext(ctx, query).Scan(into)
	}
	if err := read("schema_version", selectSchemaVersion, &version); err != nil {
		return 0, 0, err
	}
	if err := read("schema_compat", selectSchemaCompat, &compat); err != nil {
		return 0, 0, err
	}
	return version, compat, nil
}

// openEmpty stands in for a database that does not exist yet: an in-memory one with the schema,
// so reads return an empty state and nothing touches the disk.
func (s *SQLite) openEmpty(ctx context.Context, ms []migration) error {
	db, err := sql.Open("sqlite", "file::memory:?"+url.Values{"_pragma": {"foreign_keys(1)"}}.Encode())
	if err != nil {
		return fmt.Errorf("open empty in-memory state: %w", err)
	}
	// Every connection to :memory: is a database of its own; one connection keeps them one.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrate(ctx, db, "in-memory state (no "+s.path+" yet)", ms); err != nil {
		db.Close()
		return err
	}
	s.db = db
	return nil
}

// Close closes the database and releases the DATA_DIR lock. Closing twice is harmless.
func (s *SQLite) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close database %s: %w", s.path, err))
	}
	if s.lock != nil {
		if err := s.lock.Close(); err != nil {
			errs = append(errs, fmt.Errorf("release lock %s: %w", s.lock.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }
