package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/scimstate"
	"authentik-matrix-sync/usermap"
)

// state builds a snapshot: users by id (active unless the id starts with "off-"), groups created
// at the given ages (before now), with members.
type testGroup struct {
	name    string
	age     time.Duration
	members []string
}

func stateOf(users []string, groups map[string]testGroup, now time.Time) *scimstate.Snapshot {
	s := scimstate.Empty()
	for _, u := range users {
		s.Users[u] = scimstate.User{ID: u, UserName: "name-" + u, ExternalID: "uid-" + u, Active: !strings.HasPrefix(u, "off-")}
	}
	for gid, g := range groups {
		members := slices.Clone(g.members)
		slices.Sort(members)
		s.Groups[gid] = scimstate.Group{ID: gid, DisplayName: g.name, Members: members, Created: now.Add(-g.age)}
	}
	s.LastWrite = now.Add(-time.Hour)
	return &s
}

// TestIncompleteRule is the rule of directory.go, case by case: which groups are missing, which
// are incomplete (and why), and who their effective members are.
func TestIncompleteRule(t *testing.T) {
	now := start
	old := time.Hour
	nested := func(depth int) map[string]testGroup {
		gs := map[string]testGroup{}
		for i := 0; i <= depth; i++ {
			members := []string{fmt.Sprintf("u%d", i)}
			if i < depth {
				members = append(members, fmt.Sprintf("g%d", i+1))
			}
			gs[fmt.Sprintf("g%d", i)] = testGroup{name: fmt.Sprintf("level%d", i), age: old, members: members}
		}
		return gs
	}
	deepUsers := func(n int) []string {
		var us []string
		for i := 0; i <= n; i++ {
			us = append(us, fmt.Sprintf("u%d", i))
		}
		return us
	}
	// Authentik's tree of the tree cases: staff (pk-staff) above devs (pk-devs) above ops
	// (pk-ops); the pushed groups carry Authentik's pk as externalId, as its default mapping does.
	akTree := []directory.Group{
		{PK: "pk-staff", Name: "staff", Children: []string{"pk-devs"}},
		{PK: "pk-devs", Name: "devs", Children: []string{"pk-ops"}},
		{PK: "pk-ops", Name: "ops"},
	}
	pushedTree := map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"devs", old, []string{"b"}}, "subsub": {"ops", old, []string{"c"}}}
	byExternal := map[string]string{"g": "pk-staff", "sub": "pk-devs", "subsub": "pk-ops"}
	tests := []struct {
		name       string
		users      []string
		groups     map[string]testGroup
		external   map[string]string // externalId by SCIM group id
		tree       []directory.Group
		treeErr    error
		settled    bool
		ask        string
		want       []string // usernames without the "name-" prefix
		via        map[string]string
		missing    bool
		incomplete string // a part of the reason; "" for complete
	}{
		{name: "a settled old group with active users is complete", users: []string{"a", "b"},
			groups: map[string]testGroup{"g": {"staff", old, []string{"b", "a"}}}, settled: true, ask: "staff", want: []string{"a", "b"}},
		{name: "inactive users are no members, and that is no gap", users: []string{"a", "off-b"},
			groups: map[string]testGroup{"g": {"staff", old, []string{"a", "off-b"}}}, settled: true, ask: "staff", want: []string{"a"}},
		{name: "an empty old group is complete: removals may follow", groups: map[string]testGroup{"g": {"staff", old, nil}},
			settled: true, ask: "staff", want: []string{}},
		{name: "a group never pushed is missing", users: []string{"a"}, groups: map[string]testGroup{"g": {"other", old, []string{"a"}}},
			settled: true, ask: "staff", missing: true},
		{name: "before the initial sync settled every group is incomplete", users: []string{"a"},
			groups: map[string]testGroup{"g": {"staff", old, []string{"a"}}}, ask: "staff", want: []string{"a"}, incomplete: "initial SCIM sync has not settled"},
		{name: "a group created within the settle time is incomplete", users: []string{"a"},
			groups: map[string]testGroup{"g": {"staff", 30 * time.Second, []string{"a"}}}, settled: true, ask: "staff", want: []string{"a"}, incomplete: "was created 30s ago"},
		{name: "a member naming a user never pushed makes it incomplete; the others stay", users: []string{"a"},
			groups: map[string]testGroup{"g": {"staff", old, []string{"a", "ghost"}}}, settled: true, ask: "staff", want: []string{"a"}, incomplete: `member "ghost"`},
		{name: "members of nested groups count, once each", users: []string{"a", "b", "c"},
			groups:  map[string]testGroup{"g": {"staff", old, []string{"a", "sub"}}, "sub": {"devs", old, []string{"a", "b", "subsub"}}, "subsub": {"ops", old, []string{"c"}}},
			settled: true, ask: "staff", want: []string{"a", "b", "c"}, via: map[string]string{"b": "devs", "c": "ops"}},
		{name: "a loop of groups ends", users: []string{"a", "b"},
			groups:  map[string]testGroup{"g": {"staff", old, []string{"a", "sub"}}, "sub": {"devs", old, []string{"b", "g"}}},
			settled: true, ask: "staff", want: []string{"a", "b"}},
		{name: "a nested group created within the settle time makes it incomplete", users: []string{"a", "b"},
			groups:  map[string]testGroup{"g": {"staff", old, []string{"a", "sub"}}, "sub": {"devs", time.Second, []string{"b"}}},
			settled: true, ask: "staff", want: []string{"a", "b"}, incomplete: `nested SCIM group "devs"`},
		{name: "a dangling member of a nested group makes it incomplete", users: []string{"a"},
			groups:  map[string]testGroup{"g": {"staff", old, []string{"sub"}}, "sub": {"devs", old, []string{"a", "ghost"}}},
			settled: true, ask: "staff", want: []string{"a"}, incomplete: `"devs" lists member "ghost"`},
		{name: "20 levels of nesting are walked", users: deepUsers(20), groups: nested(20), settled: true, ask: "level0", want: deepUsers(20)},
		{name: "deeper nesting makes it incomplete", users: deepUsers(21), groups: nested(21), settled: true, ask: "level0",
			want: deepUsers(20), incomplete: "deeper than 20 levels"},

		{name: "members of Authentik's subgroups count, though only direct members were pushed", users: []string{"a", "b", "c", "off-d"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"devs", old, []string{"b", "off-d"}}, "subsub": {"ops", old, []string{"c"}}},
			external: byExternal, tree: akTree, settled: true, ask: "staff", want: []string{"a", "b", "c"}, via: map[string]string{"b": "devs", "c": "ops"}},
		{name: "a subgroup asked for itself counts its own subgroups only", users: []string{"a", "b", "c"}, groups: pushedTree,
			external: byExternal, tree: akTree, settled: true, ask: "devs", want: []string{"b", "c"}, via: map[string]string{"c": "ops"}},
		{name: "without externalIds the groups are matched by name", users: []string{"a", "b", "c"}, groups: pushedTree,
			tree: akTree, settled: true, ask: "staff", want: []string{"a", "b", "c"}, via: map[string]string{"b": "devs", "c": "ops"}},
		{name: "a pk spelt without dashes is the same pk", users: []string{"a", "b"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"team-b", old, []string{"b"}}},
			external: map[string]string{"g": "8C9C0443-4C94-4CD9-B28D-6A827F91C524", "sub": "0effb86ff6394d47bb84a63563e75e5a"},
			tree: []directory.Group{{PK: "8c9c0443-4c94-4cd9-b28d-6a827f91c524", Name: "staff", Children: []string{"0effb86f-f639-4d47-bb84-a63563e75e5a"}},
				{PK: "0effb86f-f639-4d47-bb84-a63563e75e5a", Name: "backend"}},
			settled: true, ask: "staff", want: []string{"a", "b"}, via: map[string]string{"b": "team-b"}},
		{name: "a subgroup in Authentik's tree the client has not pushed makes it incomplete; the groups below it still count", users: []string{"a", "c"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "subsub": {"ops", old, []string{"c"}}},
			external: byExternal, tree: akTree, settled: true, ask: "staff", want: []string{"a", "c"}, incomplete: `Authentik subgroup "devs" has not been pushed`},
		{name: "an unreadable tree makes every group incomplete; the pushed members are still known", users: []string{"a", "b", "c"}, groups: pushedTree,
			external: byExternal, treeErr: errors.New("authentik answered 503"), settled: true, ask: "staff", want: []string{"a"},
			incomplete: "group tree could not be read"},
		{name: "a group Authentik's tree does not hold counts its pushed members alone", users: []string{"a", "b"},
			groups:   map[string]testGroup{"g": {"pushed-only", old, []string{"a", "sub"}}, "sub": {"nested", old, []string{"b"}}},
			external: map[string]string{"g": "okta-00g1", "sub": "okta-00g2"}, tree: akTree, settled: true, ask: "pushed-only",
			want: []string{"a", "b"}, via: map[string]string{"b": "nested"}},
		{name: "a group renamed in Authentik whose rename has not arrived is found by its pk", users: []string{"a", "b", "c"},
			groups:   map[string]testGroup{"g": {"staff-old", old, []string{"a"}}, "sub": {"devs", old, []string{"b"}}, "subsub": {"ops", old, []string{"c"}}},
			external: byExternal, tree: akTree, settled: true, ask: "staff", want: []string{"a", "b", "c"}, via: map[string]string{"b": "devs", "c": "ops"}},
		{name: "a pushed group whose name Authentik gave another group since is incomplete", users: []string{"a", "b"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"devs", old, []string{"b"}}},
			external: map[string]string{"g": "pk-devs", "sub": "pk-staff"}, tree: akTree, settled: true, ask: "staff",
			want: []string{"a"}, incomplete: "a rename has not been pushed yet"},
		{name: "a subgroup the listing does not hold makes it incomplete", users: []string{"a"}, groups: map[string]testGroup{"g": {"staff", old, []string{"a"}}},
			external: byExternal, tree: []directory.Group{{PK: "pk-staff", Name: "staff", Children: []string{"pk-gone"}}}, settled: true, ask: "staff",
			want: []string{"a"}, incomplete: "not in its group listing"},
		{name: "a loop in Authentik's tree ends", users: []string{"a", "b"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"devs", old, []string{"b"}}},
			external: map[string]string{"g": "pk-staff", "sub": "pk-devs"},
			tree:     []directory.Group{{PK: "pk-staff", Name: "staff", Children: []string{"pk-devs"}}, {PK: "pk-devs", Name: "devs", Children: []string{"pk-staff"}}},
			settled:  true, ask: "staff", want: []string{"a", "b"}, via: map[string]string{"b": "devs"}},
		{name: "a subgroup pushed within the settle time makes it incomplete", users: []string{"a", "b"},
			groups:   map[string]testGroup{"g": {"staff", old, []string{"a"}}, "sub": {"devs", time.Second, []string{"b"}}},
			external: byExternal, tree: akTree[:2], settled: true, ask: "staff", want: []string{"a", "b"}, incomplete: `subgroup "devs" was created 1s ago`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := stateOf(tc.users, tc.groups, now)
			for gid, ext := range tc.external {
				if g, ok := s.Groups[gid]; ok {
					g.ExternalID = ext
					s.Groups[gid] = g
				}
			}
			got := effective(s, tc.tree, tc.treeErr, []string{tc.ask}, now, time.Minute, tc.settled)[tc.ask]
			if tc.missing {
				if got.missing == nil || len(got.users) != 0 {
					t.Fatalf("got %+v, want missing", got)
				}
				return
			}
			if got.missing != nil {
				t.Fatalf("missing: %v", got.missing)
			}
			var names []string
			for _, u := range got.users {
				names = append(names, strings.TrimPrefix(u.Username, "name-"))
			}
			slices.Sort(names)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) && !(len(names) == 0 && len(want) == 0) {
				t.Errorf("members %v, want %v", names, want)
			}
			via := map[string]string{}
			for _, u := range got.users {
				if u.UID != "uid-"+strings.TrimPrefix(u.Username, "name-") || !u.IsActive || u.PK == 0 {
					t.Errorf("user %+v: want the externalId as UID, active, and a PK", u)
				}
				if g, ok := got.via[u.PK]; ok {
					via[strings.TrimPrefix(u.Username, "name-")] = g
				}
			}
			if len(got.via) != len(via) || tc.via != nil && !maps.Equal(via, tc.via) {
				t.Errorf("via %v (by PK %v), want %v", via, got.via, tc.via)
			}
			switch {
			case tc.incomplete == "" && got.incomplete != nil:
				t.Errorf("incomplete: %v, want complete", got.incomplete)
			case tc.incomplete != "" && (got.incomplete == nil || !strings.Contains(got.incomplete.Error(), tc.incomplete)):
				t.Errorf("incomplete: %v, want a reason with %q", got.incomplete, tc.incomplete)
			}
		})
	}
}

