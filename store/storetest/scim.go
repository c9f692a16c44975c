package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"authentik-matrix-sync/scimstate"
)

// scimTests are the cases of the state the SCIM receiver keeps.
var scimTests = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) Store)
}{
	{"an empty store has SCIM version 0 and no users or groups", testSCIMEmpty},
	{"users, groups and members round-trip and every write moves the version", testSCIMRoundTrip},
	{"a change computed from an old version is refused whole", testSCIMStale},
	{"deleting a user or a group drops the memberships naming it", testSCIMDeletes},
	{"the first settled time is kept", testSCIMSettled},
	{"a second user with a taken userName is refused and nothing is written", testSCIMUniqueUserName},
	{"the SCIM state survives a restart", testSCIMReopen},
}

func runSCIM(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range scimTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

func scimOf(t *testing.T, s Store) scimstate.Store {
	t.Helper()
	ss, ok := s.(scimstate.Store)
	if !ok {
		t.Fatal("the store lacks the SCIM methods")
	}
	return ss
}

func scimState(t *testing.T, s scimstate.Store) scimstate.Snapshot {
	t.Helper()
	snap, err := s.SCIMState(t.Context())
	must(t, "SCIMState", err)
	v, err := s.SCIMVersion(t.Context())
	must(t, "SCIMVersion", err)
	if v != snap.Version {
		t.Errorf("SCIMVersion = %d, SCIMState's version %d", v, snap.Version)
	}
	return snap
}

var (
	scimAlice = scimstate.User{ID: "u-alice", UserName: "alice", ExternalID: "uid-alice", Active: true, DisplayName: "Alice A",
		Name:    scimstate.Name{Formatted: "Alice A", GivenName: "Alice", FamilyName: "A"},
		Emails:  []scimstate.Email{{Value: "alice@example.org", Type: "other", Primary: true}},
		Created: base(), Modified: base().Add(time.Minute)}
	scimBob   = scimstate.User{ID: "u-bob", UserName: "bob", ExternalID: "uid-bob", Active: false, Created: base(), Modified: base()}
	scimStaff = scimstate.Group{ID: "g-staff", DisplayName: "staff", ExternalID: "pk-staff", Created: base(), Modified: base()}
	scimSub   = scimstate.Group{ID: "g-sub", DisplayName: "sub", ExternalID: "pk-sub", Created: base(), Modified: base()}
)

// fillSCIM writes alice, bob, staff (alice, bob, sub, and a dangling id) and sub (alice), one
// change each, and returns the state it should have made.
func fillSCIM(t *testing.T, s scimstate.Store) scimstate.Snapshot {
	t.Helper()
	ctx := t.Context()
	at := base().Add(time.Hour)
	changes := []scimstate.Change{
		{PutUser: &scimAlice},
		{PutUser: &scimBob},
		{PutGroup: &scimSub, MembersOf: scimSub.ID, AddMembers: []string{scimAlice.ID}},
		{PutGroup: &scimStaff, MembersOf: scimStaff.ID, AddMembers: []string{scimBob.ID, scimAlice.ID, "u-never-pushed", scimSub.ID}},
	}
	for i, c := range changes {
		c.Base, c.At = int64(i), at.Add(time.Duration(i)*time.Second)
		must(t, "ApplySCIM", s.ApplySCIM(ctx, c))
	}
	staff, sub := scimStaff, scimSub
	staff.Members = []string{scimSub.ID, scimAlice.ID, scimBob.ID, "u-never-pushed"}
	sub.Members = []string{scimAlice.ID}
	return scimstate.Snapshot{Version: 4, LastWrite: at.Add(3 * time.Second),
		Users:  map[string]scimstate.User{scimAlice.ID: scimAlice, scimBob.ID: scimBob},
		Groups: map[string]scimstate.Group{staff.ID: sortedMembers(staff), sub.ID: sub}}
}

func sortedMembers(g scimstate.Group) scimstate.Group {
	g.Members = slices.Clone(g.Members)
	slices.Sort(g.Members)
	return g
}

func checkSCIM(t *testing.T, got, want scimstate.Snapshot) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SCIM state:\n got  %+v\n want %+v", got, want)
	}
}

