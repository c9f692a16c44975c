package adminroom

import (
	"context"
	"strings"
	"testing"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

func TestFailedWritesAreToldOnceAndRecoveryOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	known := reconcile.CycleStats{GroupMembers: map[string]int{"staff": 3}}
	failedKick := reconcile.AppliedWrite{Kind: "kick", Target: plan.RoomUser{Room: roomA, User: alice}, Reason: "left staff", Result: reconcile.ResultFailed}
	okKick := failedKick
	okKick.Result = reconcile.ResultOK
	steps := []struct {
		name  string
		res   reconcile.CycleResult
		wants []string
	}{
		{"the kick fails", reconcile.CycleResult{ID: "c1", Writes: []reconcile.AppliedWrite{failedKick}}, []string{"Homeserver: 1 room change failed"}},
		{"it fails again: nothing new", reconcile.CycleResult{ID: "c2", Writes: []reconcile.AppliedWrite{failedKick}}, nil},
		{"and again", reconcile.CycleResult{ID: "c3", Writes: []reconcile.AppliedWrite{failedKick}}, nil},
		{"it goes through", reconcile.CycleResult{ID: "c4", Writes: []reconcile.AppliedWrite{okKick}}, []string{"Removed 1 user (cycle c4)", "room changes succeed again"}},
	}
	for _, s := range steps {
		f.bot.afterCycle(ctx, cycleReport{s.res, known})
		got := drain(f.bot)
		if len(got) != len(s.wants) {
			t.Fatalf("%s: notices %q, want %d", s.name, got, len(s.wants))
		}
		for i, w := range s.wants {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: notice %q lacks %q", s.name, got[i], w)
			}
		}
	}
}
