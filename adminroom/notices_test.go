package adminroom

import (
	"context"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

func drain(b *Bot) []string {
	var out []string
	for {
		select {
		case n := <-b.notices:
			out = append(out, n.Plain)
		default:
			return out
		}
	}
}

func TestNoticesAreGroupedAndSentOnChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var writes []reconcile.AppliedWrite
	for i := range 40 {
		u := id.UserID("@u" + itoa(i) + ":hs")
		writes = append(writes, reconcile.AppliedWrite{Kind: "kick", Target: plan.RoomUser{Room: roomA, User: u}, Reason: "left staff", Result: reconcile.ResultOK})
	}
	known := reconcile.CycleStats{GroupMembers: map[string]int{"staff": 3}}
	unknown := reconcile.CycleStats{GroupMembers: map[string]int{}}
	steps := []struct {
		name  string
		rep   cycleReport
		wants []string // one notice per entry, each containing the text
	}{
		{"forty kicks make one notice", cycleReport{reconcile.CycleResult{ID: "c1", Writes: writes}, known}, []string{"Removed 40 users (cycle c1)"}},
		{"a group that cannot be read", cycleReport{reconcile.CycleResult{ID: "c2"}, unknown}, []string{"Authentik: 1 group could not be read"}},
		{"still unreadable: nothing new", cycleReport{reconcile.CycleResult{ID: "c3"}, unknown}, nil},
		{"recovered", cycleReport{reconcile.CycleResult{ID: "c4"}, known}, []string{"every mapped group reads again"}},
		{"missing account", cycleReport{reconcile.CycleResult{ID: "c5", NoAccount: []id.UserID{alice}}, known}, []string{"1 user without a Matrix account yet"}},
		{"missing account again: once per user", cycleReport{reconcile.CycleResult{ID: "c6", NoAccount: []id.UserID{alice}}, known}, nil},
		{"backup failed, removals held", cycleReport{reconcile.CycleResult{ID: "c7", Writes: []reconcile.AppliedWrite{{Kind: "kick", Target: plan.RoomUser{Room: roomA, User: alice}, Result: reconcile.ResultSkipped}}}, known}, []string{"State backup failed: 1 removal held"}},
	}
	for _, s := range steps {
		f.bot.afterCycle(ctx, s.rep)
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

func TestLeaderTakeoverNotice(t *testing.T) {
	f := newFixture(t)
	f.bot.LeaderChanged(true) // already leader: nothing to say
	f.bot.LeaderChanged(false)
	if got := drain(f.bot); len(got) != 0 {
		t.Fatalf("notices %q before a takeover", got)
	}
	if rs := f.say(opUser, "!sync status"); len(rs) != 0 {
		t.Errorf("a standby answered: %v", rs)
	}
	f.bot.LeaderChanged(true)
	if got := drain(f.bot); len(got) != 1 || !strings.Contains(got[0], "took over as leader") {
		t.Errorf("notices %q after a takeover", got)
	}
}
