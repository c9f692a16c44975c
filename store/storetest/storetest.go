// Package storetest is the behavioural test suite every state store passes, so that the SQLite
// store and any later one keep the same contract with the reconciler.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/usermap"
)

// Store is what every state store offers, the whole contract the suite checks: the reconciler's
// (reconcile.Store), the spaces', the admin room's, the external-ID cache's, plus the operator's
// views.
type Store interface {
	reconcile.Store
	reconcile.SpaceStore
	reconcile.Backuper
	AdminStore
	usermap.ExternalCache
	// Backups lists existing backups, newest first.
	Backups() ([]string, error)
	// Removals lists up to limit removals from the history, newest first.
	Removals(ctx context.Context, limit int) ([]plan.Removal, error)
	Ping(ctx context.Context) error
	// Close may be called more than once.
	Close() error
}

// Run runs the suite. open must return a writable store on storage of t's own, closed when t
// ends; a second call with the same t must open that same storage again, as a restart would.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) Store)
	}{
		{"an empty store loads an empty state", testEmpty},
		{"members round-trip with zero times kept zero and others in UTC", testMemberRoundTrip},
		{"PutMember replaces the member", testMemberReplace},
		{"PutMembers stores many at once and replaces existing ones", testPutMembers},
		{"pending removals round-trip and are replaced", testPendingRoundTrip},
		{"a pending removal needs a managed member", testPendingNeedsMember},
		{"DeletePending removes only its own row", testDeletePending},
		{"ForgetMember removes the member and their pending removal only", testForgetMember},
		{"RecordRemoval keeps history and forgets the member", testRecordRemoval},
		{"recent removals come back with the membership they replaced, until settled", testRecentRemovals},
		{"Removals lists newest first up to the limit", testRemovalsOrder},
		{"MarkMissingAccount is first once until cleared", testMissingAccount},
		{"state survives a restart", testReopen},
		{"concurrent writes all land", testConcurrentWrites},
		{"Backup returns the newest backup", testBackup},
		{"Ping answers", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
	t.Run("admin room", func(t *testing.T) { runAdmin(t, open) })
	t.Run("spaces", func(t *testing.T) { runSpaces(t, open) })
	t.Run("power levels and external IDs", func(t *testing.T) { runPower(t, open) })
	t.Run("scim", func(t *testing.T) { runSCIM(t, open) })
	t.Run("account lifecycle and profiles", func(t *testing.T) { runLifecycle(t, open) })
}

// base is the fixed instant the tests count from.
func base() time.Time { return time.Date(2026, 11, 26, 10, 15, 0, 0, time.UTC) }

const (
	roomA = id.RoomID("!a:example.org")
	roomB = id.RoomID("!b:example.org")
	alice = id.UserID("@alice:example.org")
	bob   = id.UserID("@bob:example.org")
)

func key(r id.RoomID, u id.UserID) plan.RoomUser { return plan.RoomUser{Room: r, User: u} }

// sameTime holds when got is want as a store returns it: the same instant to the millisecond,
// zero staying zero, anything else in UTC.
func sameTime(got, want time.Time) bool {
	if want.IsZero() {
		return got.IsZero()
	}
	return !got.IsZero() && got.Location() == time.UTC && got.Equal(want.Truncate(time.Millisecond))
}

func checkMember(t *testing.T, got, want plan.ManagedMember) {
	t.Helper()
	if got.Room != want.Room || got.User != want.User ||
		!sameTime(got.DesiredSince, want.DesiredSince) || !sameTime(got.AddedAt, want.AddedAt) {
		t.Errorf("member:\n got  %+v (zones %v, %v)\n want %+v", got, got.DesiredSince.Location(), got.AddedAt.Location(), want)
	}
}

func checkPending(t *testing.T, got, want plan.PendingRemoval) {
	t.Helper()
	if got.Room != want.Room || got.User != want.User || got.Reason != want.Reason ||
		!sameTime(got.DueAt, want.DueAt) || !sameTime(got.CreatedAt, want.CreatedAt) || got.AwaitingRead != want.AwaitingRead {
		t.Errorf("pending removal:\n got  %+v\n want %+v", got, want)
	}
}

func checkRemovals(t *testing.T, got, want []plan.Removal) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Room == w.Room && g.User == w.User && g.Action == w.Action && g.Reason == w.Reason && sameTime(g.At, w.At)
	}
	if !ok {
		t.Errorf("removals:\n got  %+v\n want %+v", got, want)
	}
}

