package store

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	syncer "authentik-matrix-sync/sync"
)

func TestCopySQLiteToPostgres(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := openTest(t, Options{DataDir: dir, BackupRetention: 1})
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for _, u := range []string{"@a:hs", "@b:hs", "@c:hs"} {
		m := syncer.ManagedMember{Room: "!r:hs", User: idUser(u), DesiredSince: at}
		if err := src.PutMember(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.PutPending(ctx, syncer.PendingRemoval{Room: "!r:hs", User: "@a:hs", DueAt: at.Add(time.Hour), CreatedAt: at, Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := src.RecordRemoval(ctx, syncer.Removal{Room: "!old:hs", User: "@gone:hs", Action: syncer.RemoveKick, Reason: "x", At: at.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.MarkMissingAccount(ctx, "@nobody:hs"); err != nil {
		t.Fatal(err)
	}
	wantState, err := src.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantRemovals, err := src.Removals(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	url := pg.Get(t).Database(t)
	opts := PostgresOptions{URL: url, DataDir: t.TempDir(), BackupRetention: 1}

	if _, err := CopySQLiteToPostgres(ctx, "sqlite-dir-in-use", opts, false); err == nil {
		t.Error("copy from a missing file succeeded")
	}
	if _, err := CopySQLiteToPostgres(ctx, dir, opts, false); err == nil || !strings.Contains(err.Error(), "another authentik-matrix-sync") {
		t.Fatalf("copy while the SQLite bot runs = %v, want a refusal", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	counts, err := CopySQLiteToPostgres(ctx, dir, opts, false)
	if err != nil {
		t.Fatalf("CopySQLiteToPostgres: %v", err)
	}
	want := Counts{"managed_members": 3, "pending_removals": 1, "removals": 3, "missing_accounts": 1}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	dst := openPostgresTest(t, opts)
	gotState, gotRemovals, _ := everything(t, dst)
	if !reflect.DeepEqual(gotState, wantState) || !reflect.DeepEqual(gotRemovals, wantRemovals) {
		t.Errorf("copied state differs:\n got  %+v %+v\n want %+v %+v", gotState, gotRemovals, wantState, wantRemovals)
	}
	if err := dst.RecordRemoval(ctx, syncer.Removal{Room: "!r:hs", User: "@b:hs", Action: syncer.RemoveBan, At: at.Add(time.Minute)}); err != nil {
		t.Errorf("a removal after the copy (the identity must continue after the copied ids): %v", err)
	}

	if _, err := CopySQLiteToPostgres(ctx, dir, opts, false); err == nil || !strings.Contains(err.Error(), "-force") {
		t.Fatalf("copy into a non-empty target = %v, want a refusal mentioning -force", err)
	}
	if counts, err := CopySQLiteToPostgres(ctx, dir, opts, true); err != nil || !reflect.DeepEqual(counts, want) {
		t.Fatalf("copy with replace = %v, %v; want %v", counts, err, want)
	}
}

func idUser(s string) (u id.UserID) { return id.UserID(s) }
