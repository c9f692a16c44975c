package usermap_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/usermap"
)

// eachSource is source handing the groups over one at a time, as authentik.Client does.
type eachSource struct {
	source
	calls []string
}

func (s *eachSource) EachEffective(_ context.Context, names []string, fn func(string, directory.Membership)) {
	for _, n := range names {
		if m, ok := s.source[n]; ok {
			s.calls = append(s.calls, n)
			fn(n, m)
		}
	}
}

// TestDirectoryGroupByGroup checks that a source read one group at a time gives the same groups
// as one read all at once: members mapped, users without a valid ID marking their group
// incomplete, errors kept, a group the source left out reported as not returned.
func TestDirectoryGroupByGroup(t *testing.T) {
	src := source{
		"staff": {Users: []directory.User{{PK: 1, Username: "alice", Email: "alice@example.com"}, {PK: 2, Username: "bob", Email: "bob@example.com"}}},
		"ops":   {Users: []directory.User{{PK: 2, Username: "bob", Email: "bob@example.com"}, {PK: 3, Username: "noemail"}}},
		"gone":  {Err: errors.New("HTTP 500")},
	}
	names := []string{"staff", "ops", "gone", "missing"}
	m, err := usermap.New("@{email_localpart}:{server}", "", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	whole := (&usermap.Directory{Source: src, Mapper: m, Log: zerolog.Nop()}).Members(t.Context(), names)
	each := &eachSource{source: src}
	byGroup := (&usermap.Directory{Source: each, Mapper: m, Log: zerolog.Nop()}).Members(t.Context(), names)
	if len(each.calls) != 3 {
		t.Fatalf("the group-by-group path was not taken: calls %v", each.calls)
	}
	if len(whole) != len(names) || len(byGroup) != len(names) {
		t.Fatalf("answers: %d all at once, %d group by group, want %d", len(whole), len(byGroup), len(names))
	}
	for _, name := range names {
		w, g := whole[name], byGroup[name]
		if !reflect.DeepEqual(w.Members, g.Members) || (w.Err == nil) != (g.Err == nil) || (w.Err != nil && w.Err.Error() != g.Err.Error()) {
			t.Errorf("%s: all at once %+v, group by group %+v", name, w, g)
		}
	}
	if g := byGroup["staff"]; g.Err != nil || len(g.Members) != 2 || g.Members[0].UserID != "@alice:example.org" {
		t.Errorf("staff: %+v", g)
	}
	if byGroup["ops"].Err == nil || byGroup["gone"].Err == nil || byGroup["missing"].Err == nil {
		t.Errorf("ops (a user without an e-mail address), gone (an error) and missing (not returned) must be incomplete: %+v", byGroup)
	}
}
