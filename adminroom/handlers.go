package adminroom

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

const auditLimit = 15

func ago(now, t time.Time) string {
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func cycleLine(c *reconcile.CycleResult) string {
	switch {
	case c.Paused:
		return "paused"
	case c.Err != nil:
		return "failed: " + errText(c.Err)
	}
	var parts []string
	for _, k := range sortedKeys(c.Done) {
		parts = append(parts, k+" "+itoa(c.Done[k]))
	}
	for _, k := range sortedKeys(c.Failed) {
		parts = append(parts, k+" failed "+itoa(c.Failed[k]))
	}
	for _, k := range sortedKeys(c.Skipped) {
		parts = append(parts, k+" skipped "+itoa(c.Skipped[k]))
	}
	if len(parts) == 0 {
		parts = append(parts, "nothing to do")
	}
	res := "ok"
	if !c.Ok() {
		res = "with failures"
	}
	return res + " (" + strings.Join(parts, ", ") + ")"
}

func (b *Bot) status(ctx context.Context, _ Request) Reply {
	var t text
	now := b.opts.Now()
	role := "leader"
	if !b.isLeader() {
		role = "standby (another instance leads)"
	}
	t.head("Status: %s", role)
	if paused, err := b.opts.Store.Paused(ctx); err == nil && paused {
		t.line("PAUSED: no writes until %s resume", b.opts.Prefix)
	}
	rec := b.reconciler()
	var last *reconcile.CycleResult
	if rec != nil {
		last = rec.LastCycle()
	}
	if last == nil {
		t.line("Last cycle: none yet")
	} else {
		t.line("Last cycle: %s, took %s, %s", ago(now, last.Started), last.Duration.Round(time.Millisecond), cycleLine(last))
		next := last.Started.Add(last.Duration + b.opts.Interval)
		if last.NextIn > 0 {
			next = last.Started.Add(last.Duration + last.NextIn)
		}
		t.line("Next run: in %s", max(0, next.Sub(now)).Round(time.Second))
		if last.Outage != "" {
			t.line("Backing off: %s is failing", last.Outage)
		}
	}
	b.mu.Lock()
	stats := b.stats
	b.mu.Unlock()
	for _, m := range b.opts.Policy.Mappings {
		line := m.Group + " → " + string(m.Room) + ": "
		if stats == nil {
			t.item("%s no figures yet", line)
			continue
		}
		size, known := stats.GroupMembers[m.Group]
		group := "group unreadable"
		if known {
			group = "group " + itoa(size)
		}
		line += group + ", managed " + itoa(stats.ManagedMembers[m.Room]) + ", pending " + itoa(stats.PendingRemovals[m.Room])
		if last != nil {
			n := 0
			for _, w := range last.Warnings {
				if w.Room == m.Room {
					n++
				}
			}
			if n > 0 {
				line += ", " + fmtCount(n, "warning", "warnings")
			}
		}
		t.item("%s", line)
	}
	b.protectedLine(&t)
	return t.reply()
}

func (b *Bot) mappings(_ context.Context, _ Request) Reply {
	var t text
	t.head("%s", fmtCount(len(b.opts.Policy.Mappings), "mapping", "mappings"))
	for _, m := range b.opts.Policy.Mappings {
		t.item("%s → %s (%s)", m.Group, m.Room, strings.Join(mappingOptions(m), ", "))
	}
	t.line("Removal: %s after %s", b.opts.Policy.RemoveAction, b.opts.Policy.GracePeriod)
	if rec := b.reconciler(); rec != nil {
		if last := rec.LastCycle(); last != nil && len(last.Children) > 0 {
			spaces := slices.Sorted(maps.Keys(last.Children))
			for _, space := range spaces {
				children := last.Children[space]
				t.line("Space %s: %s synced by the last full cycle", space, fmtCount(len(children), "child room", "child rooms"))
				const shown = 20
				for i, c := range children {
					if i == shown {
						t.item("… and %d more", len(children)-shown)
						break
					}
					t.item("%s", c)
				}
			}
		}
	}
	return t.reply()
}

// mappingOptions says how one mapping differs from plain membership sync, for !sync mappings.
func mappingOptions(m plan.Mapping) []string {
	opts := []string{string(m.Method)}
	if m.Rejoin {
		opts = append(opts, "rejoin")
	}
	if m.PowerLevel > 0 {
		opts = append(opts, "power level "+strconv.Itoa(m.PowerLevel))
	}
	if m.IncludeChildren {
		kind := "with its child rooms"
		if m.Recursive {
			kind = "with its child rooms, recursively"
		}
		opts = append(opts, kind)
	}
	if len(m.Exclude) > 0 {
		opts = append(opts, "excluding "+fmtCount(len(m.Exclude), "room", "rooms"))
	}
	switch {
	case m.NoRemove:
		opts = append(opts, "never removes")
	case m.RemoveAction != "" || m.GracePeriod != nil:
		what := "removal:"
		if m.RemoveAction != "" {
			what += " " + string(m.RemoveAction)
		}
		if m.GracePeriod != nil {
			what += " after " + m.GracePeriod.String()
		}
		opts = append(opts, what)
	}
	return opts
}

func (b *Bot) plan(ctx context.Context, _ Request) Reply {
	rec := b.reconciler()
	if rec == nil {
		return describeErr("plan", errNoCycles)
	}
	p, err := rec.Preview(ctx)
	if err != nil {
		return describeErr("plan", err)
	}
	var t text
	byRoom := map[id.RoomID][]string{}
	var rooms []id.RoomID
	for _, a := range p.Actions {
		if !plan.IsMatrixWrite(a) && a.Kind() != (plan.ScheduleRemoval{}).Kind() {
			continue
		}
		r := a.Target().Room
		if _, ok := byRoom[r]; !ok {
			rooms = append(rooms, r)
		}
		who := string(a.Target().User)
		if who != "" { // a room-wide action (set_power_levels) names its users in its reason
			who = " " + who
		}
		byRoom[r] = append(byRoom[r], a.Kind()+who+": "+a.Why())
	}
	for _, s := range p.Skipped {
		r := s.Action.Target().Room
		if _, ok := byRoom[r]; !ok {
			rooms = append(rooms, r)
		}
		who := string(s.Action.Target().User)
		if sp, ok := s.Action.(plan.SetPowerLevels); ok && len(sp.Changes) == 1 {
			who = string(sp.Changes[0].User)
		}
		byRoom[r] = append(byRoom[r], "skipped "+s.Action.Kind()+" "+who+": "+s.Reason)
	}
	slices.Sort(rooms)
	head := fmtCount(len(p.Actions), "action", "actions")
	if len(p.Skipped) > 0 {
		head += ", " + itoa(len(p.Skipped)) + " skipped"
	}
	t.head("Plan: %s, %s; nothing was changed", head, fmtCount(len(p.Warnings), "warning", "warnings"))
	for _, r := range rooms {
		if r == "" {
			t.line("Accounts") // lock, unlock, logout, profile: no room
		} else {
			t.line("%s", b.roomLabel(ctx, r))
		}
		for _, l := range byRoom[r] {
			t.item("%s", l)
		}
	}
	for _, w := range p.Warnings {
		t.item("warning: %s", w.String())
	}
	return t.reply()
}

func (b *Bot) now(ctx context.Context, req Request) Reply {
	rec := b.reconciler()
	if rec == nil {
		return describeErr("now", errNoCycles)
	}
	if !b.isLeader() {
		return plainReply("This instance is not the leader; the leader runs the cycles.")
	}
	res := rec.RunCycle(ctx)
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "now", Result: "cycle " + res.ID})
	var t text
	t.head("Cycle %s: %s", res.ID, cycleLine(&res))
	t.line("Took %s", res.Duration.Round(time.Millisecond))
	if res.Held != nil && res.Held.Status == plan.BatchHeld {
		t.line("%s held: say %s confirm %s", fmtCount(len(res.Held.Removals), "removal", "removals"), b.opts.Prefix, res.Held.ID)
	}
	for _, w := range res.Warnings {
		t.item("warning: %s", w.String())
	}
	return t.reply()
}

