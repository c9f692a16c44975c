package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"authentik-matrix-sync/reconcile"
)

// DefaultSchema is the schema the Postgres store keeps its tables in when none is configured.
const DefaultSchema = "authentik_matrix_sync"

// schemaName is what the store accepts as a schema: a plain lower-case identifier, so it never
// needs quoting in pg_dump's --schema pattern or in an operator's psql session.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckSchemaName says why name cannot be the store's schema, or returns nil.
func CheckSchemaName(name string) error {
	if !schemaName.MatchString(name) {
		return fmt.Errorf("schema %q is not a plain lower-case identifier: use letters a-z, digits and _, at most 63, not starting with a digit (default %s)", name, DefaultSchema)
	}
	return nil
}

// PostgresOptions says where the Postgres store lives and how it behaves.
type PostgresOptions struct {
	// URL is a postgres:// or postgresql:// connection URL.
	URL string
	// Schema holds the store's tables; it is created if missing. Empty means DefaultSchema.
	Schema string
	// MaxOpenConns and MaxIdleConns bound the connection pool; 0 means 4 and 2.
	MaxOpenConns, MaxIdleConns int
	// ConnMaxLifetime recycles connections; 0 means 30 minutes.
	ConnMaxLifetime time.Duration
	// DataDir/backups receives the pg_dump backups.
	DataDir string
	// BackupRetention is how many backups Backup keeps, newest first; at least 1.
	BackupRetention int
	// PgDump is the pg_dump binary, a path or a name looked up on PATH; empty means "pg_dump".
	// pg_restore is expected beside it.
	PgDump string
	// ReadOnly opens the store for the plan subcommand: no migrations, every transaction
	// read-only, no backups.
	ReadOnly bool
	// Now is the clock for backup names and missing-account notes; nil means time.Now.
	Now func() time.Time
}

// Postgres is the state store in a dedicated schema of a PostgreSQL database, on pgx.
type Postgres struct {
	sqlState
	schema    string
	conn      *pgx.ConnConfig
	url       string
	pgDump    string
	backupSet *backupSet

	closeOnce sync.Once
	closeErr  error
}

var (
	_ reconcile.Store    = (*Postgres)(nil)
	_ reconcile.Backuper = (*Postgres)(nil)
)

// OpenPostgres connects, creates the schema if needed and upgrades it in one transaction, refusing
// a schema written by a newer release.
func OpenPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if err := CheckSchemaName(opts.Schema); err != nil {
		return nil, fmt.Errorf("open state store: %w: set database.schema", err)
	}
	cfg, where, err := parsePostgresURL(opts.URL)
	if err != nil {
		return nil, err
	}
	where = fmt.Sprintf("schema %s of %s", opts.Schema, where)
	if !opts.ReadOnly && opts.BackupRetention < 1 {
		return nil, fmt.Errorf("open state store: backup retention must be at least 1, got %d: set DB_BACKUP_RETENTION_COUNT", opts.BackupRetention)
	}
	if opts.DataDir == "" && !opts.ReadOnly {
		return nil, errors.New("open state store: the data directory for pg_dump backups is empty: set DATA_DIR to a writable directory")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	// Unqualified names in the shared SQL then mean the store's own tables, and nothing else in a
	// database shared with other software is touched.
	cfg.RuntimeParams["search_path"] = opts.Schema
	if opts.ReadOnly {
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	db := stdlib.OpenDB(*cfg.Copy())
	db.SetMaxOpenConns(cmpOr(opts.MaxOpenConns, 4))
	db.SetMaxIdleConns(cmpOr(opts.MaxIdleConns, 2))
	db.SetConnMaxLifetime(cmpOr(opts.ConnMaxLifetime, 30*time.Minute))
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w: check DATABASE_URL and that the server is reachable", where, err)
	}
	p := &Postgres{schema: opts.Schema, conn: cfg, url: opts.URL, pgDump: cmpOr(opts.PgDump, "pg_dump")}
	p.db, p.where, p.now, p.readOnly = db, where, now, opts.ReadOnly
	abs := opts.DataDir
	if abs != "" {
		if abs, err = filepath.Abs(opts.DataDir); err != nil {
			db.Close()
			return nil, fmt.Errorf("open state store: resolve data directory %q: %w", opts.DataDir, err)
		}
	}
	p.backupSet = &backupSet{dir: filepath.Join(abs, backupDir), ext: extDump,
		retention: opts.BackupRetention, now: now, source: where}
	ms, err := loadMigrations(dialectPostgres)
	if err != nil {
		db.Close()
		return nil, err
	}
	if opts.ReadOnly {
		err = p.checkReadOnly(ctx, ms)
	} else {
		err = p.migrate(ctx, ms)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return p, nil
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// parsePostgresURL parses a connection URL and returns it with a name for errors that never shows
// the password.
func parsePostgresURL(raw string) (*pgx.ConnConfig, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", errors.New("open state store: the database URL is not a postgres:// URL: set DATABASE_URL (or database.uri) to postgres://user:password@host:5432/dbname")
	}
	where := u.Redacted()
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, "", fmt.Errorf("open state store: parse database URL %s: %w", where, err)
	}
	return cfg, where, nil
}

