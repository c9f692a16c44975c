package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/scimstate"
	"authentik-matrix-sync/usermap"
)

// fillers put at least one row into each state table through the store's own methods. When a
// migration adds a table, TestCopySQLiteToPostgres fails until the table has a filler here: the
// copy picks new tables up by itself, and this makes sure it is seen doing so.
var fillers = map[string]func(ctx context.Context, s *SQLite, at time.Time) error{
	"power_grants": func(ctx context.Context, s *SQLite, at time.Time) error {
		return s.PutPowerGrant(ctx, plan.PowerGrant{Room: "!r:hs", User: "@a:hs", Level: 50, GrantedAt: at, DemoteAt: at.Add(time.Hour)})
	},
	"external_ids": func(ctx context.Context, s *SQLite, at time.Time) error {
		return s.PutExternalID(ctx, "oidc-authentik", "hash", usermap.CachedID{User: "@a:hs", CheckedAt: at})
	},
	"space_children": func(ctx context.Context, s *SQLite, _ time.Time) error {
		return s.PutSpaceChildren(ctx, "!space:hs", []id.RoomID{"!r:hs", "!r2:hs"})
	},
	"room_records": func(ctx context.Context, s *SQLite, _ time.Time) error {
		return s.PutRoomRecord(ctx, "!r:hs", plan.RoomRecord{Groups: []string{"staff"}, RemoveAction: plan.RemoveKick})
	},
	"created_rooms": func(ctx context.Context, s *SQLite, at time.Time) error {
		return s.RecordCreatedRoom(ctx, CreatedRoom{Alias: "#new:hs", Room: "!new:hs", ParentSpace: "!space:hs", At: at})
	},
	"managed_members": func(ctx context.Context, s *SQLite, at time.Time) error {
		for _, u := range []id.UserID{"@a:hs", "@b:hs", "@c:hs"} {
			if err := s.PutMember(ctx, plan.ManagedMember{Room: "!r:hs", User: u, DesiredSince: at}); err != nil {
				return err
			}
		}
		return nil
	},
	"pending_removals": func(ctx context.Context, s *SQLite, at time.Time) error {
		return s.PutPending(ctx, plan.PendingRemoval{Room: "!r:hs", User: "@a:hs", DueAt: at.Add(time.Hour), CreatedAt: at, Reason: "left"})
	},
	"removals": func(ctx context.Context, s *SQLite, at time.Time) error {
		for i := range 3 {
			if err := s.RecordRemoval(ctx, plan.Removal{Room: "!old:hs", User: "@gone:hs", Action: plan.RemoveKick, Reason: "x", At: at.Add(time.Duration(i) * time.Second)}); err != nil {
				return err
			}
		}
		return nil
	},
	"missing_accounts": func(ctx context.Context, s *SQLite, _ time.Time) error {
		_, err := s.MarkMissingAccount(ctx, "@nobody:hs")
		return err
	},
	"audit_log": func(ctx context.Context, s *SQLite, at time.Time) error {
		for i, cmd := range []string{"pause", "exempt"} {
			if err := s.AppendAudit(ctx, plan.AuditEntry{At: at.Add(time.Duration(i) * time.Second), Actor: "@ops:hs", Command: cmd, Target: "@b:hs", Room: "!r:hs", Result: "ok"}); err != nil {
				return err
			}
		}
		return nil
	},
	"exemptions": func(ctx context.Context, s *SQLite, at time.Time) error {
		if err := s.PutExemption(ctx, plan.Exemption{User: "@b:hs", By: "@ops:hs", Reason: "exempt", At: at}); err != nil {
			return err
		}
		return s.PutExemption(ctx, plan.Exemption{User: "@c:hs", Room: "!r:hs", UntilBack: true, By: "@ops:hs", Reason: "cancel", At: at})
	},
	"admin_flags": func(ctx context.Context, s *SQLite, _ time.Time) error {
		return s.SetPaused(ctx, true)
	},
	"held_batches": func(ctx context.Context, s *SQLite, at time.Time) error {
		for _, b := range []plan.HeldBatch{
			{ID: "aaaaaa", Created: at, Why: "too many", Removals: []plan.HeldRemoval{{Room: "!r:hs", User: "@a:hs", Action: plan.RemoveKick, Reason: "left"}}},
			{ID: "bbbbbb", Created: at, Why: "too many", Removals: []plan.HeldRemoval{{Room: "!r:hs", User: "@b:hs", Action: plan.RemoveBan, Reason: "left"}}},
		} {
			if _, _, err := s.HoldBatch(ctx, b); err != nil {
				return err
			}
		}
		return s.DecideBatch(ctx, "bbbbbb", plan.BatchHeld, plan.BatchRejected, "@ops:hs")
	},
	"held_removals": func(context.Context, *SQLite, time.Time) error { return nil }, // filled with held_batches
	"scim_users": func(ctx context.Context, s *SQLite, at time.Time) error {
		for i, u := range []scimstate.User{
			{ID: "u-1", UserName: "alice", ExternalID: "uid-1", Active: true, DisplayName: "Alice", Created: at, Modified: at},
			{ID: "u-2", UserName: "bob", Active: false, Emails: []scimstate.Email{{Value: "bob@example.org", Primary: true}}, Created: at, Modified: at},
		} {
			if err := s.ApplySCIM(ctx, scimstate.Change{Base: int64(i), At: at, PutUser: &u}); err != nil {
				return err
			}
		}
		g := scimstate.Group{ID: "g-1", DisplayName: "staff", ExternalID: "pk-1", Created: at, Modified: at}
		return s.ApplySCIM(ctx, scimstate.Change{Base: 2, At: at, Settled: at, PutGroup: &g, MembersOf: g.ID, AddMembers: []string{"u-1", "u-2"}})
	},
	"scim_groups":  func(context.Context, *SQLite, time.Time) error { return nil }, // filled with scim_users
	"scim_members": func(context.Context, *SQLite, time.Time) error { return nil }, // filled with scim_users
	"scim_meta":    func(context.Context, *SQLite, time.Time) error { return nil }, // filled with scim_users
	"account_lifecycle": func(ctx context.Context, s *SQLite, at time.Time) error {
		return s.PutAccountRecord(ctx, plan.AccountRecord{User: "@gone:hs", DeactivatedAt: at, Deleted: true, LockedByBot: true, LockedAt: at.Add(time.Hour)})
	},
	"synced_profiles": func(ctx context.Context, s *SQLite, _ time.Time) error {
		return s.PutSyncedProfile(ctx, "@a:hs", plan.FieldDisplayName, "Alice A")
	},
}