func (b *Bot) pending(ctx context.Context, _ Request) Reply {
	st, err := b.opts.Store.LoadState(ctx)
	if err != nil {
		return describeErr("pending", err)
	}
	list := make([]plan.PendingRemoval, 0, len(st.Pending))
	for _, p := range st.Pending {
		list = append(list, p)
	}
	slices.SortFunc(list, func(a, c plan.PendingRemoval) int { return a.DueAt.Compare(c.DueAt) })
	var t text
	t.head("%s", fmtCount(len(list), "pending removal", "pending removals"))
	now := b.opts.Now()
	for _, p := range list {
		if p.AwaitingRead {
			t.item("%s in %s, waiting for a complete read of the room's groups, then a full grace period: %s", p.User, b.roomLabel(ctx, p.Room), p.Reason)
			continue
		}
		due := "due now"
		if p.DueAt.After(now) {
			due = "due in " + p.DueAt.Sub(now).Round(time.Minute).String()
		}
		t.item("%s in %s, %s (%s UTC): %s", p.User, b.roomLabel(ctx, p.Room), due, p.DueAt.UTC().Format("2006-01-02 15:04"), p.Reason)
	}
	batches, err := b.opts.Store.OpenBatches(ctx)
	if err != nil {
		return describeErr("pending", err)
	}
	for _, hb := range batches {
		t.line("Batch %s (%s, %s): %s", hb.ID, hb.Status, fmtCount(len(hb.Removals), "removal", "removals"), hb.Why)
	}
	return t.reply()
}