// MigrationLockKey is the transaction-scoped advisory lock that keeps two replicas starting at
// once from running the same migration twice.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("authentik-matrix-sync migrate " + schema))
	return int64(h.Sum64())
}

func (p *Postgres) migrate(ctx context.Context, ms []migration) error {
	schema := pgx.Identifier{p.schema}.Sanitize()
	return migrate(ctx, p.db, p.where, ms, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey(p.schema)); err != nil {
			return fmt.Errorf("wait for other replicas' schema upgrade of %s: %w", p.where, err)
		}
		// CREATE SCHEMA IF NOT EXISTS needs the CREATE right on the database even when the
		// schema exists, so a schema the DBA made in advance is only looked up.
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, p.schema).Scan(&exists); err != nil {
			return fmt.Errorf("look up %s: %w", p.where, err)
		}
		if exists {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
			return fmt.Errorf("create %s: %w: create the schema yourself (CREATE SCHEMA %s AUTHORIZATION <bot user>) or grant CREATE on the database", p.where, err, p.schema)
		}
		return nil
	})
}

// checkReadOnly accepts a schema at exactly this release's version, without changing anything.
func (p *Postgres) checkReadOnly(ctx context.Context, ms []migration) error {
	var present bool
	err := p.db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{p.schema, "schema_version"}.Sanitize()).Scan(&present)
	if err != nil {
		return fmt.Errorf("open %s read-only: %w", p.where, err)
	}
	if !present {
		return fmt.Errorf("%s holds no state yet, and a read-only open does not create it: start the bot once, then plan again", p.where)
	}
	var version, compat int
	if err := p.db.QueryRowContext(ctx, selectSchemaVersion).Scan(&version); err != nil {
		return fmt.Errorf("read the schema version of %s: %w", p.where, err)
	}
	var hasCompat bool
	err = p.db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{p.schema, "schema_compat"}.Sanitize()).Scan(&hasCompat)
	if err == nil && hasCompat {
		err = p.db.QueryRowContext(ctx, selectSchemaCompat).Scan(&compat)
	}
	if err != nil {
		return fmt.Errorf("read the schema version of %s: %w", p.where, err)
	}
	if err := checkNotNewer(p.where, version, compat, len(ms)); err != nil {
		return err
	}
	if version < len(ms) {
		return fmt.Errorf("%s has schema version %d, older than this release's %d, and a read-only open does not upgrade it: start the bot once to upgrade, then plan again", p.where, version, len(ms))
	}
	return nil
}

// Schema is the schema holding the store's tables.
func (p *Postgres) Schema() string { return p.schema }

// Close closes the connection pool. Closing twice is harmless.
func (p *Postgres) Close() error {
	p.closeOnce.Do(func() {
		if err := p.db.Close(); err != nil {
			p.closeErr = fmt.Errorf("close %s: %w", p.where, err)
		}
	})
	return p.closeErr
}

// Backups lists the existing pg_dump backups of every kind, newest first, as paths.
func (p *Postgres) Backups() ([]string, error) { return p.backupSet.paths() }

