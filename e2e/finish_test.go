package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
)

// TestPlanHonoursStoredExemptions checks that the plan subcommand reads the exemptions an admin
// stored, as the running bot's `!sync plan` does: an exempt user's due removal shows as
// cancelled, not as a kick.
func TestPlanHonoursStoredExemptions(t *testing.T) {
	ctx := context.Background()
	room := newRoom(t, false, "plan-exempt")
	for _, u := range []string{"alice", "bob"} {
		if err := env.hs.Invite(ctx, env.users["owner"], room, uid(u)); err != nil {
			t.Fatal(err)
		}
		if err := env.hs.Join(ctx, env.users[u], room); err != nil {
			t.Fatal(err)
		}
	}
	ak := directory(t, "plan-staff") // alice and bob have left the group
	dataDir := filepath.Join(t.TempDir(), "data")
	st, err := store.OpenSQLite(ctx, store.Options{DataDir: dataDir, BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-48 * time.Hour)
	for _, u := range []id.UserID{uid("alice"), uid("bob")} {
		if err := st.PutMember(ctx, plan.ManagedMember{Room: room, User: u, DesiredSince: long, AddedAt: long}); err != nil {
			t.Fatal(err)
		}
		if err := st.PutPending(ctx, plan.PendingRemoval{Room: room, User: u, DueAt: long.Add(time.Hour), CreatedAt: long, Reason: "no longer in Authentik group plan-staff"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutExemption(ctx, plan.Exemption{User: uid("bob"), By: uid("owner"), Reason: "exempt"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	kickAlice := "kick " + string(uid("alice")) + " in " + string(room)
	kickBob := "kick " + string(uid("bob")) + " in " + string(room)
	cancelBob := "cancel_removal " + string(uid("bob")) + " in " + string(room) + ": exempted by an admin"
	tests := []struct {
		name      string
		adminRoom bool
		want      []string
		wantNot   []string
	}{
		// The running bot's cycles honour the stored exemptions, with or without an admin room
		// (taking the room out of the config must not make bob removable), so plan does too.
		{"with an admin room", true, []string{kickAlice, cancelBob}, []string{kickBob}},
		{"without an admin room", false, []string{kickAlice, cancelBob}, []string{kickBob}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := botConfig{grace: time.Hour, mappings: []mapping{{Group: "plan-staff", Room: room}}}
			if tt.adminRoom {
				cfg.edit = func(conf map[string]any) {
					conf["admin"] = map[string]any{"room": "!plan-admin:" + serverName, "admins": []string{string(uid("owner"))}}
				}
			}
			args, cmdEnv := invocation(t, ak, cfg, dataDir, freeAddr(t))
			out, err := runCommand(t, args, cmdEnv, "plan")
			if err != nil {
				t.Fatalf("plan failed: %v\n%s", err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("plan output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("plan output has %q:\n%s", w, out)
				}
			}
		})
	}
	if m := membership(t, room, uid("alice")); m.Membership != "join" {
		t.Errorf("plan changed the room: alice is %q", m.Membership)
	}
}