func load(t *testing.T, s Store) plan.State {
	t.Helper()
	st, err := s.LoadState(t.Context())
	if err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	return st
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func member(r id.RoomID, u id.UserID, desired, added time.Time) plan.ManagedMember {
	return plan.ManagedMember{Room: r, User: u, DesiredSince: desired, AddedAt: added}
}

func pending(r id.RoomID, u id.UserID, due time.Time, reason string) plan.PendingRemoval {
	return plan.PendingRemoval{Room: r, User: u, DueAt: due, Reason: reason, CreatedAt: due.Add(-24 * time.Hour)}
}

func testEmpty(t *testing.T, open func(*testing.T) Store) {
	st := load(t, open(t))
	if st.Members == nil || st.Pending == nil || st.Members.Len() != 0 || len(st.Pending) != 0 {
		t.Fatalf("empty store: got %+v, want empty non-nil maps", st)
	}
}

func testMemberRoundTrip(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	berlin := time.FixedZone("CET", 3600)
	precise := base().Add(123456789 * time.Nanosecond).In(berlin)
	tests := []struct {
		name string
		m    plan.ManagedMember
	}{
		{"both times set, in another zone, below a millisecond", member(roomA, alice, precise, precise.Add(time.Minute))},
		{"both times zero", member(roomA, bob, time.Time{}, time.Time{})},
		{"only desired since", member(roomB, alice, base(), time.Time{})},
		{"only added at", member(roomB, bob, time.Time{}, base())},
		{"before 1970", member(id.RoomID("!old:example.org"), alice, time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), time.Time{})},
	}
	for _, tc := range tests {
		must(t, tc.name, s.PutMember(t.Context(), tc.m))
	}
	st := load(t, s)
	if st.Members.Len() != len(tests) {
		t.Errorf("got %d members, want %d: %+v", st.Members.Len(), len(tests), st.Members)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := st.Members.Lookup(key(tc.m.Room, tc.m.User))
			if !ok {
				t.Fatalf("member %s in %s missing", tc.m.User, tc.m.Room)
			}
			checkMember(t, got, tc.m)
		})
	}
}

func testMemberReplace(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	must(t, "first put", s.PutMember(t.Context(), member(roomA, alice, base(), base())))
	must(t, "second put", s.PutMember(t.Context(), member(roomA, alice, time.Time{}, base().Add(time.Hour))))
	st := load(t, s)
	if st.Members.Len() != 1 {
		t.Fatalf("got %d members, want 1: %+v", st.Members.Len(), st.Members)
	}
	checkMember(t, st.Members.Get(key(roomA, alice)), member(roomA, alice, time.Time{}, base().Add(time.Hour)))
}

func testPutMembers(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	must(t, "put nothing", s.PutMembers(ctx, nil))
	must(t, "first put", s.PutMember(ctx, member(roomA, alice, base(), base())))
	batch := []plan.ManagedMember{
		member(roomA, alice, time.Time{}, base().Add(time.Hour)), // replaces
		member(roomA, bob, base(), time.Time{}),
		member(roomB, alice, base().Add(time.Minute), base()),
	}
	must(t, "put members", s.PutMembers(ctx, batch))
	st := load(t, s)
	if st.Members.Len() != len(batch) {
		t.Fatalf("got %d members, want %d: %+v", st.Members.Len(), len(batch), st.Members)
	}
	for _, m := range batch {
		checkMember(t, st.Members.Get(key(m.Room, m.User)), m)
	}
}

