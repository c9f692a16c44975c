package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store/pgtest"
	"authentik-matrix-sync/store/storetest"
)

// pg is the PostgreSQL server of this test binary, started by the first test that needs it.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

// openPostgresTest opens a store that is closed when t ends.
func openPostgresTest(t *testing.T, opts PostgresOptions) *Postgres {
	t.Helper()
	if opts.DataDir == "" && !opts.ReadOnly {
		opts.DataDir = t.TempDir()
	}
	if opts.BackupRetention == 0 && !opts.ReadOnly {
		opts.BackupRetention = 3
	}
	s, err := OpenPostgres(t.Context(), opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgresSuite(t *testing.T) {
	server := pg.Get(t)
	var mu sync.Mutex
	dbs := map[*testing.T]PostgresOptions{}
	storetest.Run(t, func(t *testing.T) storetest.Store {
		mu.Lock()
		opts, ok := dbs[t]
		if !ok {
			opts = PostgresOptions{URL: server.Database(t), DataDir: t.TempDir(), BackupRetention: 3}
			dbs[t] = opts
		}
		mu.Unlock()
		return openPostgresTest(t, opts)
	})
}

// rawPostgres opens the database directly, bypassing the store.
func rawPostgres(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var _ = stdlib.GetDefaultDriver // registers the "pgx" driver name used by rawPostgres

func TestPostgresKeepsToItsSchema(t *testing.T) {
	url := pg.Get(t).Database(t)
	raw := rawPostgres(t, url)
	// Someone else's table of the same name in public must be left alone.
	if _, err := raw.ExecContext(t.Context(), `CREATE TABLE public.managed_members (x TEXT); INSERT INTO public.managed_members VALUES ('theirs')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ schema, want string }{
		{"", DefaultSchema},
		{"bot_state", "bot_state"},
	}
	for _, tc := range tests {
		s := openPostgresTest(t, PostgresOptions{URL: url, Schema: tc.schema})
		if err := s.PutMember(t.Context(), plan.ManagedMember{Room: "!r:hs", User: "@u:hs"}); err != nil {
			t.Fatal(err)
		}
		if n := queryInt(t, raw, "SELECT COUNT(*) FROM "+tc.want+".managed_members"); n != 1 {
			t.Errorf("schema %s: %d members, want 1", tc.want, n)
		}
		if s.Schema() != tc.want {
			t.Errorf("Schema() = %s, want %s", s.Schema(), tc.want)
		}
	}
	if n := queryInt(t, raw, "SELECT COUNT(*) FROM public.managed_members"); n != 1 {
		t.Errorf("public.managed_members has %d rows, want its own 1", n)
	}
	if n := queryInt(t, raw, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"); n != 1 {
		t.Errorf("the store created %d tables in public, want none of its own", n-1)
	}
}

func TestPostgresRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts PostgresOptions
		want string
	}{
		{"not a URL", PostgresOptions{URL: "host=x dbname=y", DataDir: "d", BackupRetention: 1}, "postgres://"},
		{"quoted schema", PostgresOptions{URL: "postgres://u@h/db", Schema: `Bot"; DROP`, DataDir: "d", BackupRetention: 1}, "database.schema"},
		{"no retention", PostgresOptions{URL: "postgres://u@h/db", DataDir: "d"}, "DB_BACKUP_RETENTION_COUNT"},
		{"no data dir", PostgresOptions{URL: "postgres://u@h/db", BackupRetention: 1}, "DATA_DIR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := OpenPostgres(t.Context(), tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestPostgresPasswordStaysOutOfErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	s, err := OpenPostgres(ctx, PostgresOptions{URL: "postgres://bot:s3cret-pw@127.0.0.1:1/db?connect_timeout=2", DataDir: t.TempDir(), BackupRetention: 1})
	if err == nil {
		s.Close()
		t.Fatal("OpenPostgres succeeded against port 1")
	}
	if strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("error shows the password: %v", err)
	}
}

func TestPostgresRefusesNewerSchema(t *testing.T) {
	url := pg.Get(t).Database(t)
	s := openPostgresTest(t, PostgresOptions{URL: url})
	s.Close()
	raw := rawPostgres(t, url)
	if _, err := raw.ExecContext(t.Context(), "UPDATE "+DefaultSchema+".schema_version SET version = 999; UPDATE "+DefaultSchema+".schema_compat SET compat = 998"); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		s, err := OpenPostgres(t.Context(), PostgresOptions{URL: url, DataDir: t.TempDir(), BackupRetention: 1, ReadOnly: ro})
		if err == nil {
			s.Close()
			t.Fatalf("read-only %v: OpenPostgres succeeded on a schema from the future", ro)
		}
		for _, want := range []string{"999", upTo(t), DefaultSchema} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("read-only %v: error %q does not mention %q", ro, err, want)
			}
		}
	}
	if v := queryInt(t, raw, "SELECT version FROM "+DefaultSchema+".schema_version"); v != 999 {
		t.Errorf("a refused open changed the schema version to %d", v)
	}
}

func TestPostgresConcurrentStartsMigrateOnce(t *testing.T) {
	url := pg.Get(t).Database(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			s, err := OpenPostgres(t.Context(), PostgresOptions{URL: url, DataDir: t.TempDir(), BackupRetention: 1})
			if err != nil {
				errs <- err
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent open: %v", err)
	}
	if n := queryInt(t, rawPostgres(t, url), "SELECT COUNT(*) FROM "+DefaultSchema+".schema_version"); n != 1 {
		t.Errorf("schema_version has %d rows, want 1", n)
	}
}

func TestPostgresMigrationIsOneTransaction(t *testing.T) {
	url := pg.Get(t).Database(t)
	ms := []migration{
		{version: 1, name: "001_good.sql", sql: "CREATE TABLE good (x TEXT)"},
		{version: 2, name: "002_bad.sql", sql: "CREATE TABLE broken (x TEXT); SELECT * FROM no_such_table"},
	}
	other := &Postgres{schema: "rollback_test"}
	other.db, other.where = singleConnDB(t, url, "rollback_test"), "rollback test"
	if err := other.migrate(t.Context(), ms); err == nil || !strings.Contains(err.Error(), "002_bad.sql") {
		t.Fatalf("migrate = %v, want an error naming 002_bad.sql", err)
	}
	if n := queryInt(t, rawPostgres(t, url), "SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'rollback_test'"); n != 0 {
		t.Errorf("the failed upgrade left its schema behind")
	}
}

func singleConnDB(t *testing.T, url, schema string) *sql.DB {
	t.Helper()
	cfg, _, err := parsePostgresURL(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresReadOnly(t *testing.T) {
	url := pg.Get(t).Database(t)
	if _, err := OpenPostgres(t.Context(), PostgresOptions{URL: url, ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "start the bot once") {
		t.Fatalf("read-only open of an empty database = %v, want advice to start the bot once", err)
	}
	w := openPostgresTest(t, PostgresOptions{URL: url})
	m := plan.ManagedMember{Room: "!r:hs", User: "@u:hs", DesiredSince: time.UnixMilli(1_700_000_000_000).UTC()}
	if err := w.PutMember(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	r := openPostgresTest(t, PostgresOptions{URL: url, ReadOnly: true})
	st, err := r.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Members.Get(plan.RoomUser{Room: m.Room, User: m.User}); got != m {
		t.Errorf("read-only LoadState: %+v, want %+v", got, m)
	}
	if err := r.PutMember(t.Context(), m); !errors.Is(err, ErrReadOnly) {
		t.Errorf("PutMember on a read-only store: %v, want ErrReadOnly", err)
	}
	// Even past the store's own check, the server refuses writes on these connections.
	if _, err := r.db.ExecContext(t.Context(), "DELETE FROM managed_members"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write on a read-only connection = %v, want the server's read-only refusal", err)
	}
	if _, err := r.Backup(t.Context()); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Backup on a read-only store: %v, want ErrReadOnly", err)
	}
}

func TestLibpqURL(t *testing.T) {
	tests := []struct {
		in, url, password string
	}{
		{"postgres://bot:pw@db:5432/state?sslmode=require", "postgres://bot@db:5432/state?sslmode=require", "pw"},
		{"postgres://bot@/state?host=%2Ftmp%2Fsock", "postgres://bot@/state?host=%2Ftmp%2Fsock", ""},
		{"postgresql://bot:p%40ss@db/state?pool_max_conns=5&statement_cache_capacity=0", "postgresql://bot@db/state", "p@ss"},
	}
	for _, tc := range tests {
		u, pw, err := libpqURL(tc.in)
		if err != nil || u != tc.url || pw != tc.password {
			t.Errorf("libpqURL(%q) = %q, %q, %v; want %q, %q", tc.in, u, pw, err, tc.url, tc.password)
		}
	}
}

func TestCheckSchemaName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"authentik_matrix_sync", true},
		{"_x1", true},
		{"1abc", false},
		{"Bot", false},
		{"a-b", false},
		{"", false},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
	}
	for _, tc := range tests {
		if err := CheckSchemaName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckSchemaName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}

// upTo is how a refusal of a newer schema names the newest version this release knows.
func upTo(t *testing.T) string {
	t.Helper()
	ms, err := loadMigrations(dialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("up to %d", len(ms))
}
