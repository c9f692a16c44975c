package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// AdminStore is the admin room's part of a store: audit log, exemptions, the paused flag and
// held removal batches.
type AdminStore interface {
	AppendAudit(ctx context.Context, entries ...plan.AuditEntry) error
	PruneAudit(ctx context.Context, before time.Time, keep int) (int, error)
	Audit(ctx context.Context, target id.UserID, limit int) ([]plan.AuditEntry, error)
	PutExemption(ctx context.Context, e plan.Exemption) error
	DeleteExemption(ctx context.Context, room id.RoomID, user id.UserID) (bool, error)
	DeleteExemptions(ctx context.Context, user id.UserID) (int, error)
	Exemptions(ctx context.Context) ([]plan.Exemption, error)
	SetPaused(ctx context.Context, paused bool) error
	Paused(ctx context.Context) (bool, error)
	HoldBatch(ctx context.Context, b plan.HeldBatch) (created bool, status string, err error)
	Batch(ctx context.Context, id string) (plan.HeldBatch, error)
	OpenBatches(ctx context.Context) ([]plan.HeldBatch, error)
	DecideBatch(ctx context.Context, id, from, to string, by id.UserID) error
}

// adminTests are the admin room's cases of the suite.
var adminTests = []struct {
	name string
	run  func(t *testing.T, s AdminStore)
}{
	{"the audit log lists newest first and filters by user", testAudit},
	{"a repeated skip is recorded once until something else happens to its room and user", testAuditSkipOnce},
	{"pruning the audit log removes old entries and keeps the newest", testPruneAudit},
	{"exemptions round-trip, are replaced and lifted", testExemptions},
	{"the paused flag is off until set and survives being set twice", testPaused},
	{"a held batch is created once, decided once and held anew after rejection", testHeldBatch},
}

