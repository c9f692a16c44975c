package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestForDialect(t *testing.T) {
	src := strings.Join([]string{
		"CREATE TABLE t (",
		"    id INTEGER PRIMARY KEY, -- only: sqlite",
		"    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  --only:postgres  ",
		"    -- a comment that mentions only: nothing",
		"    x TEXT",
		");",
	}, "\n")
	tests := []struct {
		d    dialect
		want []string
	}{
		{dialectSQLite, []string{"CREATE TABLE t (", "    id INTEGER PRIMARY KEY,", "    -- a comment that mentions only: nothing", "    x TEXT", ");"}},
		{dialectPostgres, []string{"CREATE TABLE t (", "    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,", "    -- a comment that mentions only: nothing", "    x TEXT", ");"}},
		{"mysql", []string{"CREATE TABLE t (", "    -- a comment that mentions only: nothing", "    x TEXT", ");"}},
	}
	for _, tc := range tests {
		t.Run(string(tc.d), func(t *testing.T) {
			if got, want := forDialect(src, tc.d), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("forDialect(%s):\n got  %q\n want %q", tc.d, got, want)
			}
		})
	}
}

func TestEmbeddedMigrations(t *testing.T) {
	for _, d := range []dialect{dialectSQLite, dialectPostgres} {
		t.Run(string(d), func(t *testing.T) {
			ms, err := loadMigrations(d)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) == 0 || ms[0].name != "001_initial.sql" {
				t.Fatalf("migrations = %+v, want 001_initial.sql first", ms)
			}
			for i, m := range ms {
				if m.version != i+1 {
					t.Errorf("%s has version %d, want %d", m.name, m.version, i+1)
				}
				if strings.Contains(m.sql, "only:") {
					t.Errorf("%s still holds a dialect marker for %s:\n%s", m.name, d, m.sql)
				}
			}
			if n := strings.Count(ms[0].sql, "\n    id "); n != 1 {
				t.Errorf("%s for %s defines the removals id %d times, want once:\n%s", ms[0].name, d, n, ms[0].sql)
			}
		})
	}
}

// TestCompatibleNewerSchema: a schema a newer release wrote is used as it is when that release
// says this one can still use it (schema_compat at or below this release's newest version), on
// both databases, read-write and read-only, and nothing is written to it; without that word, or
// in a database from before schema_compat was kept, it is refused.
func TestCompatibleNewerSchema(t *testing.T) {
	ms, err := loadMigrations(dialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	latest := len(ms)
	if c := compatOf(ms); c < 1 || c > latest {
		t.Fatalf("compatOf = %d, want 1 to %d", c, latest)
	}
	tests := []struct {
		name   string
		setup  string // run after a release at latest wrote the schema
		opens  bool
		wantIn string
	}{
		{"one newer version, compatible with this one", fmt.Sprintf("UPDATE schema_version SET version = %d; UPDATE schema_compat SET compat = %d", latest+1, latest), true, ""},
		{"compatible with an older version than this one", fmt.Sprintf("UPDATE schema_version SET version = %d; UPDATE schema_compat SET compat = 3", latest+5), true, ""},
		{"compatible only with newer versions", fmt.Sprintf("UPDATE schema_version SET version = %d; UPDATE schema_compat SET compat = %d", latest+2, latest+1), false, "knows versions up to"},
		{"written before schema_compat was kept", fmt.Sprintf("UPDATE schema_version SET version = %d; DROP TABLE schema_compat", latest+1), false, "knows versions up to"},
	}
	for _, tc := range tests {
		for _, ro := range []bool{false, true} {
			t.Run(fmt.Sprintf("sqlite %s read-only %v", tc.name, ro), func(t *testing.T) {
				dir := t.TempDir()
				s := openTest(t, Options{DataDir: dir, BackupRetention: 1})
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, dbFileName)
				if _, err := rawDB(t, path).ExecContext(t.Context(), tc.setup); err != nil {
					t.Fatal(err)
				}
				before := queryInt(t, rawDB(t, path), selectSchemaVersion)
				s2, err := OpenSQLite(t.Context(), Options{DataDir: dir, BackupRetention: 1, ReadOnly: ro})
				if tc.opens != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantIn)) {
					t.Fatalf("open: %v, want it to open: %v", err, tc.opens)
				}
				if err == nil {
					if _, err := s2.LoadState(t.Context()); err != nil {
						t.Errorf("LoadState on the newer schema: %v", err)
					}
					s2.Close()
				}
				if after := queryInt(t, rawDB(t, path), selectSchemaVersion); after != before {
					t.Errorf("the schema version went from %d to %d", before, after)
				}
			})
		}
	}
	t.Run("postgres", func(t *testing.T) {
		for _, tc := range tests {
			url := pg.Get(t).Database(t)
			s := openPostgresTest(t, PostgresOptions{URL: url})
			s.Close()
			raw := rawPostgres(t, url)
			setup := strings.ReplaceAll(strings.ReplaceAll(tc.setup, "schema_version", DefaultSchema+".schema_version"), "schema_compat", DefaultSchema+".schema_compat")
			if _, err := raw.ExecContext(t.Context(), setup); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				s2, err := OpenPostgres(t.Context(), PostgresOptions{URL: url, DataDir: t.TempDir(), BackupRetention: 1, ReadOnly: ro})
				if tc.opens != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantIn)) {
					t.Errorf("%s, read-only %v: open: %v, want it to open: %v", tc.name, ro, err, tc.opens)
				}
				if err == nil {
					s2.Close()
				}
			}
		}
	})
}
