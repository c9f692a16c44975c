package store

import (
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