func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for _, name := range slices.Sorted(maps.Keys(fillers)) {
		if err := fillers[name](ctx, src, at); err != nil {
			t.Fatalf("fill %s: %v", name, err)
		}
	}
	url := pg.Get(t).Database(t)
	opts := PostgresOptions{URL: url, DataDir: t.TempDir(), BackupRetention: 1}

	if _, err := CopySQLiteToPostgres(ctx, "sqlite-dir-in-use", opts, false); err == nil {
		t.Error("copy from a missing file succeeded")
	}
	if _, err := CopySQLiteToPostgres(ctx, dir, opts, false); err == nil || !strings.Contains(err.Error(), "another authentik-matrix-sync") {
		t.Fatalf("copy while the SQLite bot runs = %v, want a refusal", err)
	}
	wantRows := dumpTables(t, src.db)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	counts, err := CopySQLiteToPostgres(ctx, dir, opts, false)
	if err != nil {
		t.Fatalf("CopySQLiteToPostgres: %v", err)
	}
	dst := openPostgresTest(t, opts)

	// Every table of the Postgres schema, as its catalog lists it, must have been copied, and the
	// fixture must have put rows into it, or a copy that skipped it would go unnoticed.
	var schemaTables []string
	rows, err := dst.db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
WHERE table_schema = $1 AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_version', 'schema_compat') ORDER BY table_name`, dst.schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		schemaTables = append(schemaTables, n)
	}
	rows.Close()
	if copied := slices.Sorted(maps.Keys(counts)); !slices.Equal(copied, schemaTables) {
		t.Errorf("copied tables %v, but the schema has %v", copied, schemaTables)
	}
	for _, n := range schemaTables {
		if _, ok := fillers[n]; !ok {
			t.Errorf("table %s has no filler in copy_test.go: add one that stores a row in it", n)
		}
		if counts[n] == 0 {
			t.Errorf("table %s was copied empty: the fixture must fill every table", n)
		}
	}
	for n, rs := range wantRows {
		if counts[n] != len(rs) {
			t.Errorf("counts[%s] = %d, the SQLite file holds %d", n, counts[n], len(rs))
		}
	}
	if got := dumpTables(t, dst.db); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("copied rows differ:\n got  %v\n want %v", got, wantRows)
	}
	if s := counts.String(); !strings.Contains(s, "3 removals") || !strings.Contains(s, "2 audit log") {
		t.Errorf("counts read %q", s)
	}

	// The identities continue after the copied ids: inserts after the copy neither collide nor
	// reuse an id.
	if err := dst.RecordRemoval(ctx, plan.Removal{Room: "!r:hs", User: "@b:hs", Action: plan.RemoveBan, At: at.Add(time.Minute)}); err != nil {
		t.Errorf("a removal after the copy: %v", err)
	}
	if err := dst.AppendAudit(ctx, plan.AuditEntry{Actor: "@ops:hs", Command: "resume", Result: "ok"}); err != nil {
		t.Errorf("an audit entry after the copy: %v", err)
	}
	for table, want := range map[string]int{"removals": 4, "audit_log": 3} {
		if got := queryInt(t, dst.db, "SELECT MAX(id) FROM "+table); got != want {
			t.Errorf("after one insert the largest %s id is %d, want %d", table, got, want)
		}
	}

	if _, err := CopySQLiteToPostgres(ctx, dir, opts, false); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("copy into a non-empty target = %v, want a refusal mentioning -force", err)
	}
	if again, err := CopySQLiteToPostgres(ctx, dir, opts, true); err != nil || !reflect.DeepEqual(again, counts) {
		t.Fatalf("copy with replace = %v, %v; want %v", again, err, counts)
	}
	if got := dumpTables(t, dst.db); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("rows after a copy with replace differ:\n got  %v\n want %v", got, wantRows)
	}
}

