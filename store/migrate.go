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
	// compat is the oldest version whose releases can still use a schema at this version: a file
	// whose change an older release does not notice (a new nullable column, an index) says so on
	// a line "-- compatible with: N". 0 when it does not: only this version's release and later.
	compat int
}

// compatibleWith matches a migration's "-- compatible with: N" line.
var compatibleWith = regexp.MustCompile(`(?m)^--\s*compatible with:\s*(\d+)\s*$`)

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
		mig := migration{version: v, name: e.Name(), sql: forDialect(string(src), d)}
		if c := compatibleWith.FindStringSubmatch(string(src)); c != nil {
			mig.compat, _ = strconv.Atoi(c[1])
			if mig.compat < 1 || mig.compat >= v {
				return nil, fmt.Errorf("embedded migration %s says it is compatible with %d: that must be an older version, 1 to %d", e.Name(), mig.compat, v-1)
			}
		}
		ms = append(ms, mig)
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
	// schema_compat holds the oldest version whose releases can use the schema (see
	// migration.compat); a database without it, written before it was kept, is compatible with
	// its own version only.
	createSchemaCompat = `CREATE TABLE IF NOT EXISTS schema_compat (compat INTEGER NOT NULL)`
	selectSchemaCompat = `SELECT COALESCE(MAX(compat), 0) FROM schema_compat`
	clearSchemaCompat  = `DELETE FROM schema_compat`
	insertSchemaCompat = `INSERT INTO schema_compat (compat) VALUES ($1)`
)

// compatOf is the compat a database migrated up to ms's newest version records.
func compatOf(ms []migration) int {
	if len(ms) == 0 {
		return 0
	}
	if c := ms[len(ms)-1].compat; c > 0 {
		return c
	}
	return len(ms)
}

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
	for _, create := range []string{createSchemaVersion, createSchemaCompat} {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create the schema version tables in %s: %w", where, err)
		}
	}
	var current, compat int
	if err := tx.QueryRowContext(ctx, selectSchemaVersion).Scan(&current); err != nil {
		return fmt.Errorf("read the schema version of %s: %w", where, err)
	}
	if err := tx.QueryRowContext(ctx, selectSchemaCompat).Scan(&compat); err != nil {
		return fmt.Errorf("read the schema version of %s: %w", where, err)
	}
	latest := len(ms)
	if err := checkNotNewer(where, current, compat, latest); err != nil {
		return err
	}
	if current >= latest {
		// This release's schema, or a newer release's that says this one can still use it:
		// nothing to upgrade, and nothing a newer release wrote is undone.
		return tx.Commit()
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
	if _, err := tx.ExecContext(ctx, clearSchemaCompat); err != nil {
		return fmt.Errorf("record the schema version of %s: %w", where, err)
	}
	if _, err := tx.ExecContext(ctx, insertSchemaCompat, compatOf(ms)); err != nil {
		return fmt.Errorf("record the schema version of %s: %w", where, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit the schema upgrade of %s from version %d to %d: %w", where, current, latest, err)
	}
	return nil
}

// checkNotNewer refuses a schema written by a newer release that this release would misread: one
// newer than latest whose compat (0: not recorded, its own version) is newer too. A newer schema
// that says it is compatible with latest or older is used as it is.
func checkNotNewer(where string, current, compat, latest int) error {
	if compat == 0 {
		compat = current
	}
	if current > latest && compat > latest {
		return fmt.Errorf("database %s has schema version %d, but this authentik-matrix-sync knows versions up to %d: run the newer release that wrote it, or restore a backup taken by this one", where, current, latest)
	}
	return nil
}