// staticTree is an Authentik group tree that answers what it holds.
type staticTree struct {
	groups []directory.Group
	err    error
	reads  int
}

func (s *staticTree) ListGroups(context.Context) ([]directory.Group, error) {
	s.reads++
	return s.groups, s.err
}

// newDirectory is the reconciler's view of f's state with Authentik's tree, mapped with the
// default template.
func newDirectory(t *testing.T, res *Resources, tree GroupTree) *usermap.Directory {
	t.Helper()
	mapper, err := usermap.New("@{username}:{server}", "matrix_id", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(res, tree)
	if err != nil {
		t.Fatal(err)
	}
	return &usermap.Directory{Source: src, Mapper: mapper, Log: zerolog.Nop()}
}

func memberIDs(g plan.GroupMembers) []id.UserID {
	var out []id.UserID
	for _, m := range g.Members {
		out = append(out, m.UserID)
	}
	return out
}

// TestDirectorySettles follows a fresh receiver through Authentik's initial sync: every group is
// incomplete (Err set: no removals) until the state has been quiet for the settle time, yet its
// known members are added meanwhile; a group created later is incomplete for the settle time;
// and the settled moment survives a restart, so a write right after it does not undo it.
func TestDirectorySettles(t *testing.T) {
	const settle = time.Minute
	f := newFixture(t, settle)
	tree := &staticTree{groups: []directory.Group{{PK: "5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a", Name: "staff"}}}
	dir := newDirectory(t, f.res, tree)
	check := func(step string, wantErr bool, want ...id.UserID) {
		t.Helper()
		g := dir.Members(t.Context(), []string{"staff"})["staff"]
		if (g.Err != nil) != wantErr || !slices.Equal(memberIDs(g), want) {
			t.Errorf("%s: members %v, err %v; want %v, err %v", step, memberIDs(g), g.Err, want, wantErr)
		}
	}
	check("nothing pushed", true)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201)
	f.do("POST", "/scim/v2/Users", bobBody).must(t, 201)
	f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201)
	f.do("PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-1")).must(t, 200)
	check("right after the pushes", true, "@alice:example.org")
	f.clock.advance(settle - time.Second)
	check("just before the state settled", true, "@alice:example.org")
	f.clock.advance(time.Second)
	check("once settled", false, "@alice:example.org")

	// A write after the quiet period records it; a restart keeps it.
	f.do("PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-2")).must(t, 200)
	if got := f.state().SettledAt; !got.Equal(start.Add(settle)) {
		t.Errorf("settled at %v, want %v", got, start.Add(settle))
	}
	f.open(settle)
	dir = newDirectory(t, f.res, tree)
	check("after a restart right after a write", false, "@alice:example.org", "@bob:example.org")

	// A group created now is incomplete for the settle time; staff is not.
	f.do("POST", "/scim/v2/Groups", `{"displayName":"late","members":[{"value":"id-1"}]}`).must(t, 201)
	late := dir.Members(t.Context(), []string{"late", "staff"})
	if late["late"].Err == nil || !slices.Equal(memberIDs(late["late"]), []id.UserID{"@alice:example.org"}) || late["staff"].Err != nil {
		t.Errorf("a new group: %+v; staff: %+v", late["late"], late["staff"])
	}
	f.clock.advance(settle)
	if g := dir.Members(t.Context(), []string{"late"})["late"]; g.Err != nil {
		t.Errorf("late after the settle time: %v", g.Err)
	}

	// A user who is no valid Matrix ID keeps the group incomplete, as with Authentik's API.
	f.do("POST", "/scim/v2/Users", `{"userName":"   ","displayName":"x"}`).checkError(t, 400, "invalidValue")
	f.do("POST", "/scim/v2/Users", `{"userName":"`+strings.Repeat("x", 300)+`"}`).must(t, 201) // too long for a Matrix ID
	f.do("PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-5")).must(t, 200)
	if g := dir.Members(t.Context(), []string{"staff"})["staff"]; g.Err == nil {
		t.Errorf("a member without a valid Matrix ID left staff complete: %+v", g)
	}
}

