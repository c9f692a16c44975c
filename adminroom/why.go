package adminroom

import (
	"context"
	"strings"

	"maunium.net/go/mautrix/id"
)

// whyRoomsShown bounds the rooms one !sync why reply explains.
const whyRoomsShown = 25

// why explains one user, room by room, from a fresh preview (the same observation and plan as
// !sync plan) and the user's latest audit entry; nothing is changed.
func (b *Bot) why(ctx context.Context, req Request) Reply {
	user, room := id.UserID(req.arg(0)), id.RoomID(req.arg(1))
	rec := b.reconciler()
	if rec == nil {
		return describeErr("why", errNoCycles)
	}
	snap, err := rec.Snapshot(ctx)
	if err != nil {
		return describeErr("why", err)
	}
	audit, err := b.opts.Store.Audit(ctx, user, 1)
	if err != nil {
		return describeErr("why", err)
	}
	s := snap.Explain(user, room, audit).Summary(b.opts.Now())
	var t text
	t.head("%s", s.Head)
	for i, r := range s.Rooms {
		if i == whyRoomsShown {
			// A Matrix event holds 64 KiB: hundreds of rooms would not fit in one reply.
			t.line("… and %s; ask about one with %s why %s !room:server", fmtCount(len(s.Rooms)-i, "more room", "more rooms"), b.opts.Prefix, user)
			break
		}
		title := r.Title
		if r.Room != "" {
			title = strings.Replace(title, string(r.Room), b.roomLabel(ctx, r.Room), 1)
		}
		t.line("%s", title)
		for _, l := range r.Lines {
			t.item("%s", l)
		}
	}
	if len(s.Account.Lines) > 0 {
		t.line("%s", s.Account.Title)
		for _, l := range s.Account.Lines {
			t.item("%s", l)
		}
	}
	if s.Folded != "" {
		t.line("%s", s.Folded)
	}
	if s.LastAction != "" {
		t.line("%s", s.LastAction)
	}
	t.line("Nothing was changed.")
	return t.reply()
}

// protectedLine adds the protected users and patterns to a status reply.
func (b *Bot) protectedLine(t *text) {
	if p := b.opts.Policy.Protected; !p.Empty() {
		t.line("Protected (protected_users, never removed, banned, demoted or locked): %s", strings.Join(p.Entries(), ", "))
	}
}