func testPendingRoundTrip(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	must(t, "put member", s.PutMember(ctx, member(roomA, alice, time.Time{}, base())))
	must(t, "put member", s.PutMember(ctx, member(roomB, alice, time.Time{}, base())))
	first := pending(roomA, alice, base().In(time.FixedZone("X", -5*3600)).Add(999*time.Microsecond), "no longer in Authentik group staff")
	must(t, "put pending", s.PutPending(ctx, first))
	awaiting := pending(roomB, alice, base(), "first reason")
	awaiting.AwaitingRead = true
	must(t, "put pending", s.PutPending(ctx, awaiting))
	if got := load(t, s).Pending[key(roomB, alice)]; !got.AwaitingRead {
		t.Errorf("pending removal %+v: AwaitingRead not kept", got)
	}
	replaced := pending(roomB, alice, base().Add(time.Hour), "no longer in any of the Authentik groups a, b")
	must(t, "replace pending", s.PutPending(ctx, replaced))
	st := load(t, s)
	if len(st.Pending) != 2 {
		t.Fatalf("got %d pending removals, want 2: %+v", len(st.Pending), st.Pending)
	}
	checkPending(t, st.Pending[key(roomA, alice)], first)
	checkPending(t, st.Pending[key(roomB, alice)], replaced)
}

func testPendingNeedsMember(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	if err := s.PutPending(t.Context(), pending(roomA, bob, base(), "x")); err == nil {
		t.Fatal("PutPending for a user who is not a managed member succeeded, want an error")
	}
	if st := load(t, s); len(st.Pending) != 0 {
		t.Fatalf("pending removals after a refused put: %+v", st.Pending)
	}
}

// seed puts alice and bob in both rooms, each with a pending removal.
func seed(t *testing.T, s Store) {
	t.Helper()
	for _, r := range []id.RoomID{roomA, roomB} {
		for _, u := range []id.UserID{alice, bob} {
			must(t, "put member", s.PutMember(t.Context(), member(r, u, time.Time{}, base())))
			must(t, "put pending", s.PutPending(t.Context(), pending(r, u, base().Add(time.Hour), "left")))
		}
	}
}

// checkKeys compares the member and pending keys of st with want.
func checkKeys(t *testing.T, st plan.State, wantMembers, wantPending []plan.RoomUser) {
	t.Helper()
	keys := func(m map[plan.RoomUser]bool) []string {
		var out []string
		for k := range m {
			out = append(out, fmt.Sprint(k))
		}
		slices.Sort(out)
		return out
	}
	gotM, gotP, wM, wP := map[plan.RoomUser]bool{}, map[plan.RoomUser]bool{}, map[plan.RoomUser]bool{}, map[plan.RoomUser]bool{}
	for k := range st.Members.All() {
		gotM[k] = true
	}
	for k := range st.Pending {
		gotP[k] = true
	}
	for _, k := range wantMembers {
		wM[k] = true
	}
	for _, k := range wantPending {
		wP[k] = true
	}
	if fmt.Sprint(keys(gotM)) != fmt.Sprint(keys(wM)) {
		t.Errorf("members: got %v, want %v", keys(gotM), keys(wM))
	}
	if fmt.Sprint(keys(gotP)) != fmt.Sprint(keys(wP)) {
		t.Errorf("pending removals: got %v, want %v", keys(gotP), keys(wP))
	}
}

func testDeletePending(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	seed(t, s)
	must(t, "DeletePending", s.DeletePending(t.Context(), roomA, alice))
	must(t, "DeletePending of a missing row", s.DeletePending(t.Context(), roomA, alice))
	all := []plan.RoomUser{key(roomA, alice), key(roomA, bob), key(roomB, alice), key(roomB, bob)}
	checkKeys(t, load(t, s), all, all[1:])
}

func testForgetMember(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	seed(t, s)
	must(t, "ForgetMember", s.ForgetMember(t.Context(), roomA, alice))
	must(t, "ForgetMember of a missing member", s.ForgetMember(t.Context(), roomA, alice))
	rest := []plan.RoomUser{key(roomA, bob), key(roomB, alice), key(roomB, bob)}
	checkKeys(t, load(t, s), rest, rest)
	if rs, err := s.Removals(t.Context(), 10); err != nil || len(rs) != 0 {
		t.Errorf("ForgetMember wrote history: %+v, %v", rs, err)
	}
}

