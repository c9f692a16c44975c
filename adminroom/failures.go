package adminroom

import "authentik-matrix-sync/reconcile"

// maxListedFailures keeps a notice about a broken homeserver readable.
const maxListedFailures = 10

// noticeFailedWrites posts once when room changes start failing (the homeserver errs, or
// refuses the bot) and once when they all succeed again; the failures in between are retried
// every cycle without a notice each time.
func (b *Bot) noticeFailedWrites(failed []reconcile.AppliedWrite) {
	b.track("writes", len(failed) > 0,
		func(t *text) {
			t.head("Homeserver: %s failed", fmtCount(len(failed), "room change", "room changes"))
			for i, w := range failed {
				if i == maxListedFailures {
					t.item("… and %d more", len(failed)-maxListedFailures)
					break
				}
				t.item("%s %s in %s: %s", w.Kind, w.Target.User, w.Target.Room, w.Reason)
			}
			t.line("They are retried every cycle and recorded only once they succeed; pending removals stay pending. See the log for the homeserver's answer.")
		},
		func(t *text) { t.head("Homeserver: room changes succeed again.") })
}
