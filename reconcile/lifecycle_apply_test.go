package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// lifecycleWorld is fakeWorld plus what the account lifecycle needs: Authentik's inactive and
// full user listings, the homeserver's account and profile APIs, and the store's records.
type lifecycleWorld struct {
	*fakeWorld
	inactive    map[id.UserID]string
	inactiveErr error
	lookupErr   error                            // every lookup fails with it
	everyone    map[id.UserID]plan.AccountStatus // what a lookup says of a user not listed inactive; absent = gone
	lookups     [][]id.UserID
	askedIDs    []map[id.UserID]string // the source ID each lookup asked about, by user
	locked      map[id.UserID]bool
	names       map[id.UserID]string
	records     map[id.UserID]plan.AccountRecord
	synced      map[plan.ProfileKey]string
	putErrs     int      // how many of the next PutAccountRecord calls fail
	calls       []string // account and profile requests, in order
}

func newLifecycleWorld() *lifecycleWorld {
	return &lifecycleWorld{fakeWorld: newFakeWorld(), inactive: map[id.UserID]string{}, everyone: map[id.UserID]plan.AccountStatus{},
		locked: map[id.UserID]bool{}, names: map[id.UserID]string{}, records: map[id.UserID]plan.AccountRecord{}, synced: map[plan.ProfileKey]string{}}
}

var (
	_ AccountDirectory = (*lifecycleWorld)(nil)
	_ Accounts         = (*lifecycleWorld)(nil)
	_ LockReader       = (*lifecycleWorld)(nil)
	_ Profiles         = (*lifecycleWorld)(nil)
	_ AccountStore     = (*lifecycleWorld)(nil)
	_ ProfileStore     = (*lifecycleWorld)(nil)
)

func (w *lifecycleWorld) InactiveUsers(context.Context) (map[id.UserID]plan.DirectoryAccount, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inactiveErr != nil {
		return nil, w.inactiveErr
	}
	out := map[id.UserID]plan.DirectoryAccount{}
	for u, name := range w.inactive {
		out[u] = plan.DirectoryAccount{SourceID: name, Username: name}
	}
	return out, nil
}

// LookupAccounts answers as Authentik's core/users/{pk}/ would: inactive for the users listed
// inactive, what everyone says of the others, and gone (no such user) for the rest.
func (w *lifecycleWorld) LookupAccounts(_ context.Context, users map[id.UserID]plan.DirectoryAccount) (map[id.UserID]plan.AccountStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lookups = append(w.lookups, slices.Sorted(maps.Keys(users)))
	asked := map[id.UserID]string{}
	for u, acc := range users {
		asked[u] = acc.SourceID
	}
	w.askedIDs = append(w.askedIDs, asked)
	out := map[id.UserID]plan.AccountStatus{}
	for u, acc := range users {
		switch {
		case acc.SourceID == "":
			return nil, fmt.Errorf("%s looked up without a source ID", u)
		case w.lookupErr != nil:
			out[u] = plan.AccountUnknown
		case w.inactive[u] != "":
			out[u] = plan.AccountInactive
		default:
			out[u] = plan.AccountGone
			if s, ok := w.everyone[u]; ok {
				out[u] = s
			}
		}
	}
	return out, w.lookupErr
}

func (w *lifecycleWorld) call(format string, args ...any) {
	w.calls = append(w.calls, fmt.Sprintf(format, args...))
}

func (w *lifecycleWorld) SetLocked(_ context.Context, u id.UserID, locked bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.call("set_locked %s %v", u, locked)
	w.locked[u] = locked
	return nil
}

func (w *lifecycleWorld) Locked(_ context.Context, u id.UserID) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.call("locked? %s", u)
	return w.locked[u], nil
}

func (w *lifecycleWorld) Logout(_ context.Context, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.call("logout %s", u)
	return nil
}

func (w *lifecycleWorld) DisplayName(_ context.Context, u id.UserID) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.call("get_displayname %s", u)
	return w.names[u], nil
}