func testRecordRemoval(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	seed(t, s)
	r := plan.Removal{Room: roomB, User: bob, Action: plan.RemoveBan, Reason: "no longer in Authentik group staff", At: base().Add(2 * time.Hour)}
	must(t, "RecordRemoval", s.RecordRemoval(t.Context(), r))
	rest := []plan.RoomUser{key(roomA, alice), key(roomA, bob), key(roomB, alice)}
	checkKeys(t, load(t, s), rest, rest)
	rs, err := s.Removals(t.Context(), 10)
	must(t, "Removals", err)
	checkRemovals(t, rs, []plan.Removal{r})
}

// testRecentRemovals: LoadState returns the removals of the last day whose replaced membership
// is known, the newest per room and user, with that membership to the millisecond.
func testRecentRemovals(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	seed(t, s)
	now := time.Now().UTC().Truncate(time.Millisecond)
	replaced := plan.RoomMember{Membership: plan.MembershipInvite, Sender: "@bot:example.org", Since: now.Add(-3 * time.Hour).Add(123 * time.Millisecond)}
	rm := func(r id.RoomID, u id.UserID, at time.Time, replaced plan.RoomMember) plan.Removal {
		return plan.Removal{Room: r, User: u, Action: plan.RemoveKick, Reason: "left at " + at.String(), At: at, Replaced: replaced}
	}
	older := rm(roomA, alice, now.Add(-2*time.Hour), replaced)
	newer := rm(roomA, alice, now.Add(-time.Hour), plan.RoomMember{Membership: plan.MembershipJoin, Sender: alice, Since: now.Add(-90 * time.Minute)})
	unknown := rm(roomA, bob, now.Add(-time.Hour), plan.RoomMember{})
	stale := rm(roomB, alice, now.Add(-plan.RecentRemovals-time.Hour), replaced)
	other := rm(roomB, bob, now.Add(-time.Minute), replaced)
	for _, r := range []plan.Removal{newer, older, unknown, stale, other} {
		must(t, "RecordRemoval", s.RecordRemoval(t.Context(), r))
	}
	got := load(t, s).Removals
	want := map[plan.RoomUser]plan.Removal{key(roomA, alice): newer, key(roomB, bob): other}
	if len(got) != len(want) {
		t.Fatalf("recent removals: got %+v, want %+v", got, want)
	}
	for k, w := range want {
		g := got[k]
		if g.Room != w.Room || g.User != w.User || g.Action != w.Action || g.Reason != w.Reason || !sameTime(g.At, w.At) ||
			g.Replaced.Membership != w.Replaced.Membership || g.Replaced.Sender != w.Replaced.Sender || !g.Replaced.Since.Equal(w.Replaced.Since) {
			t.Errorf("recent removal of %v:\n got  %+v\n want %+v", k, g, w)
		}
	}
	// Settled removals are no longer watched: up to the given time, of that room and user only.
	must(t, "SettleRemovals", s.SettleRemovals(t.Context(), roomA, alice, older.At))
	if _, ok := load(t, s).Removals[key(roomA, alice)]; !ok {
		t.Error("settling the older removal also settled the newer one")
	}
	must(t, "SettleRemovals", s.SettleRemovals(t.Context(), roomA, alice, newer.At))
	got = load(t, s).Removals
	if _, ok := got[key(roomA, alice)]; ok || len(got) != 1 {
		t.Errorf("after settling alice's removals from A: %+v, want bob's from B alone", got)
	}
	if rs, err := s.Removals(t.Context(), 10); err != nil || len(rs) != 5 {
		t.Errorf("settling changed the history: %d removals, %v", len(rs), err)
	}
}

