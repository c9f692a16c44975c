package adminroom

import (
	"context"
	"slices"
	"strings"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// afterCycle posts what operators must see of a finished cycle: one grouped notice per cycle
// for removals, and a notice when something starts or stops failing. CycleAudit writes the
// cycle's room changes to the audit log.
func (b *Bot) afterCycle(ctx context.Context, rep cycleReport) {
	res := rep.res
	if !res.Paused {
		b.mu.Lock()
		st := rep.stats
		b.stats = &st
		b.mu.Unlock()
	}
	var removed, held, failed []reconcile.AppliedWrite
	for _, w := range res.Writes {
		if w.Result == reconcile.ResultFailed {
			// A failing homeserver fails the same writes every cycle: they are told once, below.
			failed = append(failed, w)
			continue
		}
		if w.Kind == (plan.Kick{}).Kind() || w.Kind == (plan.Ban{}).Kind() {
			if w.Result == reconcile.ResultSkipped {
				held = append(held, w)
			} else {
				removed = append(removed, w)
			}
		}
	}
	if len(removed) > 0 {
		var t text
		t.head("Removed %s (cycle %s)", fmtCount(len(removed), "user", "users"), res.ID)
		for _, w := range removed {
			t.item("%s %s from %s: %s", w.Kind, w.Target.User, w.Target.Room, w.Reason)
		}
		b.notify(t.reply())
	}
	b.noticeFailedWrites(failed)
	b.track("backup", len(held) > 0,
		func(t *text) {
			t.head("State backup failed: %s held", fmtCount(len(held), "removal", "removals")).
				line("Removals wait until a backup succeeds; check the data directory's space and permissions.")
		},
		func(t *text) { t.head("State backups work again; held removals run.") })

	failingGroups := b.unreadGroups(rep)
	b.track("authentik", len(failingGroups) > 0 || res.Err != nil && strings.Contains(res.Err.Error(), "authentik"),
		func(t *text) {
			t.head("Authentik: %s could not be read", fmtCount(len(failingGroups), "group", "groups"))
			for _, g := range failingGroups {
				t.item("%s", g)
			}
			t.line("Nobody is removed in their rooms until they are read again; a group that was renamed or deleted needs its mapping fixed.")
		},
		func(t *text) { t.head("Authentik: every mapped group reads again.") })

	var unreadable []string
	for _, w := range res.Warnings {
		if w.User == "" && strings.Contains(w.Message, "room state unreadable") {
			unreadable = append(unreadable, w.String())
		}
	}
	b.track("homeserver", len(unreadable) > 0,
		func(t *text) {
			t.head("Homeserver: %s could not be read", fmtCount(len(unreadable), "room", "rooms"))
			for _, u := range unreadable {
				t.item("%s", u)
			}
		},
		func(t *text) { t.head("Homeserver: every mapped room reads again.") })
	b.noticeMissingAccounts(res)
}

// unreadGroups lists the mapped groups the cycle could not read completely.
func (b *Bot) unreadGroups(rep cycleReport) []string {
	if rep.res.Paused || rep.res.Err != nil {
		return nil
	}
	var out []string
	for _, m := range b.opts.Policy.Mappings {
		if _, ok := rep.stats.GroupMembers[m.Group]; !ok && !slices.Contains(out, m.Group) {
			out = append(out, m.Group)
		}
	}
	slices.Sort(out)
	return out
}

// track posts a notice when what starts failing, and one when it recovers; never in between.
func (b *Bot) track(what string, failing bool, started, recovered func(*text)) {
	b.mu.Lock()
	_, was := b.failing[what]
	switch {
	case failing && !was:
		b.failing[what] = "failing"
	case !failing && was:
		delete(b.failing, what)
	}
	b.mu.Unlock()
	var t text
	switch {
	case failing && !was:
		started(&t)
	case !failing && was:
		recovered(&t)
	default:
		return
	}
	b.notify(t.reply())
}

// noticeMissingAccounts posts, once per user while the process runs, the users skipped for lack
// of a Matrix account.
func (b *Bot) noticeMissingAccounts(res reconcile.CycleResult) {
	var fresh []string
	b.mu.Lock()
	for _, u := range res.NoAccount {
		if !b.noAccount[u] {
			b.noAccount[u] = true
			fresh = append(fresh, string(u))
		}
	}
	b.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	slices.Sort(fresh)
	var t text
	t.head("%s without a Matrix account yet", fmtCount(len(fresh), "user", "users"))
	for _, u := range fresh {
		t.item("%s", u)
	}
	t.line("They are added once they sign in; the bot never creates accounts.")
	b.notify(t.reply())
}
