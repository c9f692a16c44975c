package authentik_test

import (
	"maps"
	"testing"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
)

// TestEffectiveMembersNameTheSubgroup: a member through a subgroup is named with the nearest
// subgroup they are a direct member of; direct members, and every member of a group without
// subgroups, have no entry, and such a group's Via is nil (nothing allocated).
func TestEffectiveMembersNameTheSubgroup(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	tree(s) // staff > engineering > backend, plus admins
	s.AddUser("ghost", authentiktest.WithActive(false))
	s.AddMembers("backend", "ghost")
	c, err := authentik.New(s.URL(), token, authentik.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.EffectiveMembers(t.Context(), []string{"staff", "engineering", "backend", "admins"})
	pk := func(name string) int {
		u, ok := s.User(name)
		if !ok {
			t.Fatalf("no user %s", name)
		}
		return u.PK
	}
	want := map[string]map[int]string{
		// alice is in staff itself and in engineering: direct wins.
		"staff":       {pk("bob"): "engineering", pk("carol"): "backend"},
		"engineering": {pk("carol"): "backend"},
		"backend":     nil,
		"admins":      nil,
	}
	for name, w := range want {
		m := got[name]
		if m.Err != nil {
			t.Fatalf("%s: %v", name, m.Err)
		}
		if !maps.Equal(m.Via, w) || (w == nil) != (m.Via == nil) {
			t.Errorf("%s: Via %v, want %v (members %v)", name, m.Via, w, usernames(m.Users))
		}
	}
}
