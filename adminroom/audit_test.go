package adminroom

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

const ghost = id.UserID("@ghost:hs")

func openAuditStore(t *testing.T) *store.SQLite {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), store.Options{DataDir: filepath.Join(t.TempDir(), "data"), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// cycleAt is cycle n of a bot with a one-minute interval, with the given writes.
func cycleAt(n int, writes ...reconcile.AppliedWrite) reconcile.CycleResult {
	return reconcile.CycleResult{ID: fmt.Sprintf("c%d", n), Started: time.Date(2026, 11, 26, 12, n, 0, 0, time.UTC), Writes: writes}
}

func TestCycleAuditWritesEachSkipOnce(t *testing.T) {
	st := openAuditStore(t)
	a := NewCycleAudit(AuditOptions{Store: st, Log: zerolog.Nop()})
	ctx := context.Background()
	skipGhost := reconcile.AppliedWrite{Kind: "force_join", Target: plan.RoomUser{Room: roomA, User: ghost},
		Reason: "member of Authentik group staff", Result: reconcile.ResultSkipped}
	kick := reconcile.AppliedWrite{Kind: "kick", Target: plan.RoomUser{Room: roomA, User: alice}, Reason: "left staff", Result: reconcile.ResultOK}
	a.record(ctx, cycleAt(1, skipGhost, kick))
	for n := 2; n <= 60; n++ {
		a.record(ctx, cycleAt(n, skipGhost))
	}
	got, err := st.Audit(ctx, ghost, 100)
	if err != nil || len(got) != 1 {
		t.Fatalf("after 60 cycles skipping ghost: %d entries (%+v), %v; want 1", len(got), got, err)
	}
	if got[0].Actor != "cycle c1" || got[0].Command != "force_join: member of Authentik group staff" || got[0].Result != reconcile.ResultSkipped {
		t.Errorf("ghost's entry: %+v", got[0])
	}
	kicked, err := st.Audit(ctx, alice, 5)
	if err != nil || len(kicked) != 1 || kicked[0].Actor != "cycle c1" || kicked[0].Room != roomA || kicked[0].Command != "kick: left staff" {
		t.Errorf("audit of a kicked user: %+v, %v", kicked, err)
	}
}

func TestCycleAuditPrunesByAgeAndSize(t *testing.T) {
	st := openAuditStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	var entries []plan.AuditEntry
	for day := 10; day >= 0; day-- {
		entries = append(entries, plan.AuditEntry{At: now.AddDate(0, 0, -day), Actor: "@op:hs", Command: fmt.Sprintf("day -%d", day), Result: "ok"})
	}
	if err := st.AppendAudit(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		es, err := st.Audit(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
	NewCycleAudit(AuditOptions{Store: st, Now: func() time.Time { return now }, Log: zerolog.Nop()}).prune(ctx)
	if n := count(); n != 11 {
		t.Fatalf("without bounds pruning left %d of 11", n)
	}
	NewCycleAudit(AuditOptions{Store: st, MaxAge: 7 * 24 * time.Hour, Now: func() time.Time { return now }, Log: zerolog.Nop()}).prune(ctx)
	if n := count(); n != 8 {
		t.Fatalf("a week's age limit left %d entries, want 8 (today and the 7 days before)", n)
	}
	NewCycleAudit(AuditOptions{Store: st, MaxAge: 7 * 24 * time.Hour, MaxRows: 3, Now: func() time.Time { return now }, Log: zerolog.Nop()}).prune(ctx)
	es, err := st.Audit(ctx, "", 100)
	if err != nil || len(es) != 3 || es[0].Command != "day -0" || es[2].Command != "day -2" {
		t.Errorf("keeping 3 left %+v, %v; want the newest 3", es, err)
	}
}

func TestCycleAuditRunWritesAndPrunes(t *testing.T) {
	st := openAuditStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if err := st.AppendAudit(ctx, plan.AuditEntry{At: now.AddDate(-1, 0, 0), Actor: "@op:hs", Command: "pause", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	a := NewCycleAudit(AuditOptions{Store: st, MaxAge: 90 * 24 * time.Hour, Now: func() time.Time { return now }, Log: zerolog.Nop()})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	a.CycleFinished(cycleAt(1, reconcile.AppliedWrite{Kind: "invite", Target: plan.RoomUser{Room: roomA, User: alice},
		Reason: "member of Authentik group staff", Result: reconcile.ResultOK}), reconcile.CycleStats{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		es, err := st.Audit(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 && es[0].Target == alice {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log %+v; want the year-old entry pruned and the cycle's invite written", es)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