// TestSourceWithoutDirectory: the Source used as a plain usermap.Source (without usermap's
// Directory) still marks an incomplete group with Err, and reads the tree once a call.
func TestSourceWithoutDirectory(t *testing.T) {
	f := newFixture(t, time.Minute)
	f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201)
	tree := &staticTree{}
	src, err := NewSource(f.res, tree)
	if err != nil {
		t.Fatal(err)
	}
	if m := src.EffectiveMembers(t.Context(), []string{"staff", "other"})["staff"]; m.Err == nil {
		t.Errorf("a new group read without Directory has no Err: %+v", m)
	}
	if tree.reads != 1 {
		t.Errorf("the tree was read %d times for one call, want once", tree.reads)
	}
	if _, err := NewSource(f.res, nil); !errors.Is(err, ErrNoGroupTree) {
		t.Errorf("a source without Authentik's tree: %v, want ErrNoGroupTree", err)
	}
}

// TestListGroupsAndUsers: the group tree the trigger walks (Authentik's, with the pushed nesting
// added), and the user listings of the account lifecycle: inactive users are listed, everyone is
// not (SCIM cannot tell a deletion).
func TestListGroupsAndUsers(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", strings.Replace(aliceBody, `"active":true`, `"active":false`, 1)).must(t, 201)
	f.do("POST", "/scim/v2/Groups", `{"displayName":"sub","members":[{"value":"id-1"}]}`).must(t, 201)
	f.do("POST", "/scim/v2/Groups", `{"displayName":"top","members":[{"value":"id-2","type":"Group"}]}`).must(t, 201)
	tree := &staticTree{groups: []directory.Group{{PK: "pk-eng", Name: "engineering", Children: []string{"pk-top"}}, {PK: "pk-top", Name: "top"}}}
	src, err := NewSource(f.res, tree)
	if err != nil {
		t.Fatal(err)
	}
	got, err := src.ListGroups(t.Context())
	want := []directory.Group{{PK: "pk-eng", Name: "engineering", Children: []string{"pk-top"}}, {PK: "pk-top", Name: "top", Children: []string{"scim:id-2"}},
		{PK: "scim:id-2", Name: "sub"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListGroups = %+v, %v; want %+v", got, err, want)
	}
	if len(tree.groups[1].Children) != 0 {
		t.Errorf("ListGroups changed the tree it read: %+v", tree.groups)
	}
	tree.err = errors.New("authentik answered 503")
	if _, err := src.ListGroups(t.Context()); err == nil {
		t.Error("ListGroups without Authentik's tree answered")
	}
	inactive, err := src.ListInactiveUsers(t.Context())
	if err != nil || len(inactive) != 1 || inactive[0].Username != "alice" || inactive[0].UID != "a1b2c3uid" || inactive[0].IsActive {
		t.Errorf("ListInactiveUsers = %+v, %v", inactive, err)
	}
}
