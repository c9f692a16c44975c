package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// copiedTable is one table of the state, in an order that respects the foreign keys.
type copiedTable struct {
	name    string
	columns string
}

var stateTables = []copiedTable{
	{"managed_members", "room_id, user_id, desired_since_ms, added_at_ms"},
	{"pending_removals", "room_id, user_id, due_at_ms, reason, created_at_ms"},
	{"removals", "id, room_id, user_id, action, reason, at_ms"},
	{"missing_accounts", "user_id, first_seen_ms"},
}

// Counts is how many rows each state table holds.
type Counts map[string]int

func (c Counts) String() string {
	var parts []string
	for _, t := range stateTables {
		parts = append(parts, fmt.Sprintf("%d %s", c[t.name], strings.ReplaceAll(t.name, "_", " ")))
	}
	return strings.Join(parts, ", ")
}

// CopySQLiteToPostgres copies every table of an SQLite state database (a file, or the DATA_DIR
// holding authentik-matrix-sync.db) into the Postgres store opts names, in one transaction, and
// then checks that both hold the same number of rows. A target that already holds state is
// refused unless replace is set, which empties it first. When src is a bot's live database its
// DATA_DIR lock is taken, so the bot must be stopped.
func CopySQLiteToPostgres(ctx context.Context, src string, opts PostgresOptions, replace bool) (Counts, error) {
	if fi, err := os.Stat(src); err == nil && fi.IsDir() {
		src = filepath.Join(src, dbFileName)
	}
	src, err := filepath.Abs(src)
	if err != nil {
		return nil, err
	}
	if filepath.Base(src) == dbFileName {
		lock, err := lockDataDir(filepath.Dir(src))
		if err != nil {
			return nil, fmt.Errorf("copy state from %s: %w", src, err)
		}
		defer lock.Close()
	}
	if err := checkSQLiteFile(ctx, src, "copy state from", false); err != nil {
		return nil, err
	}
	from, err := sql.Open("sqlite", dsn(src, url.Values{"mode": {"ro"}}))
	if err != nil {
		return nil, fmt.Errorf("copy state: open %s: %w", src, err)
	}
	defer from.Close()
	ms, err := loadMigrations(dialectSQLite)
	if err != nil {
		return nil, err
	}
	var version int
	if err := from.QueryRowContext(ctx, selectSchemaVersion).Scan(&version); err != nil {
		return nil, fmt.Errorf("copy state: read the schema version of %s: %w", src, err)
	}
	if version != len(ms) {
		return nil, fmt.Errorf("copy state: %s has schema version %d, this release %d: start this release once on the SQLite file to upgrade it, then copy", src, version, len(ms))
	}
	want, err := countRows(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("copy state: count rows in %s: %w", src, err)
	}

	to, err := OpenPostgres(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer to.Close()
	err = to.inTx(ctx, "copy state from "+src, func(tx *sql.Tx) error {
		have, err := countRows(ctx, tx)
		if err != nil {
			return err
		}
		if total(have) > 0 && !replace {
			return fmt.Errorf("the target already holds state (%s): copy into an empty schema, or pass -force to replace it", have)
		}
		for i := len(stateTables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+stateTables[i].name); err != nil {
				return fmt.Errorf("empty %s: %w", stateTables[i].name, err)
			}
		}
		for _, t := range stateTables {
			if err := copyTable(ctx, from, tx, t); err != nil {
				return err
			}
		}
		// Removals keep their ids, so history order survives; the identity must continue after
		// them.
		_, err = tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('removals', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM removals`)
		return err
	})
	if err != nil {
		return nil, err
	}
	got, err := countRows(ctx, to.db)
	if err != nil {
		return nil, fmt.Errorf("copy state: count rows in %s: %w", to.where, err)
	}
	for _, t := range stateTables {
		if got[t.name] != want[t.name] {
			return got, fmt.Errorf("copy state: %s holds %d rows in %s but %d in %s: the copy is incomplete; run migrate-store again with -force", t.name, want[t.name], src, got[t.name], to.where)
		}
	}
	return got, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func countRows(ctx context.Context, q querier) (Counts, error) {
	c := Counts{}
	for _, t := range stateTables {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.name, err)
		}
		c[t.name] = n
	}
	return c, nil
}

func total(c Counts) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

func copyTable(ctx context.Context, from *sql.DB, tx *sql.Tx, t copiedTable) error {
	rows, err := from.QueryContext(ctx, "SELECT "+t.columns+" FROM "+t.name)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	n := strings.Count(t.columns, ",") + 1
	marks := make([]string, n)
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := "INSERT INTO " + t.name + " (" + t.columns + ")"
	if t.name == "removals" {
		insert += " OVERRIDING SYSTEM VALUE"
	}
	insert += " VALUES (" + strings.Join(marks, ", ") + ")"
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		if _, err := tx.ExecContext(ctx, insert, vals...); err != nil {
			return fmt.Errorf("write %s: %w", t.name, err)
		}
	}
	return rows.Err()
}
