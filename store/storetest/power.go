package storetest

import (
	"reflect"
	"testing"
	"time"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/usermap"
)

// powerTests are the cases of the power-level grants and the external-ID cache.
var powerTests = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) Store)
}{
	{"power grants round-trip, keep a zero demotion zero, are replaced and deleted", testPowerGrants},
	{"external IDs are cached per provider, empty users included, and replaced", testExternalIDs},
	{"power grants and external IDs survive a restart", testPowerReopen},
}

func runPower(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range powerTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

func checkGrants(t *testing.T, s Store, want map[plan.RoomUser]plan.PowerGrant) {
	t.Helper()
	got, err := s.PowerGrants(t.Context())
	must(t, "PowerGrants", err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("grants = %+v, want %+v", got, want)
	}
}

func testPowerGrants(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	checkGrants(t, s, map[plan.RoomUser]plan.PowerGrant{})
	a := plan.PowerGrant{Room: roomA, User: alice, Level: 50, GrantedAt: base()}
	b := plan.PowerGrant{Room: roomB, User: alice, Level: 75, GrantedAt: base().Add(time.Minute), DemoteAt: base().Add(48 * time.Hour)}
	must(t, "PutPowerGrant", s.PutPowerGrant(ctx, a))
	must(t, "PutPowerGrant", s.PutPowerGrant(ctx, b))
	checkGrants(t, s, map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: alice}: a, {Room: roomB, User: alice}: b})
	// A demotion scheduled, then cancelled: the row is replaced each time.
	a.DemoteAt = base().Add(time.Hour)
	must(t, "PutPowerGrant", s.PutPowerGrant(ctx, a))
	checkGrants(t, s, map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: alice}: a, {Room: roomB, User: alice}: b})
	a.DemoteAt = time.Time{}
	must(t, "PutPowerGrant", s.PutPowerGrant(ctx, a))
	must(t, "DeletePowerGrant", s.DeletePowerGrant(ctx, roomB, alice))
	must(t, "DeletePowerGrant of a missing grant", s.DeletePowerGrant(ctx, roomB, bob))
	checkGrants(t, s, map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: alice}: a})
}

func testExternalIDs(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	check := func(provider string, want map[string]usermap.CachedID) {
		t.Helper()
		got, err := s.ExternalIDs(ctx, provider)
		must(t, "ExternalIDs", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("external IDs of %s = %+v, want %+v", provider, got, want)
		}
	}
	check("oidc-authentik", map[string]usermap.CachedID{})
	must(t, "PutExternalID", s.PutExternalID(ctx, "oidc-authentik", "hash-1", usermap.CachedID{User: alice, CheckedAt: base()}))
	must(t, "PutExternalID", s.PutExternalID(ctx, "oidc-authentik", "hash-2", usermap.CachedID{CheckedAt: base()}))
	must(t, "PutExternalID", s.PutExternalID(ctx, "oidc-other", "hash-1", usermap.CachedID{User: bob, CheckedAt: base()}))
	check("oidc-authentik", map[string]usermap.CachedID{"hash-1": {User: alice, CheckedAt: base()}, "hash-2": {CheckedAt: base()}})
	must(t, "PutExternalID", s.PutExternalID(ctx, "oidc-authentik", "hash-2", usermap.CachedID{User: bob, CheckedAt: base().Add(time.Hour)}))
	check("oidc-authentik", map[string]usermap.CachedID{"hash-1": {User: alice, CheckedAt: base()}, "hash-2": {User: bob, CheckedAt: base().Add(time.Hour)}})
	check("oidc-other", map[string]usermap.CachedID{"hash-1": {User: bob, CheckedAt: base()}})
}

func testPowerReopen(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	g := plan.PowerGrant{Room: roomA, User: bob, Level: 50, GrantedAt: base(), DemoteAt: base().Add(time.Hour)}
	must(t, "PutPowerGrant", s.PutPowerGrant(t.Context(), g))
	must(t, "PutExternalID", s.PutExternalID(t.Context(), "oidc-authentik", "h", usermap.CachedID{User: bob, CheckedAt: base()}))
	must(t, "Close", s.Close())
	again := open(t)
	checkGrants(t, again, map[plan.RoomUser]plan.PowerGrant{{Room: roomA, User: bob}: g})
	got, err := again.ExternalIDs(t.Context(), "oidc-authentik")
	must(t, "ExternalIDs", err)
	if got["h"].User != bob {
		t.Errorf("external IDs after restart = %+v", got)
	}
}