func (w *lifecycleWorld) SetDisplayName(_ context.Context, u id.UserID, name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.call("set_displayname %s %s", u, name)
	w.names[u] = name
	return nil
}

func (w *lifecycleWorld) AccountRecords(context.Context) (map[id.UserID]plan.AccountRecord, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.records), nil
}

func (w *lifecycleWorld) PutAccountRecord(_ context.Context, r plan.AccountRecord) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.putErrs > 0 {
		w.putErrs--
		return errors.New("store down")
	}
	w.records[r.User] = r
	return nil
}

func (w *lifecycleWorld) DeleteAccountRecord(_ context.Context, u id.UserID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.records, u)
	return nil
}

func (w *lifecycleWorld) SyncedProfiles(context.Context) (map[plan.ProfileKey]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.synced), nil
}

func (w *lifecycleWorld) PutSyncedProfile(_ context.Context, u id.UserID, f plan.ProfileField, v string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.synced[plan.ProfileKey{User: u, Field: f}] = v
	return nil
}

// profileNames makes the fake directory hand out profiles: each member's display name.
type profileDirectory struct {
	*lifecycleWorld
	display map[id.UserID]string
}

func (d profileDirectory) Members(ctx context.Context, names []string) map[string]plan.GroupMembers {
	out := d.lifecycleWorld.Members(ctx, names)
	for n, g := range out {
		g.Profiles = map[id.UserID]plan.Profile{}
		for _, m := range g.Members {
			g.Profiles[m.UserID] = plan.Profile{DisplayName: d.display[m.UserID]}
		}
		out[n] = g
	}
	return out
}

func (w *lifecycleWorld) reconciler(p plan.Policy, guard plan.GuardLimits, dir Directory) *Reconciler {
	if dir == nil {
		dir = w
	}
	return New(Options{Directory: dir, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute, Guard: guard,
		Now: func() time.Time { return w.now }, Log: zerolog.Nop(), AccountDirectory: w, Accounts: w, Profiles: w})
}

func (w *lifecycleWorld) cycle(t *testing.T, r *Reconciler) CycleResult {
	t.Helper()
	w.writes, w.calls = nil, nil
	return r.RunCycle(context.Background())
}

// twoRooms sets up alice and bob joined to rooms A and B through staff.
func (w *lifecycleWorld) twoRooms(t *testing.T, r *Reconciler) {
	t.Helper()
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice, bob}
	w.cycle(t, r)
	for _, room := range []id.RoomID{roomA, roomB} {
		for _, u := range []id.UserID{alice, bob} {
			w.rooms[room][u] = joined(now)
		}
	}
}

// sortedWrites lists the writes in a fixed order: rooms are written to concurrently.
func sortedWrites(w *lifecycleWorld) string {
	ws := slices.Clone(w.writes)
	slices.Sort(ws)
	return fmt.Sprint(ws)
}

func lifecycleTestPolicy(d plan.DeactivationPolicy) plan.Policy {
	p := policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}, plan.Mapping{Group: "staff", Room: roomB, Method: plan.MethodInvite})
	p.Deactivated = d
	return p
}

func TestDeactivatedUserLeavesEveryRoomInOneCycleAfterABackup(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true}), plan.GuardLimits{MaxRemovals: 10}, nil)
	w.twoRooms(t, r)

	// Bob is deactivated: Authentik leaves him out of the group and lists him inactive.
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	w.now = now.Add(time.Minute)
	res := w.cycle(t, r)
	if got, want := sortedWrites(w), "[kick @bob:hs !a:hs kick @bob:hs !b:hs]"; got != want {
		t.Fatalf("writes %s, want %s", got, want)
	}
	if w.backups != 1 || res.Backup == "" {
		t.Errorf("backups %d (result %q): want one before the kicks", w.backups, res.Backup)
	}
	if got := fmt.Sprint(w.calls); got != "[logout @bob:hs]" {
		t.Errorf("account calls %s, want one logout", got)
	}
	for _, rm := range w.removals {
		if rm.Reason != plan.ReasonDeactivated {
			t.Errorf("removal %+v: want reason %q", rm, plan.ReasonDeactivated)
		}
	}
	rec := w.records[bob]
	if !rec.DeactivatedAt.Equal(w.now) || rec.LoggedOutAt.IsZero() {
		t.Errorf("record %+v: want deactivated now and logged out", rec)
	}
	if len(w.state.Pending) != 0 {
		t.Errorf("pending left behind: %v", w.state.Pending)
	}
	// The next cycle does nothing more: no second logout, nothing in the rooms.
	w.now = w.now.Add(time.Minute)
	if w.cycle(t, r); len(w.writes)+len(w.calls) != 0 {
		t.Errorf("second cycle wrote %v and called %v", w.writes, w.calls)
	}
}

