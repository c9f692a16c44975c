package store

import (
	"maps"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// TestCountState checks that both stores count per room exactly what LoadState holds.
func TestCountState(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) reconcile.Store
	}{
		{"sqlite", func(t *testing.T) reconcile.Store {
			return openTest(t, Options{DataDir: t.TempDir(), BackupRetention: 1})
		}},
		{"postgres", func(t *testing.T) reconcile.Store {
			return openPostgresTest(t, PostgresOptions{URL: pg.Get(t).Database(t)})
		}},
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.open(t)
			ctx := t.Context()
			members, pending, err := s.CountState(ctx)
			if err != nil || len(members) != 0 || len(pending) != 0 {
				t.Fatalf("empty store: CountState = %v, %v, %v; want two empty maps", members, pending, err)
			}
			for _, m := range []struct {
				room id.RoomID
				user id.UserID
				due  bool
			}{{"!a:x", "@1:x", true}, {"!a:x", "@2:x", false}, {"!a:x", "@3:x", true}, {"!b:x", "@1:x", false}} {
				if err := s.PutMember(ctx, plan.ManagedMember{Room: m.room, User: m.user, DesiredSince: now}); err != nil {
					t.Fatal(err)
				}
				if m.due {
					if err := s.PutPending(ctx, plan.PendingRemoval{Room: m.room, User: m.user, DueAt: now, CreatedAt: now, Reason: "r"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.ForgetMember(ctx, "!a:x", "@3:x"); err != nil {
				t.Fatal(err)
			}
			members, pending, err = s.CountState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantMembers, wantPending := map[id.RoomID]int{"!a:x": 2, "!b:x": 1}, map[id.RoomID]int{"!a:x": 1}
			if !maps.Equal(members, wantMembers) || !maps.Equal(pending, wantPending) {
				t.Errorf("CountState = %v, %v; want %v, %v", members, pending, wantMembers, wantPending)
			}
		})
	}
}
