package app

import (
	"context"
	"fmt"
	"io"
	"strings"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// protection is protected_users as the planner holds it; nil when none are configured.
func protection(cfg *config.Config) *plan.Protection {
	entries := cfg.Protected()
	if len(entries) == 0 {
		return nil
	}
	p := &plan.Protection{IDs: map[id.UserID]bool{}}
	for _, e := range entries {
		if e.Pattern != nil {
			p.Patterns = append(p.Patterns, e.Pattern)
		} else {
			p.IDs[e.User] = true
		}
	}
	return p
}

// WhyRequest is plan -why: the user to explain, and the one room to explain them in ("" for
// every mapped room).
type WhyRequest struct {
	User id.UserID
	Room id.RoomID
}

// auditReader is the part of the store holding the audit log.
type auditReader interface {
	Audit(ctx context.Context, target id.UserID, limit int) ([]plan.AuditEntry, error)
}

// printWhy prints, like !sync why, where one user stands in each mapped room and why, from the
// same preview the plan comes from; nothing is written.
func printWhy(ctx context.Context, rec *reconcile.Reconciler, st any, why WhyRequest, namer *roomNamer, out io.Writer) error {
	if _, _, err := why.User.ParseAndValidateRelaxed(); err != nil {
		return fmt.Errorf("plan -why %q: not a Matrix user ID; write it as @localpart:server", why.User)
	}
	if why.Room != "" && !strings.HasPrefix(string(why.Room), "!") {
		return fmt.Errorf("plan -room %q: not a room ID nor an alias; write it as !id:server or #alias:server", why.Room)
	}
	snap, err := rec.Snapshot(ctx)
	if err != nil {
		return err
	}
	var audit []plan.AuditEntry
	if a, ok := st.(auditReader); ok {
		if audit, err = a.Audit(ctx, why.User, 1); err != nil {
			return fmt.Errorf("read the audit log of %s: %w", why.User, err)
		}
	}
	s := snap.Explain(why.User, why.Room, audit).Summary(snap.At)
	fmt.Fprintln(out, s.Head)
	var rooms []id.RoomID
	for _, r := range s.Rooms {
		rooms = append(rooms, r.Room)
	}
	if namer != nil {
		out = labelWriter{w: out, r: namer.replacer(ctx, rooms)}
	}
	for _, r := range s.Rooms {
		fmt.Fprintln(out, r.Title)
		for _, l := range r.Lines {
			fmt.Fprintln(out, "  - "+l)
		}
	}
	if len(s.Account.Lines) > 0 {
		fmt.Fprintln(out, s.Account.Title)
		for _, l := range s.Account.Lines {
			fmt.Fprintln(out, "  - "+l)
		}
	}
	if s.Folded != "" {
		fmt.Fprintln(out, s.Folded)
	}
	if s.LastAction != "" {
		fmt.Fprintln(out, s.LastAction)
	}
	fmt.Fprintln(out, "Nothing was changed.")
	return nil
}
