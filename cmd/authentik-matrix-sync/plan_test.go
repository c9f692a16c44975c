package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
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

func TestHealthcheckFlagAfterTheCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every check fails
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	content := `homeserver: {address: "http://127.0.0.1:1"}
matrix: {user_id: "@bot:example.org", access_token: "x"}
authentik: {url: "http://127.0.0.1:1", token: "y"}
metrics: {listen: "` + addr + `"}
`
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// A failed check exits 1; a flag that did not parse would exit 2.
	for _, args := range [][]string{{"-c", cfg, "healthcheck"}, {"-c", cfg, "healthcheck", "-live"}, {"healthcheck", "-live", "-c", cfg}} {
		if code := run(args); code != 1 {
			t.Errorf("run(%v) = %d, want 1", args, code)
		}
	}
	if code := run([]string{"-c", cfg, "healthcheck", "extra"}); code != 2 {
		t.Errorf("an extra argument after the command: exit %d, want 2", code)
	}
}
