package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

func TestAuditLogIsKeptWithoutAnAdminRoom(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := &config.Config{Audit: config.AuditConfig{MaxAge: config.DefaultAuditMaxAge, MaxRows: config.DefaultAuditMaxRows}}
	st, err := store.OpenSQLite(ctx, store.Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The same wiring as runBot's, with no admin room configured.
	admin, err := newAdminRoom(ctx, cfg, nil, st, newMetrics(), plan.Policy{}, time.Now(), zerolog.Nop())
	if err != nil || admin != nil {
		t.Fatalf("newAdminRoom without admin.room = %v, %v; want none", admin, err)
	}
	stopped := make(chan error, 1)
	audit, err := startAuditLog(ctx, cfg, st, zerolog.Nop(), func(f func() error) { go func() { stopped <- f() }() })
	if err != nil {
		t.Fatal(err)
	}
	obs := admin.observer(observers{newMetrics(), audit})
	ghost := reconcile.AppliedWrite{Kind: "force_join", Target: plan.RoomUser{Room: "!r:hs", User: "@ghost:hs"},
		Reason: "member of Authentik group staff", Result: reconcile.ResultSkipped}
	bob := reconcile.AppliedWrite{Kind: "force_join", Target: plan.RoomUser{Room: "!r:hs", User: "@bob:hs"},
		Reason: "member of Authentik group staff", Result: reconcile.ResultOK}
	started := time.Now().Add(-time.Hour)
	for i := range 5 {
		writes := []reconcile.AppliedWrite{ghost}
		if i == 0 {
			writes = append(writes, bob)
		}
		obs.CycleFinished(reconcile.CycleResult{ID: fmt.Sprintf("c%d", i), Started: started.Add(time.Duration(i) * time.Minute), Writes: writes}, reconcile.CycleStats{})
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := st.Audit(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == 2 && all[0].Actor == "cycle c0" && all[1].Actor == "cycle c0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log %+v; want bob's join and ghost's skip, once each", all)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("the audit writer stopped with %v", err)
	}
	// Every cycle was written by the time the writer stopped: five skips of ghost are one entry.
	if all, err := st.Audit(t.Context(), "", 100); err != nil || len(all) != 2 {
		t.Errorf("audit log after five cycles: %+v, %v; want 2 entries", all, err)
	}
}
