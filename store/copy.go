package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copiedTable is one table of the state as the copy sees it. The list of tables and their columns
// is read from the databases themselves, not written down here, so a table a later migration adds
// is copied without anyone remembering to list it.
type copiedTable struct {
	name    string
	columns []string
	// identity are the target's identity columns: their values are copied as they are (history
	// keeps its order), and their sequences must then continue after the largest copied value.
	identity []string
	// boolean marks the columns that are BOOLEAN in Postgres, where SQLite stores 0 or 1.
	boolean []bool
}

// Counts is how many rows each state table holds.
type Counts map[string]int

func (c Counts) String() string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%d %s", c[name], strings.ReplaceAll(name, "_", " ")))
	}
	return strings.Join(parts, ", ")
}

// CopySQLiteToPostgres copies every table of an SQLite state database (a file, or the DATA_DIR
// holding authentik-matrix-sync.db) into the Postgres store opts names, in one transaction, and
// then checks that both hold the same number of rows in every table. A target that already holds
// state is refused unless replace is set, which empties it first. When src is a bot's live
// database its DATA_DIR lock is taken, so the bot must be stopped.
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
	srcTables, err := sqliteTables(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("copy state: list the tables of %s: %w", src, err)
	}

	to, err := OpenPostgres(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer to.Close()
	var tables []copiedTable
	var want Counts
	err = to.inTx(ctx, "copy state from "+src, func(tx *sql.Tx) error {
		dstTables, err := postgresTables(ctx, tx, to.schema)
		if err != nil {
			return fmt.Errorf("list the tables: %w", err)
		}
		if tables, err = copyPlan(srcTables, dstTables); err != nil {
			return err
		}
		if want, err = countRows(ctx, from, tables); err != nil {
			return fmt.Errorf("count rows in %s: %w", src, err)
		}
		have, err := countRows(ctx, tx, tables)
		if err != nil {
			return err
		}
		if total(have) > 0 && !replace {
			return fmt.Errorf("the target already holds state (%s): copy into an empty schema, or pass -force to replace it", have)
		}
		// Children before parents, so no foreign key is left dangling on the way.
		for i := len(tables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+pgx.Identifier{tables[i].name}.Sanitize()); err != nil {
				return fmt.Errorf("empty %s: %w", tables[i].name, err)
			}
		}
		for _, t := range tables {
			if err := copyTable(ctx, from, tx, t); err != nil {
				return err
			}
		}
		for _, t := range tables {
			if err := continueIdentity(ctx, tx, to.schema, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	got, err := countRows(ctx, to.db, tables)
	if err != nil {
		return nil, fmt.Errorf("copy state: count rows in %s: %w", to.where, err)
	}
	for _, t := range tables {
		if got[t.name] != want[t.name] {
			return got, fmt.Errorf("copy state: %s holds %d rows in %s but %d in %s: the copy is incomplete; run migrate-store again with -force", t.name, want[t.name], src, got[t.name], to.where)
		}
	}
	return got, nil
}

// tableShape is what the catalog of one database says about a table.
type tableShape struct {
	columns  []string
	types    map[string]string // column → data type, as the catalog spells it
	identity []string
	parents  []string // tables its foreign keys point at
}

// sqliteTables reads the state tables of an SQLite database and their columns from its catalog;
// schema_version and schema_compat are the migrations' bookkeeping, not state. The order of the copy comes from the
// target's foreign keys, so the source's are not read.
func sqliteTables(ctx context.Context, db *sql.DB) (map[string]tableShape, error) {
	names, err := queryStrings(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table'
AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('schema_version', 'schema_compat') ORDER BY name`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]tableShape, len(names))
	for _, n := range names {
		var s tableShape
		if s.columns, err = queryStrings(ctx, db, `SELECT name FROM pragma_table_info($1) ORDER BY cid`, n); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", n, err)
		}
		out[n] = s
	}
	return out, nil
}

// postgresTables reads the state tables of the store's schema from the Postgres catalog.
func postgresTables(ctx context.Context, tx *sql.Tx, schema string) (map[string]tableShape, error) {
	out := map[string]tableShape{}
	rows, err := tx.QueryContext(ctx, `SELECT c.table_name, c.column_name, c.data_type, c.is_identity
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' AND c.table_name NOT IN ('schema_version', 'schema_compat')
ORDER BY c.table_name, c.ordinal_position`, schema)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table, column, typ, identity string
		if err := rows.Scan(&table, &column, &typ, &identity); err != nil {
			return nil, err
		}
		s := out[table]
		if s.types == nil {
			s.types = map[string]string{}
		}
		s.columns = append(s.columns, column)
		s.types[column] = typ
		if identity == "YES" {
			s.identity = append(s.identity, column)
		}
		out[table] = s
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	fks, err := tx.QueryContext(ctx, `SELECT DISTINCT child.relname, parent.relname
FROM pg_constraint k
JOIN pg_class child ON child.oid = k.conrelid
JOIN pg_class parent ON parent.oid = k.confrelid
JOIN pg_namespace n ON n.oid = child.relnamespace
WHERE k.contype = 'f' AND n.nspname = $1`, schema)
	if err != nil {
		return nil, err
	}
	defer fks.Close()
	for fks.Next() {
		var child, parent string
		if err := fks.Scan(&child, &parent); err != nil {
			return nil, err
		}
		if s, ok := out[child]; ok {
			s.parents = append(s.parents, parent)
			out[child] = s
		}
	}
	return out, fks.Err()
}

// copyPlan matches the source's tables with the target's and orders them parents first. Both
// databases are at the same schema version, so any difference means the migrations disagree
// between the dialects: the copy is refused rather than losing a table or a column.
func copyPlan(src, dst map[string]tableShape) ([]copiedTable, error) {
	var problems []string
	for _, n := range slices.Sorted(maps.Keys(src)) {
		if _, ok := dst[n]; !ok {
			problems = append(problems, fmt.Sprintf("table %s is missing in Postgres", n))
		}
	}
	for _, n := range slices.Sorted(maps.Keys(dst)) {
		s, ok := src[n]
		if !ok {
			problems = append(problems, fmt.Sprintf("table %s is missing in SQLite", n))
			continue
		}
		if a, b := slices.Sorted(slices.Values(s.columns)), slices.Sorted(slices.Values(dst[n].columns)); !slices.Equal(a, b) {
			problems = append(problems, fmt.Sprintf("table %s has columns (%s) in SQLite but (%s) in Postgres", n, strings.Join(a, ", "), strings.Join(b, ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the SQLite and Postgres schemas differ, so the state cannot be copied whole: %s; report this as a bug of this release", strings.Join(problems, "; "))
	}
	order, err := parentsFirst(dst)
	if err != nil {
		return nil, err
	}
	tables := make([]copiedTable, 0, len(order))
	for _, n := range order {
		s := dst[n]
		t := copiedTable{name: n, columns: s.columns, identity: s.identity, boolean: make([]bool, len(s.columns))}
		for i, c := range s.columns {
			t.boolean[i] = s.types[c] == "boolean"
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// parentsFirst orders the tables so that every table comes after the tables its foreign keys
// point at; ties go by name, so the order is the same every run.
func parentsFirst(tables map[string]tableShape) ([]string, error) {
	var order []string
	placed := map[string]bool{}
	for len(order) < len(tables) {
		progress := false
		for _, n := range slices.Sorted(maps.Keys(tables)) {
			if placed[n] {
				continue
			}
			ready := true
			for _, p := range tables[n].parents {
				if p != n && !placed[p] {
					if _, known := tables[p]; known {
						ready = false
					}
				}
			}
			if ready {
				order, placed[n], progress = append(order, n), true, true
			}
		}
		if !progress {
			return nil, fmt.Errorf("the foreign keys between the state tables form a cycle (placed so far: %s); report this as a bug of this release", strings.Join(order, ", "))
		}
	}
	return order, nil
}

func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func countRows(ctx context.Context, q querier, tables []copiedTable) (Counts, error) {
	c := Counts{}
	for _, t := range tables {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+pgx.Identifier{t.name}.Sanitize()).Scan(&n); err != nil {
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

func quotedColumns(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func copyTable(ctx context.Context, from *sql.DB, tx *sql.Tx, t copiedTable) error {
	// Double-quoted identifiers mean the same in SQLite and Postgres.
	cols := quotedColumns(t.columns)
	rows, err := from.QueryContext(ctx, "SELECT "+cols+" FROM "+pgx.Identifier{t.name}.Sanitize())
	if err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	marks := make([]string, len(t.columns))
	for i := range marks {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := "INSERT INTO " + pgx.Identifier{t.name}.Sanitize() + " (" + cols + ")"
	if len(t.identity) > 0 {
		insert += " OVERRIDING SYSTEM VALUE"
	}
	insert += " VALUES (" + strings.Join(marks, ", ") + ")"
	vals := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		for i, isBool := range t.boolean {
			if n, ok := vals[i].(int64); ok && isBool {
				vals[i] = n != 0
			}
		}
		if _, err := tx.ExecContext(ctx, insert, vals...); err != nil {
			return fmt.Errorf("write %s: %w", t.name, err)
		}
	}
	return rows.Err()
}

// continueIdentity moves each identity sequence of t past the largest copied value, so the next
// row the bot inserts does not collide with a copied one.
func continueIdentity(ctx context.Context, tx *sql.Tx, schema string, t copiedTable) error {
	for _, col := range t.identity {
		c := pgx.Identifier{col}.Sanitize()
		q := `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(` + c + `), 1), MAX(` + c + `) IS NOT NULL) FROM ` + pgx.Identifier{t.name}.Sanitize()
		if _, err := tx.ExecContext(ctx, q, pgx.Identifier{schema, t.name}.Sanitize(), col); err != nil {
			return fmt.Errorf("continue the identity %s.%s after the copied rows: %w", t.name, col, err)
		}
	}
	return nil
}