// dumpTables reads every state table of a store as sorted lines of text, the same for SQLite
// and Postgres: integers in decimal, booleans as 0 or 1, NULL as NULL.
func dumpTables(t *testing.T, db *sql.DB) map[string][]string {
	t.Helper()
	ctx := t.Context()
	tables, err := queryStrings(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name NOT IN ('schema_version', 'schema_compat')`)
	if err != nil { // Postgres
		tables, err = queryStrings(ctx, db, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name NOT IN ('schema_version', 'schema_compat')`)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+pgx.Identifier{table}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fields := make([]string, len(cols))
			for i, v := range vals {
				switch v := v.(type) {
				case nil:
					fields[i] = cols[i] + "=NULL"
				case bool:
					fields[i] = fmt.Sprintf("%s=%d", cols[i], map[bool]int{false: 0, true: 1}[v])
				case []byte:
					fields[i] = cols[i] + "=" + string(v)
				default:
					fields[i] = fmt.Sprintf("%s=%v", cols[i], v)
				}
			}
			slices.Sort(fields)
			out[table] = append(out[table], strings.Join(fields, " "))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

func TestParentsFirst(t *testing.T) {
	tests := []struct {
		name    string
		tables  map[string]tableShape
		want    []string
		wantErr bool
	}{
		{"children after parents, ties by name", map[string]tableShape{
			"held_removals": {parents: []string{"held_batches"}}, "held_batches": {},
			"pending_removals": {parents: []string{"managed_members"}}, "managed_members": {}, "audit_log": {},
		}, []string{"audit_log", "held_batches", "held_removals", "managed_members", "pending_removals"}, false},
		{"a self-reference and a key outside the state are no obstacle", map[string]tableShape{
			"tree": {parents: []string{"tree", "elsewhere"}},
		}, []string{"tree"}, false},
		{"a cycle is refused", map[string]tableShape{
			"a": {parents: []string{"b"}}, "b": {parents: []string{"a"}},
		}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parentsFirst(tt.tables)
			if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
				t.Errorf("parentsFirst = %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCopyPlanRefusesSchemasThatDiffer(t *testing.T) {
	src := map[string]tableShape{"a": {columns: []string{"x", "y"}}, "b": {columns: []string{"z"}}}
	tests := []struct {
		name string
		dst  map[string]tableShape
		want string
	}{
		{"a table only in SQLite", map[string]tableShape{"a": {columns: []string{"y", "x"}}}, "table b is missing in Postgres"},
		{"a table only in Postgres", map[string]tableShape{"a": {columns: []string{"x", "y"}}, "b": {columns: []string{"z"}}, "c": {}}, "table c is missing in SQLite"},
		{"a column only in Postgres", map[string]tableShape{"a": {columns: []string{"x", "y", "w"}}, "b": {columns: []string{"z"}}}, "table a has columns (x, y) in SQLite but (w, x, y) in Postgres"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := copyPlan(src, tt.dst); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("copyPlan = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	planned, err := copyPlan(src, map[string]tableShape{
		"a": {columns: []string{"y", "x"}, identity: []string{"x"}, types: map[string]string{"y": "boolean", "x": "bigint"}},
		"b": {columns: []string{"z"}, parents: []string{"a"}},
	})
	want := []copiedTable{{name: "a", columns: []string{"y", "x"}, identity: []string{"x"}, boolean: []bool{true, false}},
		{name: "b", columns: []string{"z"}, boolean: []bool{false}}}
	if err != nil || !reflect.DeepEqual(planned, want) {
		t.Errorf("copyPlan = %+v, %v; want %+v", planned, err, want)
	}
}