// cancelFor drops user's pending removals (in room, or everywhere) and exempts them until they
// are back in a group; it returns the rooms whose removal it dropped.
func (b *Bot) cancelFor(ctx context.Context, by id.UserID, user id.UserID, room id.RoomID, why string) ([]id.RoomID, error) {
	st, err := b.opts.Store.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	var rooms []id.RoomID
	for k := range st.Pending {
		if k.User == user && (room == "" || k.Room == room) {
			rooms = append(rooms, k.Room)
		}
	}
	slices.Sort(rooms)
	if len(rooms) == 0 && room == "" {
		return nil, nil
	}
	// The exemption comes first: a cycle between the two writes must not schedule the removal again.
	if err := b.opts.Store.PutExemption(ctx, plan.Exemption{User: user, Room: room, UntilBack: true, By: by, Reason: why}); err != nil {
		return nil, err
	}
	for _, r := range rooms {
		if err := b.opts.Store.DeletePending(ctx, r, user); err != nil {
			return rooms, err
		}
	}
	return rooms, nil
}

func (b *Bot) cancel(ctx context.Context, req Request) Reply {
	user, room := id.UserID(req.arg(0)), id.RoomID(req.arg(1))
	rooms, err := b.cancelFor(ctx, req.Sender, user, room, "cancel")
	result := "ok"
	if err != nil {
		result = errText(err)
	}
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "cancel", Target: user, Room: room, Result: result})
	if err != nil {
		return describeErr("cancel", err)
	}
	if len(rooms) == 0 && room == "" {
		return plainReply("%s has no pending removal; nothing changed.", user)
	}
	var t text
	t.head("Cancelled %s for %s", fmtCount(len(rooms), "pending removal", "pending removals"), user)
	for _, r := range rooms {
		t.item("%s", r)
	}
	t.line("Exempt until they are back in a group.")
	return t.reply()
}

func (b *Bot) exempt(ctx context.Context, req Request) Reply {
	user, room := id.UserID(req.arg(0)), id.RoomID(req.arg(1))
	err := b.opts.Store.PutExemption(ctx, plan.Exemption{User: user, Room: room, By: req.Sender, Reason: "exempt"})
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "exempt", Target: user, Room: room, Result: resultOf(err)})
	if err != nil {
		return describeErr("exempt", err)
	}
	where := "in every room"
	if room != "" {
		where = "in " + string(room)
	}
	return plainReply("%s is exempt %s: the bot will never remove them there.", user, where)
}

func (b *Bot) unexempt(ctx context.Context, req Request) Reply {
	user := id.UserID(req.arg(0))
	n, err := b.opts.Store.DeleteExemptions(ctx, user)
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "unexempt", Target: user, Result: resultOf(err)})
	if err != nil {
		return describeErr("unexempt", err)
	}
	if n == 0 {
		return plainReply("%s was not exempt; nothing changed.", user)
	}
	return plainReply("%s is no longer exempt (%s lifted).", user, fmtCount(n, "exemption", "exemptions"))
}

func (b *Bot) confirm(ctx context.Context, req Request) Reply {
	batchID := strings.ToLower(req.arg(0))
	err := b.opts.Store.DecideBatch(ctx, batchID, plan.BatchHeld, plan.BatchConfirmed, req.Sender)
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "confirm " + batchID, Result: resultOf(err)})
	if errors.Is(err, reconcile.ErrNoBatch) {
		return plainReply("No held batch %q. Say %s pending to see them.", batchID, b.opts.Prefix)
	}
	if err != nil {
		return describeErr("confirm", err)
	}
	if rec := b.reconciler(); rec != nil {
		rec.Trigger()
	}
	return plainReply("Batch %s confirmed: its removals run in the next cycle, starting now.", batchID)
}

