package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// dialect names an SQL flavour the migration files are filtered for.
type dialect string

const (
	dialectSQLite   dialect = "sqlite"
	dialectPostgres dialect = "postgres"
)

// onlyFor matches the marker that keeps a line for one dialect, e.g. an identity column each
// database spells its own way.
var onlyFor = regexp.MustCompile(`--\s*only:\s*(\w+)\s*$`)

// migrationName is NNN_what.sql; the number is the schema version the file brings the database to.
var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations for d in version order. The versions must run
// 1, 2, 3… without gaps, or a database could claim a version whose tables were never created.
func loadMigrations(d dialect) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("embedded migration %q is not named NNN_name.sql", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("embedded migration %q: version: %w", e.Name(), err)
		}
		src, err := fs.ReadFile(migrationFiles, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: forDialect(string(src), d)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("embedded migration %s has version %d, want %d: versions must run 1, 2, 3… without gaps", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

// forDialect drops the lines marked for other dialects and strips the marker from the rest.
func forDialect(src string, d dialect) string {
	lines := strings.Split(src, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if m := onlyFor.FindStringSubmatchIndex(l); m != nil {
			if dialect(l[m[2]:m[3]]) != d {
				continue
			}
			l = strings.TrimRight(l[:m[0]], " \t")
		}
		kept = append(kept, l)
	}
	return strings.Join(kept, "\n")
}

const (
	createSchemaVersion = `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`
	selectSchemaVersion = `SELECT COALESCE(MAX(version), 0) FROM schema_version`
	clearSchemaVersion  = `DELETE FROM schema_version`
	insertSchemaVersion = `INSERT INTO schema_version (version) VALUES ($1)`
)

// migrate brings the schema of the database at where up to the newest of ms. It runs in one
// transaction, so a failed upgrade leaves the database exactly as it was. prepare, if given, runs
// first in that transaction: a dialect's locking and schema creation.
func migrate(ctx context.Context, db *sql.DB, where string, ms []migration, prepare ...func(context.Context, *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("start schema upgrade of %s: %w", where, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	for _, p := range prepare {
		if err := p(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, createSchemaVersion); err != nil {
		return fmt.Errorf("create the schema_version table in %s: %w", where, err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, selectSchemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("read the schema version of %s: %w", where, err)
	}
	latest := len(ms)
	if err := checkNotNewer(where, current, latest); err != nil {
		return err
	}
	if current == latest {
		return nil
	}
	for _, m := range ms[current:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("upgrade %s: migration %s failed, nothing was changed: %w", where, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, clearSchemaVersion); err != nil {
		return fmt.Errorf("record the schema version of %s: %w", where, err)
	}
	if _, err := tx.ExecContext(ctx, insertSchemaVersion, latest); err != nil {
		return fmt.Errorf("record the schema version of %s: %w", where, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit the schema upgrade of %s from version %d to %d: %w", where, current, latest, err)
	}
	return nil
}

// checkNotNewer refuses a schema written by a newer release: this binary would misread it.
func checkNotNewer(where string, current, latest int) error {
	if current > latest {
		return fmt.Errorf("database %s has schema version %d, but this authentik-matrix-sync knows versions up to %d: run the newer release that wrote it, or restore a backup taken by this one", where, current, latest)
	}
	return nil
}