func TestGuardHoldsDeactivationRemovalsAndLogouts(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true}), plan.GuardLimits{MaxRemovals: 1}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	res := w.cycle(t, r)
	if res.Held == nil || len(w.writes) != 0 || len(w.calls) != 0 || w.backups != 0 {
		t.Fatalf("held %+v writes %v calls %v backups %d: want the two kicks and the logout held", res.Held, w.writes, w.calls, w.backups)
	}
	// They stay due: raising the limit lets them through at the next cycle.
	for k, p := range w.state.Pending {
		if p.Reason != plan.ReasonDeactivated || p.DueAt.After(w.now) {
			t.Errorf("pending %v = %+v, want due now with the deactivation reason", k, p)
		}
	}
	r.opts.Guard.MaxRemovals = 10
	w.cycle(t, r)
	if len(w.writes) != 2 || fmt.Sprint(w.calls) != "[logout @bob:hs]" {
		t.Errorf("after raising the limit: writes %v calls %v", w.writes, w.calls)
	}
}

func TestLogoutWaitsForTheDeactivationRecord(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{AfterGrace: true, Logout: true, LockAfter: lockAfter(time.Hour)}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	w.putErrs = 1 // the TrackDeactivation fails
	w.cycle(t, r)
	if len(w.calls) != 0 || len(w.records) != 0 {
		t.Fatalf("calls %v records %+v: want no logout without a deactivation record", w.calls, w.records)
	}
	w.now = now.Add(time.Minute)
	w.cycle(t, r)
	rec := w.records[bob]
	if fmt.Sprint(w.calls) != "[logout @bob:hs]" || !rec.DeactivatedAt.Equal(w.now) || rec.LoggedOutAt.IsZero() {
		t.Fatalf("calls %v record %+v: want the deactivation recorded now, then the logout", w.calls, rec)
	}
	// lock_after counts from the recorded deactivation, not from the zero time.
	w.now = now.Add(30 * time.Minute)
	if w.cycle(t, r); len(w.calls) != 0 || w.locked[bob] {
		t.Errorf("calls %v: locked before lock_after", w.calls)
	}
}

func TestGuardHoldsMassLogoutsWithoutRemovals(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{AfterGrace: true, Logout: true}), plan.GuardLimits{MaxRemovals: 1}, nil)
	w.twoRooms(t, r)
	w.inactive[alice], w.inactive[bob] = "alice", "bob"
	w.groups["staff"] = nil
	res := w.cycle(t, r)
	if res.Held == nil || len(w.calls) != 0 || len(w.writes) != 0 {
		t.Fatalf("held %+v calls %v writes %v: want both logouts held", res.Held, w.calls, w.writes)
	}
	want := []plan.HeldRemoval{
		{User: alice, Action: plan.HeldLogout, Reason: plan.ReasonDeactivated + "; every session ends (deactivated.logout)"},
		{User: bob, Action: plan.HeldLogout, Reason: plan.ReasonDeactivated + "; every session ends (deactivated.logout)"},
	}
	if fmt.Sprint(res.Held.Removals) != fmt.Sprint(want) {
		t.Errorf("held %+v, want %+v", res.Held.Removals, want)
	}
	r.opts.Guard.MaxRemovals = 10
	w.cycle(t, r)
	slices.Sort(w.calls) // logouts of different users run concurrently, in any order
	if got := fmt.Sprint(w.calls); got != "[logout @alice:hs logout @bob:hs]" {
		t.Errorf("after raising the limit: calls %s", got)
	}
}