func (b *Bot) reject(ctx context.Context, req Request) Reply {
	batchID := strings.ToLower(req.arg(0))
	hb, err := b.opts.Store.Batch(ctx, batchID)
	if err == nil {
		err = b.opts.Store.DecideBatch(ctx, batchID, plan.BatchHeld, plan.BatchRejected, req.Sender)
	}
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "reject " + batchID, Result: resultOf(err)})
	if errors.Is(err, reconcile.ErrNoBatch) {
		return plainReply("No held batch %q. Say %s pending to see them.", batchID, b.opts.Prefix)
	}
	if err != nil {
		return describeErr("reject", err)
	}
	for _, r := range hb.Removals {
		if r.Room == "" {
			continue // a lock or logout: rejected with the batch, no exemption from removals
		}
		if _, err := b.cancelFor(ctx, req.Sender, r.User, r.Room, "reject "+batchID); err != nil {
			return describeErr("reject", err)
		}
	}
	return plainReply("Batch %s rejected: nobody in it is removed; its %s exempt until back in a group.",
		batchID, fmtCount(len(hb.Removals), "user is", "users are"))
}

func (b *Bot) backup(ctx context.Context, req Request) Reply {
	if b.opts.Backup == nil {
		return plainReply("No backup is configured.")
	}
	path, err := b.opts.Backup.Backup(ctx)
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "backup", Result: resultOf(err)})
	if err != nil {
		return describeErr("backup", err)
	}
	return plainReply("Backup written: %s", filepath.Base(path))
}

func (b *Bot) doctor(ctx context.Context, req Request) Reply {
	if b.opts.Doctor == nil {
		return plainReply("The doctor is not available in this setup; run the doctor subcommand instead.")
	}
	report := b.opts.Doctor(ctx)
	ok := report.OK()
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: "doctor", Result: doctorResult(ok)})
	return renderDoctor(report)
}

// renderDoctor lays a doctor report out for a chat client: what did not pass first, each check in
// bold with its fix under it, then the warnings, then the passing checks as one preformatted
// block, whose columns Element keeps (runs of spaces in inline code it does not).
func renderDoctor(r doctor.Report) Reply {
	var t text
	t.head("Doctor: %s", r.Summary())
	var passed []doctor.Result
	for _, pass := range []func(doctor.Outcome) bool{
		func(o doctor.Outcome) bool { return o == doctor.Fail || o == doctor.Skipped },
		func(o doctor.Outcome) bool { return o == doctor.Warn },
	} {
		for _, res := range r.Results {
			if !pass(res.Outcome) {
				continue
			}
			t.strong(res.Outcome.String()+" "+res.Check, ": "+res.Detail)
			if res.Hint != "" {
				t.item("fix: %s", res.Hint)
			}
		}
	}
	width := 0
	for _, res := range r.Results {
		if res.Outcome == doctor.Pass {
			passed = append(passed, res)
			width = max(width, len(res.Check))
		}
	}
	if len(passed) > 0 {
		lines := make([]string, 0, len(passed))
		for _, res := range passed {
			lines = append(lines, strings.TrimRight(fmt.Sprintf("PASS  %-*s  %s", width, res.Check, res.Detail), " "))
		}
		t.pre(lines)
	}
	return t.reply()
}

func doctorResult(ok bool) string {
	if ok {
		return "ok"
	}
	return "failed checks"
}

func (b *Bot) setPaused(ctx context.Context, req Request, paused bool) Reply {
	err := b.opts.Store.SetPaused(ctx, paused)
	b.audit(ctx, plan.AuditEntry{Actor: string(req.Sender), Command: req.Name, Result: resultOf(err)})
	if err != nil {
		return describeErr(req.Name, err)
	}
	if paused {
		return plainReply("Paused: no invites, joins or removals until %s resume (kept across restarts).", b.opts.Prefix)
	}
	if rec := b.reconciler(); rec != nil {
		rec.Trigger()
	}
	return plainReply("Resumed: a cycle starts now.")
}

func (b *Bot) pause(ctx context.Context, req Request) Reply  { return b.setPaused(ctx, req, true) }
func (b *Bot) resume(ctx context.Context, req Request) Reply { return b.setPaused(ctx, req, false) }

func (b *Bot) auditLog(ctx context.Context, req Request) Reply {
	user := id.UserID(req.arg(0))
	entries, err := b.opts.Store.Audit(ctx, user, auditLimit)
	if err != nil {
		return describeErr("audit", err)
	}
	var t text
	if user != "" {
		t.head("Audit log of %s (latest %d)", user, auditLimit)
	} else {
		t.head("Audit log (latest %d)", auditLimit)
	}
	if len(entries) == 0 {
		t.line("No entries.")
	}
	for _, e := range entries {
		line := e.At.UTC().Format("01-02 15:04") + " " + e.Actor + ": " + e.Command
		if e.Target != "" {
			line += " " + string(e.Target)
		}
		if e.Room != "" {
			line += " in " + string(e.Room)
		}
		t.item("%s → %s", line, e.Result)
	}
	return t.reply()
}

func resultOf(err error) string {
	if err != nil {
		return "failed: " + errText(err)
	}
	return "ok"
}
