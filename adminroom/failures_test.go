package adminroom

import (
	"context"
	"strings"
	"testing"

	"authentik-matrix-sync/plan"
	syncer "authentik-matrix-sync/sync"
)

func TestFailedWritesAreToldOnceAndRecoveryOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	known := syncer.CycleStats{GroupMembers: map[string]int{"staff": 3}}
	failedKick := syncer.AppliedWrite{Kind: "kick", Target: plan.RoomUser{Room: roomA, User: alice}, Reason: "left staff", Result: syncer.ResultFailed}
	okKick := failedKick
	okKick.Result = syncer.ResultOK
	steps := []struct {
		name  string
		res   syncer.CycleResult
		wants []string
	}{
		{"the kick fails", syncer.CycleResult{ID: "c1", Writes: []syncer.AppliedWrite{failedKick}}, []string{"Homeserver: 1 room change failed"}},
		{"it fails again: nothing new", syncer.CycleResult{ID: "c2", Writes: []syncer.AppliedWrite{failedKick}}, nil},
		{"and again", syncer.CycleResult{ID: "c3", Writes: []syncer.AppliedWrite{failedKick}}, nil},
		{"it goes through", syncer.CycleResult{ID: "c4", Writes: []syncer.AppliedWrite{okKick}}, []string{"Removed 1 user (cycle c4)", "room changes succeed again"}},
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