func TestLockAfterThenUnlockWhenActiveAgain(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{LockAfter: lockAfter(time.Hour)}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	w.cycle(t, r)
	if len(w.calls) != 0 {
		t.Fatalf("calls before lock_after: %v", w.calls)
	}
	w.now = now.Add(time.Hour)
	w.cycle(t, r)
	if got := fmt.Sprint(w.calls); got != "[locked? @bob:hs set_locked @bob:hs true]" || !w.locked[bob] {
		t.Fatalf("calls %s locked %v: want one lock", got, w.locked[bob])
	}
	if rec := w.records[bob]; !rec.LockedByBot || rec.LockedAt.IsZero() {
		t.Errorf("record %+v: want locked by the bot", rec)
	}
	if w.cycle(t, r); len(w.calls) != 0 {
		t.Errorf("locked again: %v", w.calls)
	}
	// Active again and back in the group: unlocked, record dropped, invited back.
	delete(w.inactive, bob)
	w.groups["staff"] = []id.UserID{alice, bob}
	w.cycle(t, r)
	if got := fmt.Sprint(w.calls); got != "[set_locked @bob:hs false]" || w.locked[bob] {
		t.Errorf("calls %s: want one unlock", got)
	}
	if _, ok := w.records[bob]; ok {
		t.Errorf("record kept after the unlock: %+v", w.records[bob])
	}
}

func TestAnAccountLockedBySomeoneElseIsNeverUnlocked(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{LockAfter: lockAfter(0)}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.locked[bob] = true // an admin locked bob by hand
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	w.cycle(t, r)
	if got := fmt.Sprint(w.calls); got != "[locked? @bob:hs]" {
		t.Fatalf("calls %s: want only the check", got)
	}
	if rec := w.records[bob]; rec.LockedByBot || rec.LockedAt.IsZero() {
		t.Errorf("record %+v: want the lock recorded as someone else's", rec)
	}
	delete(w.inactive, bob)
	w.groups["staff"] = []id.UserID{alice, bob}
	w.cycle(t, r)
	if len(w.calls) != 0 || !w.locked[bob] {
		t.Errorf("calls %v locked %v: the admin's lock must stay", w.calls, w.locked[bob])
	}
	if _, ok := w.records[bob]; ok {
		t.Error("record kept for a user active again")
	}
}

func TestDeletedUserIsToldFromOneWhoLeftTheGroup(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.accounts[carol] = true
	// Bob leaves the group but stays in Authentik; nobody is deleted: no immediate removal.
	w.everyone[bob] = plan.AccountActive
	w.groups["staff"] = []id.UserID{alice}
	w.cycle(t, r)
	if len(w.writes) != 0 || len(w.lookups) != 1 || fmt.Sprint(w.lookups[0]) != "[@bob:hs]" {
		t.Fatalf("writes %v lookups %v: want one lookup of bob and no removal", w.writes, w.lookups)
	}
	if p := w.state.Pending[plan.RoomUser{Room: roomA, User: bob}]; p.DueAt != w.now.Add(grace) {
		t.Errorf("pending %+v: want the grace period", p)
	}
	// The no-change cycle after it reads no listing of every user.
	w.cycle(t, r)
	if len(w.lookups) != 1 {
		t.Errorf("lookups %v: a no-change cycle must not read the listing of every user", w.lookups)
	}
	// Alice is deleted from Authentik: gone from the listing of every user, removed now.
	w.groups["staff"] = nil
	w.cycle(t, r)
	if got := sortedWrites(w); got != "[kick @alice:hs !a:hs kick @alice:hs !b:hs]" {
		t.Errorf("writes %s: want alice removed from both rooms", got)
	}
	if rec := w.records[alice]; !rec.Deleted {
		t.Errorf("record %+v: want deleted", rec)
	}
}

