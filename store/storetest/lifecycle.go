package storetest

import (
	"reflect"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// lifecycleTests are the cases of the account lifecycle records and the synced profiles.
var lifecycleTests = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) Store)
}{
	{"account records round-trip with zero times kept zero, are replaced and deleted", testAccountRecords},
	{"synced profiles are kept per user and field, and replaced", testSyncedProfiles},
	{"account records and synced profiles survive a restart", testLifecycleReopen},
}

func runLifecycle(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range lifecycleTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

func checkAccountRecords(t *testing.T, s Store, want map[id.UserID]plan.AccountRecord) {
	t.Helper()
	got, err := s.AccountRecords(t.Context())
	must(t, "AccountRecords", err)
	if len(got) != len(want) {
		t.Errorf("account records = %+v, want %+v", got, want)
		return
	}
	for u, w := range want {
		g, ok := got[u]
		if !ok || g.User != w.User || g.Deleted != w.Deleted || g.LockedByBot != w.LockedByBot ||
			!sameTime(g.DeactivatedAt, w.DeactivatedAt) || !sameTime(g.LockedAt, w.LockedAt) || !sameTime(g.LoggedOutAt, w.LoggedOutAt) {
			t.Errorf("account record of %s = %+v, want %+v", u, g, w)
		}
	}
}

func testAccountRecords(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	checkAccountRecords(t, s, map[id.UserID]plan.AccountRecord{})
	a := plan.AccountRecord{User: alice, DeactivatedAt: base()}
	b := plan.AccountRecord{User: bob, SourceID: "42", Username: "bob", DeactivatedAt: base().Add(time.Minute), Deleted: true, LockedByBot: true,
		LockedAt: base().Add(30 * 24 * time.Hour), LoggedOutAt: base().Add(time.Minute + 1500*time.Millisecond)}
	must(t, "PutAccountRecord", s.PutAccountRecord(ctx, a))
	must(t, "PutAccountRecord", s.PutAccountRecord(ctx, b))
	checkAccountRecords(t, s, map[id.UserID]plan.AccountRecord{alice: a, bob: b})
	// Logged out, then the lock found set by someone else: the row is replaced each time.
	a.LoggedOutAt = base().Add(time.Second)
	must(t, "PutAccountRecord", s.PutAccountRecord(ctx, a))
	a.LockedAt = base().Add(time.Hour)
	must(t, "PutAccountRecord", s.PutAccountRecord(ctx, a))
	checkAccountRecords(t, s, map[id.UserID]plan.AccountRecord{alice: a, bob: b})
	must(t, "DeleteAccountRecord", s.DeleteAccountRecord(ctx, bob))
	must(t, "DeleteAccountRecord of a missing record", s.DeleteAccountRecord(ctx, bob))
	checkAccountRecords(t, s, map[id.UserID]plan.AccountRecord{alice: a})
}

func testSyncedProfiles(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	check := func(want map[plan.ProfileKey]string) {
		t.Helper()
		got, err := s.SyncedProfiles(ctx)
		must(t, "SyncedProfiles", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("synced profiles = %v, want %v", got, want)
		}
	}
	check(map[plan.ProfileKey]string{})
	must(t, "PutSyncedProfile", s.PutSyncedProfile(ctx, alice, plan.FieldDisplayName, "Alice A"))
	must(t, "PutSyncedProfile", s.PutSyncedProfile(ctx, alice, plan.FieldAvatar, "mxc://example.org/a"))
	must(t, "PutSyncedProfile", s.PutSyncedProfile(ctx, bob, plan.FieldDisplayName, "Bøb «B» 🐝"))
	must(t, "PutSyncedProfile", s.PutSyncedProfile(ctx, alice, plan.FieldDisplayName, "Alice Renamed"))
	check(map[plan.ProfileKey]string{
		{User: alice, Field: plan.FieldDisplayName}: "Alice Renamed",
		{User: alice, Field: plan.FieldAvatar}:      "mxc://example.org/a",
		{User: bob, Field: plan.FieldDisplayName}:   "Bøb «B» 🐝",
	})
}

func testLifecycleReopen(t *testing.T, open func(*testing.T) Store) {
	first := open(t)
	s := first
	ctx := t.Context()
	rec := plan.AccountRecord{User: alice, DeactivatedAt: base(), LockedByBot: true, LockedAt: base().Add(time.Hour)}
	must(t, "PutAccountRecord", s.PutAccountRecord(ctx, rec))
	must(t, "PutSyncedProfile", s.PutSyncedProfile(ctx, alice, plan.FieldDisplayName, "Alice A"))
	must(t, "Close", first.Close())
	s = open(t)
	checkAccountRecords(t, s, map[id.UserID]plan.AccountRecord{alice: rec})
	got, err := s.SyncedProfiles(ctx)
	must(t, "SyncedProfiles", err)
	if got[plan.ProfileKey{User: alice, Field: plan.FieldDisplayName}] != "Alice A" {
		t.Errorf("synced profiles after a restart = %v", got)
	}
}