func testSCIMEmpty(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	checkSCIM(t, scimState(t, s), scimstate.Snapshot{Users: map[string]scimstate.User{}, Groups: map[string]scimstate.Group{}})
}

func testSCIMRoundTrip(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	want := fillSCIM(t, s)
	checkSCIM(t, scimState(t, s), want)

	// A replaced user and group, and a member change in both directions.
	alice := scimAlice
	alice.UserName, alice.Active, alice.Emails = "alice2", false, nil
	staff := scimStaff
	staff.DisplayName = "staff-renamed"
	ctx := t.Context()
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 4, At: base().Add(2 * time.Hour), PutUser: &alice}))
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 5, At: base().Add(3 * time.Hour), PutGroup: &staff,
		MembersOf: staff.ID, AddMembers: []string{"u-carol"}, RemoveMembers: []string{scimBob.ID, "u-never-pushed"}}))
	want.Version, want.LastWrite = 6, base().Add(3*time.Hour)
	want.Users[alice.ID] = alice
	staff.Members = []string{scimSub.ID, scimAlice.ID, "u-carol"}
	want.Groups[staff.ID] = sortedMembers(staff)
	checkSCIM(t, scimState(t, s), want)
}

func testSCIMStale(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	want := fillSCIM(t, s)
	carol := scimstate.User{ID: "u-carol", UserName: "carol", Active: true, Created: base(), Modified: base()}
	err := s.ApplySCIM(t.Context(), scimstate.Change{Base: 3, At: base().Add(5 * time.Hour), PutUser: &carol,
		MembersOf: scimStaff.ID, AddMembers: []string{carol.ID}})
	if !errors.Is(err, scimstate.ErrStale) {
		t.Fatalf("ApplySCIM from version 3 at version 4 = %v, want ErrStale", err)
	}
	checkSCIM(t, scimState(t, s), want)
}

func testSCIMDeletes(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	want := fillSCIM(t, s)
	ctx := t.Context()
	at := base().Add(6 * time.Hour)
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 4, At: at, DeleteUser: scimAlice.ID}))
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 5, At: at, DeleteGroup: scimSub.ID}))
	delete(want.Users, scimAlice.ID)
	delete(want.Groups, scimSub.ID)
	staff := want.Groups[scimStaff.ID]
	staff.Members = []string{scimBob.ID, "u-never-pushed"}
	want.Groups[scimStaff.ID] = staff
	want.Version, want.LastWrite = 6, at
	checkSCIM(t, scimState(t, s), want)
}

func testSCIMSettled(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	ctx := t.Context()
	first, later := base().Add(time.Minute), base().Add(time.Hour)
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 0, At: base(), PutUser: &scimBob}))
	if got := scimState(t, s).SettledAt; !got.IsZero() {
		t.Errorf("SettledAt = %v before any was recorded", got)
	}
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 1, At: base().Add(2 * time.Minute), Settled: first, PutUser: &scimBob}))
	must(t, "ApplySCIM", s.ApplySCIM(ctx, scimstate.Change{Base: 2, At: base().Add(2 * time.Hour), Settled: later, PutUser: &scimBob}))
	if got := scimState(t, s).SettledAt; !sameTime(got, first) {
		t.Errorf("SettledAt = %v, want the first recorded %v", got, first)
	}
}

func testSCIMUniqueUserName(t *testing.T, open func(*testing.T) Store) {
	s := scimOf(t, open(t))
	want := fillSCIM(t, s)
	twin := scimstate.User{ID: "u-twin", UserName: scimAlice.UserName, Active: true, Created: base(), Modified: base()}
	if err := s.ApplySCIM(t.Context(), scimstate.Change{Base: 4, At: base().Add(9 * time.Hour), PutUser: &twin}); err == nil {
		t.Fatal("a second user named alice was stored")
	}
	checkSCIM(t, scimState(t, s), want)
}

func testSCIMReopen(t *testing.T, open func(*testing.T) Store) {
	first := open(t)
	want := fillSCIM(t, scimOf(t, first))
	must(t, "Close", first.Close())
	checkSCIM(t, scimState(t, scimOf(t, open(t))), want)
}