// TestTheLastAccountSeenInAGroupIsKeptForARecord: for a user with a deactivation record, the
// account a group listing showed last is looked up even in a cycle whose listing of that group
// fails, not the one the record is about (a user deleted and made again under the same username).
func TestTheLastAccountSeenInAGroupIsKeptForARecord(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true}), plan.GuardLimits{}, nil)
	w.groups["staff"] = []id.UserID{alice, carol}
	w.accounts[carol] = true
	w.cycle(t, r) // carol's account, source ID "carol", is seen in staff
	w.records[carol] = plan.AccountRecord{User: carol, SourceID: "old", Username: "carol", DeactivatedAt: earlier, Deleted: true}
	w.groupErr["staff"] = errors.New("HTTP 503")
	w.askedIDs = nil
	w.cycle(t, r) // looks up by what the last cycle saw
	w.cycle(t, r) // and again, although the last cycle did not see the group
	if len(w.askedIDs) != 2 || w.askedIDs[0][carol] != "carol" || w.askedIDs[1][carol] != "carol" {
		t.Fatalf("lookups asked %v; want carol looked up by the account last seen in the group, in both cycles", w.askedIDs)
	}
}

func TestFailedLookupRemovesNobodyAtOnce(t *testing.T) {
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.inactive[bob] = "bob"
	w.lookupErr = errors.New("HTTP 503")
	w.cycle(t, r)
	if len(w.writes)+len(w.calls) != 0 || len(w.lookups) != 1 {
		t.Fatalf("writes %v calls %v lookups %v: want one lookup, then nothing but the grace period", w.writes, w.calls, w.lookups)
	}
	if p := w.state.Pending[plan.RoomUser{Room: roomB, User: bob}]; p.Reason == plan.ReasonDeactivated || p.DueAt != w.now.Add(grace) {
		t.Errorf("pending %+v: want the grace period", p)
	}
}

func TestProfileSyncWritesOncePerChange(t *testing.T) {
	w := newLifecycleWorld()
	w.names[alice] = "Alice A" // already right in Matrix
	w.names[bob] = "bob"
	dir := profileDirectory{lifecycleWorld: w, display: map[id.UserID]string{alice: "Alice A", bob: "Bob B"}}
	p := lifecycleTestPolicy(plan.DeactivationPolicy{})
	p.Profiles.DisplayName = true
	r := w.reconciler(p, plan.GuardLimits{}, dir)
	w.groups["staff"] = []id.UserID{alice, bob}
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.cycle(t, r)
	calls := slices.Clone(w.calls)
	slices.Sort(calls)
	if got := fmt.Sprint(calls); got != "[get_displayname @alice:hs get_displayname @bob:hs set_displayname @bob:hs Bob B]" {
		t.Fatalf("first cycle: %s; want both read and only bob written", got)
	}
	if w.synced[plan.ProfileKey{User: alice, Field: plan.FieldDisplayName}] != "Alice A" || w.synced[plan.ProfileKey{User: bob, Field: plan.FieldDisplayName}] != "Bob B" {
		t.Errorf("synced %v", w.synced)
	}
	if w.cycle(t, r); len(w.calls) != 0 {
		t.Fatalf("no-change cycle made profile requests: %v", w.calls)
	}
	dir.display[alice] = "Alice Renamed"
	w.cycle(t, r)
	if got := fmt.Sprint(w.calls); got != "[set_displayname @alice:hs Alice Renamed]" {
		t.Errorf("after a rename: %s; want exactly one write", got)
	}
	// A user without a Matrix account yet is skipped, not failed.
	w.groups["staff"] = []id.UserID{alice, bob, "@nobody:hs"}
	dir.display["@nobody:hs"] = "Nobody"
	res := w.cycle(t, r)
	if res.Skipped["set_displayname"] != 1 || res.Failed["set_displayname"] != 0 {
		t.Errorf("result %+v: want the profile of a user without an account skipped", res)
	}
}

