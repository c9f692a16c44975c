package authentiktest

import (
	"context"
	"fmt"
	"testing"

	"authentik-matrix-sync/authentik"
)

func TestLoadSynthetic(t *testing.T) {
	for _, spec := range []Synthetic{
		{Users: 10, Groups: 3, MembersPerGroup: 4},
		{Users: 1000, Groups: 20, MembersPerGroup: 100},
		{Users: 7, Groups: 2, MembersPerGroup: 7},
	} {
		t.Run(fmt.Sprintf("%+v", spec), func(t *testing.T) {
			s := New("tok")
			defer s.Close()
			if err := s.LoadSynthetic(spec); err != nil {
				t.Fatal(err)
			}
			c, err := authentik.New(s.URL(), "tok", authentik.Options{PageSize: 100})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for g := range spec.Groups {
				names = append(names, SyntheticGroup(g))
			}
			got := c.EffectiveMembers(context.Background(), names)
			inGroups := map[string]int{}
			for g, name := range names {
				m := got[name]
				if m.Err != nil {
					t.Fatalf("%s: %v", name, m.Err)
				}
				want := map[string]bool{}
				for _, i := range spec.Members(g) {
					want[SyntheticUser(i)] = true
				}
				if len(m.Users) != spec.MembersPerGroup || len(want) != spec.MembersPerGroup {
					t.Fatalf("%s: %d members listed, %d expected, want %d", name, len(m.Users), len(want), spec.MembersPerGroup)
				}
				for _, u := range m.Users {
					if !want[u.Username] {
						t.Fatalf("%s lists %s, which it should not hold", name, u.Username)
					}
					inGroups[u.Username]++
				}
			}
			if spec.Groups*spec.MembersPerGroup >= spec.Users && len(inGroups) != spec.Users {
				t.Errorf("%d of %d users are in a group; the groups should cover everyone", len(inGroups), spec.Users)
			}
			if err := s.LoadSynthetic(spec); err == nil {
				t.Error("loading the same directory twice did not fail")
			}
		})
	}
}
