package app

import (
	"errors"
	"testing"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
)

func TestPlanSteeringReadsTheStoredDecisions(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, store.Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutExemption(ctx, plan.Exemption{User: "@bob:hs", By: "@ops:hs", Reason: "exempt"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPaused(ctx, true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		adminRoom string
		want      bool
	}{
		{"an admin room: the stored decisions, as the bot reads them", "!admin:hs", true},
		{"no admin room: none, as the bot has none", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{}
			cfg.Admin.Room = tt.adminRoom
			s := planSteering(cfg, st)
			if (s != nil) != tt.want {
				t.Fatalf("planSteering = %v, want one: %v", s, tt.want)
			}
			if s == nil {
				return
			}
			ex, err := s.Exemptions(ctx)
			if err != nil || len(ex) != 1 || ex[0].User != "@bob:hs" {
				t.Errorf("Exemptions = %+v, %v", ex, err)
			}
			if p, err := s.Paused(ctx); err != nil || !p {
				t.Errorf("Paused = %v, %v", p, err)
			}
			if _, err := s.HoldRemovals(ctx, plan.HeldBatch{ID: "x"}); !errors.Is(err, errPreviewOnly) {
				t.Errorf("HoldRemovals = %v, want errPreviewOnly", err)
			}
		})
	}
}