// The three wrongful removals the safety rule closes (docs/how-it-works.md, "The safety rule").

func TestAUserMissingFromAListingIsNotTakenForDeleted(t *testing.T) {
	// A listing read page by page lost bob to a concurrent create+delete: he is in no group's
	// answer this cycle, but his account exists (the direct lookup finds him active).
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true, LockAfter: lockAfter(time.Second)}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.everyone[bob] = plan.AccountActive
	for range 3 {
		w.now = w.now.Add(time.Minute)
		w.cycle(t, r)
		if len(w.writes)+len(w.calls) != 0 || len(w.records) != 0 {
			t.Fatalf("writes %v calls %v records %v: want no kick, lock or logout within the grace period", w.writes, w.calls, w.records)
		}
	}
	for _, room := range []id.RoomID{roomA, roomB} {
		if p := w.state.Pending[plan.RoomUser{Room: room, User: bob}]; p.Reason == plan.ReasonDeleted || !p.DueAt.After(w.now) {
			t.Errorf("pending in %s %+v: want the grace period, not a deletion", room, p)
		}
	}
}

func TestNobodyIsRemovedAsDeletedFromARoomWithAnUnknownGroup(t *testing.T) {
	// staff's read fails (page 2 answered 500) while bob is really deleted: he leaves no room
	// whose group is unknown, though his account is handled.
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{Logout: true}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	w.groups["staff"] = []id.UserID{alice}
	w.cycle(t, r) // bob left: looked up (gone), removed from both rooms
	if got := sortedWrites(w); got != "[kick @bob:hs !a:hs kick @bob:hs !b:hs]" {
		t.Fatalf("writes %s: want bob removed as deleted", got)
	}
	// Carol, a member of staff in truth, is lost from a failing read of staff and deleted
	// meanwhile as far as any listing could tell: nothing happens in rooms A and B.
	w.groups["staff"] = []id.UserID{alice, carol}
	w.accounts[carol] = true
	w.cycle(t, r)
	w.groupErr["staff"] = errors.New("page 2: HTTP 500")
	w.groups["staff"] = []id.UserID{alice}
	w.now = w.now.Add(time.Minute)
	res := w.cycle(t, r)
	if len(w.writes) != 0 {
		t.Fatalf("writes %v: want no removal in a room whose group is unknown", w.writes)
	}
	if len(res.Warnings) == 0 || !strings.Contains(fmt.Sprint(res.Warnings), "no removals in this room") {
		t.Errorf("warnings %v: want the room's no-removal warning", res.Warnings)
	}
}

func TestADeletionRecordIsCheckedAgainAndTheBotsLockLifted(t *testing.T) {
	// A record says dan was deleted and the bot locked him; the lookup now finds him active
	// (the deletion was wrong, or he was restored): the lock is lifted, the record dropped.
	w := newLifecycleWorld()
	r := w.reconciler(lifecycleTestPolicy(plan.DeactivationPolicy{LockAfter: lockAfter(time.Second)}), plan.GuardLimits{}, nil)
	w.twoRooms(t, r)
	dan := id.UserID("@dan:hs")
	w.records[dan] = plan.AccountRecord{User: dan, SourceID: "dan", DeactivatedAt: earlier, Deleted: true, LockedByBot: true, LockedAt: earlier}
	w.locked[dan] = true
	w.everyone[dan] = plan.AccountActive
	w.cycle(t, r)
	if got := fmt.Sprint(w.calls); got != "[set_locked @dan:hs false]" || w.locked[dan] {
		t.Fatalf("calls %s: want the bot's lock lifted", got)
	}
	if _, ok := w.records[dan]; ok {
		t.Errorf("record kept: %+v", w.records[dan])
	}
	if fmt.Sprint(w.lookups[len(w.lookups)-1]) != "[@dan:hs]" {
		t.Errorf("lookups %v: want dan looked up by his record", w.lookups)
	}
}