// NewestBackup returns the path and time of the newest backup of any kind; an empty path when
// there is none.
func (p *Postgres) NewestBackup() (string, time.Time, error) { return p.backupSet.newest() }

// LastBackupError is the error of the most recent automatic backup, nil if it succeeded or none
// was tried yet: while it is set, removals are held.
func (p *Postgres) LastBackupError() error { return p.backupSet.lastError() }

// Backup takes an automatic backup: the one before removals, rotated by BackupRetention.
func (p *Postgres) Backup(ctx context.Context) (string, error) {
	return p.BackupAs(ctx, BackupAutomatic)
}

// BackupAs dumps the store's schema, and nothing else in the database, with pg_dump in custom
// format into a new file of the kind in DATA_DIR/backups. An automatic backup then deletes all
// but the newest BackupRetention automatic dumps; the other kinds delete nothing. pg_dump reads
// one snapshot, so a running bot may go on writing. A missing or failing pg_dump is an error,
// which holds the cycle's removals.
func (p *Postgres) BackupAs(ctx context.Context, kind BackupKind) (string, error) {
	if p.readOnly {
		return "", fmt.Errorf("back up %s: %w", p.where, ErrReadOnly)
	}
	return p.backupSet.take(ctx, kind, func(ctx context.Context, tmp, final string) error {
		return p.runClientTool(ctx, p.pgDump, "back up "+p.where+" to "+final,
			"--format=custom", "--schema="+p.schema, "--no-owner", "--file="+tmp)
	})
}

// Restore replaces the store's schema with the contents of a dump that Backup wrote, in one
// transaction: if pg_restore fails, the schema is as it was. The state it replaces is backed up
// first, as a pre-restore backup, and that path is returned; no backup is deleted, the dump
// restored from included. The caller makes sure no replica is writing (the leader lock); the
// store should not be used until it is opened again, which also upgrades a dump from an older
// release.
func (p *Postgres) Restore(ctx context.Context, dump string) (string, error) {
	if p.readOnly {
		return "", fmt.Errorf("restore %s: %w", p.where, ErrReadOnly)
	}
	if fi, err := os.Stat(dump); err != nil {
		return "", fmt.Errorf("restore %s from %s: %w", p.where, dump, err)
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("restore %s from %s: not a regular file", p.where, dump)
	}
	restore := filepath.Join(filepath.Dir(p.pgDump), "pg_restore")
	if !strings.ContainsRune(p.pgDump, filepath.Separator) {
		restore = "pg_restore"
	}
	what := fmt.Sprintf("restore %s from %s", p.where, dump)
	if err := p.runClientTool(ctx, restore, what+" (check the file)", "--list", dump); err != nil {
		return "", err
	}
	safety, err := p.BackupAs(ctx, BackupPreRestore)
	if err != nil {
		return "", fmt.Errorf("%s: back up the current state first: %w", what, err)
	}
	return safety, p.runClientTool(ctx, restore, what, "--clean", "--if-exists", "--single-transaction",
		"--no-owner", "--no-privileges", "--exit-on-error", dump)
}

// runClientTool runs pg_dump or pg_restore against the store's database. The password travels in
// PGPASSWORD, not on the command line, where other local users could read it.
func (p *Postgres) runClientTool(ctx context.Context, bin, what string, args ...string) error {
	dbURL, password, err := libpqURL(p.url)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if args[0] != "--list" {
		args = append([]string{"--dbname=" + dbURL}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, clientToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = clientToolWaitDelay
	cmd.Env = os.Environ()
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: %s not found: install the PostgreSQL client tools (of the server's major version or newer: pg_dump refuses newer servers) or set database.pg_dump to pg_dump's path", what, bin)
		}
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s: %s failed: %w: %s", what, filepath.Base(bin), err, msg)
	}
	return nil
}

// libpqURL turns the bot's URL into one libpq accepts: without the password, which is returned
// apart, and without the parameters only pgx knows, which libpq would reject.
func libpqURL(raw string) (string, string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", errors.New("the database URL does not parse")
	}
	password, _ := u.User.Password()
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") || k == "statement_cache_capacity" || k == "description_cache_capacity" || k == "default_query_exec_mode" {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), password, nil
}