func runAdmin(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range adminTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

func testAudit(t *testing.T, s AdminStore) {
	ctx := context.Background()
	for i, e := range []plan.AuditEntry{
		{Actor: "@op:example.org", Command: "exempt", Target: alice, Result: "ok"},
		{Actor: "cycle 1a2b", Command: "kick", Target: bob, Room: roomA, Result: "ok"},
		{Actor: "@op:example.org", Command: "pause", Result: "ok"},
	} {
		e.At = base().Add(time.Duration(i) * time.Minute)
		must(t, "append audit", s.AppendAudit(ctx, e))
	}
	all, err := s.Audit(ctx, "", 2)
	must(t, "read audit", err)
	if len(all) != 2 || all[0].Command != "pause" || all[1].Command != "kick" || all[1].Room != roomA {
		t.Errorf("latest two entries: %+v", all)
	}
	if !sameTime(all[0].At, base().Add(2*time.Minute)) {
		t.Errorf("time %v, want %v", all[0].At, base().Add(2*time.Minute))
	}
	bobs, err := s.Audit(ctx, bob, 10)
	must(t, "read audit of bob", err)
	if len(bobs) != 1 || bobs[0].Actor != "cycle 1a2b" {
		t.Errorf("bob's entries: %+v", bobs)
	}
	if _, err := s.Audit(ctx, "", 0); err == nil {
		t.Error("limit 0 accepted")
	}
}

func testAuditSkipOnce(t *testing.T, s AdminStore) {
	ctx := context.Background()
	at := base()
	// cycle appends the entries of one cycle, each a minute after the last cycle's.
	cycle := func(es ...plan.AuditEntry) {
		t.Helper()
		at = at.Add(time.Minute)
		for i := range es {
			es[i].At, es[i].Actor = at, "cycle "+at.Format("1504")
		}
		must(t, "append a cycle's entries", s.AppendAudit(ctx, es...))
	}
	const noAccount = "force_join: member of Authentik group staff"
	skip := func(u id.UserID, r id.RoomID) plan.AuditEntry {
		return plan.AuditEntry{Command: noAccount, Target: u, Room: r, Result: reconcile.ResultSkipped}
	}
	for range 5 {
		cycle(skip(alice, roomA), skip(alice, roomB), skip(bob, roomA))
	}
	// The same skip twice in one batch is one entry too.
	cycle(skip(alice, roomA), skip(alice, roomA))
	entries := func(u id.UserID) []plan.AuditEntry {
		t.Helper()
		es, err := s.Audit(ctx, u, 100)
		must(t, "read audit", err)
		return es
	}
	if got := entries(alice); len(got) != 2 || !sameTime(got[0].At, base().Add(time.Minute)) {
		t.Fatalf("alice after six cycles skipping her in two rooms: %+v, want one entry per room, from the first cycle", got)
	}
	if got := entries(bob); len(got) != 1 {
		t.Fatalf("bob after five skipped cycles: %+v, want one entry", got)
	}
	// Something else happened to alice in room A: the next skip there is news again, and a
	// skip for another reason is too. Room B saw nothing new.
	cycle(plan.AuditEntry{Command: noAccount, Target: alice, Room: roomA, Result: reconcile.ResultOK})
	cycle(skip(alice, roomA), skip(alice, roomB))
	cycle(skip(alice, roomA), skip(alice, roomB))
	cycle(plan.AuditEntry{Command: "kick: left staff", Target: alice, Room: roomA, Result: reconcile.ResultSkipped})
	var got []string
	for _, e := range entries(alice) {
		got = append(got, string(e.Room)+" "+e.Command+" → "+e.Result)
	}
	want := []string{
		string(roomA) + " kick: left staff → skipped",
		string(roomA) + " " + noAccount + " → skipped",
		string(roomA) + " " + noAccount + " → ok",
		string(roomB) + " " + noAccount + " → skipped",
		string(roomA) + " " + noAccount + " → skipped",
	}
	if !slices.Equal(got, want) {
		t.Errorf("alice's entries, newest first:\n got  %q\n want %q", got, want)
	}
	// Failures and successes are written every time: only skips repeat by design.
	for range 2 {
		cycle(plan.AuditEntry{Command: "invite: member of Authentik group staff", Target: bob, Room: roomB, Result: reconcile.ResultFailed})
	}
	if got := entries(bob); len(got) != 3 {
		t.Errorf("bob after two failed invites: %+v, want both written", got)
	}
}

func testPruneAudit(t *testing.T, s AdminStore) {
	ctx := context.Background()
	var all []plan.AuditEntry
	for i := range 10 {
		// Entries 6 and 7 share a millisecond: their order is the order they were written in.
		at := base().Add(time.Duration(min(i, 6)) * time.Hour)
		if i > 7 {
			at = base().Add(time.Duration(i) * time.Hour)
		}
		all = append(all, plan.AuditEntry{At: at, Actor: "@op:x", Command: fmt.Sprintf("command %d", i), Result: "ok"})
	}
	must(t, "append", s.AppendAudit(ctx, all...))
	commands := func() []string {
		t.Helper()
		es, err := s.Audit(ctx, "", 100)
		must(t, "read audit", err)
		var out []string
		for _, e := range es {
			out = append(out, e.Command)
		}
		return out
	}
	n, err := s.PruneAudit(ctx, time.Time{}, 0)
	must(t, "prune nothing", err)
	if n != 0 || len(commands()) != 10 {
		t.Fatalf("pruning without limits deleted %d, left %q", n, commands())
	}
	n, err = s.PruneAudit(ctx, base().Add(3*time.Hour), 0)
	must(t, "prune by age", err)
	if want := []string{"command 9", "command 8", "command 7", "command 6", "command 5", "command 4", "command 3"}; n != 3 || !slices.Equal(commands(), want) {
		t.Fatalf("pruning before 3h deleted %d, left %q; want 3 deleted, %q left", n, commands(), want)
	}
	n, err = s.PruneAudit(ctx, time.Time{}, 3)
	must(t, "prune by size", err)
	if want := []string{"command 9", "command 8", "command 7"}; n != 4 || !slices.Equal(commands(), want) {
		t.Fatalf("keeping 3 deleted %d, left %q; want 4 deleted, %q left", n, commands(), want)
	}
	n, err = s.PruneAudit(ctx, base(), 3)
	must(t, "prune again", err)
	if n != 0 || len(commands()) != 3 {
		t.Errorf("pruning again deleted %d, left %q", n, commands())
	}
	if _, err := s.PruneAudit(ctx, time.Time{}, -1); err == nil {
		t.Error("a negative keep was accepted")
	}
}

func testExemptions(t *testing.T, s AdminStore) {
	ctx := context.Background()
	must(t, "exempt alice", s.PutExemption(ctx, plan.Exemption{User: alice, By: "@op:x", Reason: "board", At: base()}))
	must(t, "exempt bob in A", s.PutExemption(ctx, plan.Exemption{User: bob, Room: roomA, UntilBack: true, By: "@op:x", At: base()}))
	must(t, "replace alice", s.PutExemption(ctx, plan.Exemption{User: alice, By: "@op2:x", Reason: "still board", At: base()}))
	got, err := s.Exemptions(ctx)
	must(t, "list", err)
	if len(got) != 2 || got[0].User != alice || got[0].Room != "" || got[0].By != "@op2:x" || got[0].UntilBack ||
		got[1].User != bob || got[1].Room != roomA || !got[1].UntilBack || !sameTime(got[1].At, base()) {
		t.Fatalf("exemptions: %+v", got)
	}
	found, err := s.DeleteExemption(ctx, roomB, bob)
	must(t, "lift absent", err)
	if found {
		t.Error("lifting an exemption in another room reported one")
	}
	found, err = s.DeleteExemption(ctx, roomA, bob)
	must(t, "lift bob", err)
	if !found {
		t.Error("bob's exemption was not found")
	}
	n, err := s.DeleteExemptions(ctx, alice)
	must(t, "lift alice", err)
	if got, _ := s.Exemptions(ctx); n != 1 || len(got) != 0 {
		t.Errorf("after lifting all: %d lifted, left %+v", n, got)
	}
}

func testPaused(t *testing.T, s AdminStore) {
	ctx := context.Background()
	for i, set := range []bool{true, true, false, true} {
		if i > 0 || set {
			must(t, "set paused", s.SetPaused(ctx, set))
		}
		got, err := s.Paused(ctx)
		must(t, "read paused", err)
		if got != set {
			t.Errorf("step %d: paused %v, want %v", i, got, set)
		}
	}
}

func testHeldBatch(t *testing.T, s AdminStore) {
	ctx := context.Background()
	b := plan.HeldBatch{ID: "abc123", Why: "too many", Created: base(), Removals: []plan.HeldRemoval{
		{Room: roomA, User: bob, Action: plan.RemoveKick, Reason: "left staff"},
		{Room: roomA, User: alice, Action: plan.RemoveKick, Reason: "left staff"},
	}}
	step := func(what string, wantCreated bool, wantStatus string) {
		t.Helper()
		created, status, err := s.HoldBatch(ctx, b)
		must(t, what, err)
		if created != wantCreated || status != wantStatus {
			t.Errorf("%s: created %v status %q, want %v %q", what, created, status, wantCreated, wantStatus)
		}
	}
	step("hold", true, plan.BatchHeld)
	step("hold again", false, plan.BatchHeld)
	got, err := s.Batch(ctx, "abc123")
	must(t, "read batch", err)
	if len(got.Removals) != 2 || got.Removals[0].User != alice || got.Why != "too many" || !sameTime(got.Created, base()) {
		t.Errorf("batch: %+v", got)
	}
	if err := s.DecideBatch(ctx, "abc123", plan.BatchConfirmed, plan.BatchDone, ""); !errors.Is(err, reconcile.ErrNoBatch) {
		t.Errorf("finishing an unconfirmed batch: %v, want ErrNoBatch", err)
	}
	must(t, "confirm", s.DecideBatch(ctx, "abc123", plan.BatchHeld, plan.BatchConfirmed, "@op:x"))
	if err := s.DecideBatch(ctx, "abc123", plan.BatchHeld, plan.BatchRejected, "@op:x"); !errors.Is(err, reconcile.ErrNoBatch) {
		t.Errorf("rejecting a confirmed batch: %v, want ErrNoBatch", err)
	}
	step("hold while confirmed", false, plan.BatchConfirmed)
	open, err := s.OpenBatches(ctx)
	must(t, "open batches", err)
	if len(open) != 1 || open[0].DecidedBy != "@op:x" || open[0].Status != plan.BatchConfirmed {
		t.Errorf("open batches: %+v", open)
	}
	must(t, "finish", s.DecideBatch(ctx, "abc123", plan.BatchConfirmed, plan.BatchDone, ""))
	if open, _ := s.OpenBatches(ctx); len(open) != 0 {
		t.Errorf("a finished batch is still open: %+v", open)
	}
	step("held anew after it was done", true, plan.BatchHeld)
	if _, err := s.Batch(ctx, "nope"); !errors.Is(err, reconcile.ErrNoBatch) {
		t.Errorf("missing batch: %v, want ErrNoBatch", err)
	}
}