func testRemovalsOrder(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	rm := func(u id.UserID, at time.Time) plan.Removal {
		return plan.Removal{Room: roomA, User: u, Action: plan.RemoveKick, Reason: "left " + string(u), At: at}
	}
	middle, oldest, newest := rm(alice, base().Add(time.Hour)), rm(bob, base()), rm("@carol:example.org", base().Add(2*time.Hour))
	sameInstant := rm("@dave:example.org", base().Add(2*time.Hour))
	for _, r := range []plan.Removal{middle, oldest, newest, sameInstant} {
		must(t, "RecordRemoval", s.RecordRemoval(t.Context(), r))
	}
	tests := []struct {
		limit int
		want  []plan.Removal
	}{
		{1, []plan.Removal{sameInstant}},
		{3, []plan.Removal{sameInstant, newest, middle}},
		{10, []plan.Removal{sameInstant, newest, middle, oldest}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("limit ", tc.limit), func(t *testing.T) {
			got, err := s.Removals(t.Context(), tc.limit)
			must(t, "Removals", err)
			checkRemovals(t, got, tc.want)
		})
	}
	if _, err := s.Removals(t.Context(), 0); err == nil {
		t.Error("Removals with limit 0 succeeded, want an error")
	}
}

func testMissingAccount(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	steps := []struct {
		op        string
		user      id.UserID
		wantFirst bool
	}{
		{"mark", alice, true},
		{"mark", alice, false},
		{"mark", bob, true},
		{"mark", alice, false},
		{"clear", alice, false},
		{"clear", alice, false},
		{"mark", alice, true},
		{"mark", bob, false},
	}
	for i, st := range steps {
		switch st.op {
		case "mark":
			first, err := s.MarkMissingAccount(t.Context(), st.user)
			must(t, "MarkMissingAccount", err)
			if first != st.wantFirst {
				t.Errorf("step %d: mark %s: first = %v, want %v", i, st.user, first, st.wantFirst)
			}
		case "clear":
			must(t, "ClearMissingAccount", s.ClearMissingAccount(t.Context(), st.user))
		}
	}
}

func testReopen(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	m := member(roomA, alice, base(), time.Time{})
	p := pending(roomA, alice, base().Add(24*time.Hour), "no longer in Authentik group staff")
	r := plan.Removal{Room: roomB, User: bob, Action: plan.RemoveKick, Reason: "gone", At: base()}
	must(t, "PutMember", s.PutMember(ctx, m))
	must(t, "PutPending", s.PutPending(ctx, p))
	must(t, "RecordRemoval", s.RecordRemoval(ctx, r))
	_, err := s.MarkMissingAccount(ctx, bob)
	must(t, "MarkMissingAccount", err)
	must(t, "Close", s.Close())

	s = open(t)
	st := load(t, s)
	checkKeys(t, st, []plan.RoomUser{key(roomA, alice)}, []plan.RoomUser{key(roomA, alice)})
	checkMember(t, st.Members.Get(key(roomA, alice)), m)
	checkPending(t, st.Pending[key(roomA, alice)], p)
	rs, err := s.Removals(ctx, 10)
	must(t, "Removals", err)
	checkRemovals(t, rs, []plan.Removal{r})
	first, err := s.MarkMissingAccount(ctx, bob)
	must(t, "MarkMissingAccount", err)
	if first {
		t.Error("missing-account note was lost in the restart: first = true")
	}
}

func testConcurrentWrites(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	const writers, each = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				u := id.UserID(fmt.Sprintf("@u%d-%d:example.org", w, i))
				if err := s.PutMember(t.Context(), member(roomA, u, base(), time.Time{})); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := load(t, s).Members.Len(); n != writers*each {
		t.Errorf("got %d members, want %d", n, writers*each)
	}
}

func testBackup(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	must(t, "PutMember", s.PutMember(t.Context(), member(roomA, alice, base(), time.Time{})))
	for range 2 {
		p, err := s.Backup(t.Context())
		must(t, "Backup", err)
		if p == "" {
			t.Fatal("Backup returned an empty path")
		}
		list, err := s.Backups()
		must(t, "Backups", err)
		if len(list) == 0 || list[0] != p {
			t.Fatalf("Backups() = %v, want %s first", list, p)
		}
	}
}

func testPing(t *testing.T, open func(*testing.T) Store) {
	must(t, "Ping", open(t).Ping(t.Context()))
}
