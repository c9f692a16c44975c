package usermap_test

import (
	"fmt"
	"maps"
	"reflect"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/usermap"
)

// TestDirectoryKeepsTheSubgroup: the subgroup Authentik named for a member comes out keyed by
// the member's Matrix ID, on both paths (group by group and all at once); a group whose members
// are all direct has no map at all.
func TestDirectoryKeepsTheSubgroup(t *testing.T) {
	src := source{
		"engineering": {Users: []directory.User{{PK: 1, Username: "alice"}, {PK: 2, Username: "bob"}, {PK: 3, Username: "carol"}},
			Via: map[int]string{2: "backend", 3: "frontend"}},
		"ops": {Users: []directory.User{{PK: 1, Username: "alice"}}},
	}
	m, err := usermap.New("@{username}:{server}", "", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	want := map[id.UserID]string{"@alice:example.org": "", "@bob:example.org": "backend", "@carol:example.org": "frontend"}
	for name, dir := range map[string]*usermap.Directory{
		"all at once":    {Source: src, Mapper: m, Log: zerolog.Nop()},
		"group by group": {Source: &eachSource{source: src}, Mapper: m, Log: zerolog.Nop()},
	} {
		got := dir.Members(t.Context(), []string{"engineering", "ops"})
		g := got["engineering"]
		vias := map[id.UserID]string{}
		for i, m := range g.Members {
			vias[m.UserID] = g.Via.Of(i)
		}
		if g.Err != nil || !maps.Equal(vias, want) {
			t.Errorf("%s: engineering through %v (err %v), want %v", name, vias, g.Err, want)
		}
		if g := got["ops"]; !reflect.DeepEqual(g.Via, plan.Provenance{}) {
			t.Errorf("%s: ops, all direct members, has Via %+v; want the zero value", name, g.Via)
		}
	}
}

// BenchmarkDirectoryMembersVia measures what naming the subgroup costs, at the benchmark's
// scale (50,000 users, 200 groups of 500, each user in two): "direct" is the common case, every
// member a direct one (no Via map at all); "inherited" the worst, every member through a
// subgroup. The difference in B/op is the whole cost of Via.
func BenchmarkDirectoryMembersVia(b *testing.B) {
	const users, groups = 50_000, 200
	per, stride := 2*users/groups, users/groups
	all := make([]directory.User, users)
	for i := range all {
		all[i] = directory.User{PK: i + 1, Username: fmt.Sprintf("user%06d", i), IsActive: true}
	}
	m, err := usermap.New("@{username}:{server}", "", "example.org")
	if err != nil {
		b.Fatal(err)
	}
	for _, inherited := range []bool{false, true} {
		name := "direct"
		if inherited {
			name = "inherited"
		}
		b.Run(name, func(b *testing.B) {
			src := source{}
			var names []string
			for g := range groups {
				gm := directory.Membership{Users: make([]directory.User, 0, per)}
				if inherited {
					gm.Via = make(map[int]string, per)
				}
				sub := fmt.Sprintf("group%04d-sub", g)
				for k := range per {
					u := all[(g*stride+k)%users]
					gm.Users = append(gm.Users, u)
					if inherited {
						gm.Via[u.PK] = sub
					}
				}
				name := fmt.Sprintf("group%04d", g)
				src[name] = gm
				names = append(names, name)
			}
			dir := &usermap.Directory{Source: &eachSource{source: src}, Mapper: m, Log: zerolog.Nop()}
			b.ReportAllocs()
			for b.Loop() {
				_ = dir.Members(b.Context(), names)
			}
		})
	}
}
