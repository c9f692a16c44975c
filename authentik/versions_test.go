package authentik_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/directory"
)

const versionsToken = "ak-versions-token-5d1e"

// Releases whose group shapes differ: 2025.12 and later list several parents; 2025.8 and
// 2025.10 one parent plus the children; before 2025.8 one parent only.
var (
	everyShape  = []string{"2025.12.4", "2025.10.3", "2025.8.0", "2025.6.4", "2024.12.3"}
	severalOnly = []string{"2025.12.4"} // graphs only "parents" can hold
)

// graph is a directory for the effective-members tests: each group's parents and direct
// members, and what each group's effective members must be.
type graph struct {
	name     string
	versions []string
	parents  map[string][]string // group → its parents, first parent first
	members  map[string][]string // group → direct members
	inactive []string
	want     map[string][]string // group → effective members, sorted, each once
}

var graphs = []graph{
	{
		name: "a tree with a child group", versions: everyShape,
		parents:  map[string][]string{"staff": nil, "engineering": {"staff"}, "backend": {"engineering"}, "admins": nil},
		members:  map[string][]string{"staff": {"alice"}, "engineering": {"bob", "alice"}, "backend": {"carol", "ivan"}, "admins": {"erin"}},
		inactive: []string{"ivan"},
		want: map[string][]string{"staff": {"alice", "bob", "carol"}, "engineering": {"alice", "bob", "carol"},
			"backend": {"carol"}, "admins": {"erin"}},
	},
	{
		// A loop of single parents is possible in every release (Authentik only refuses a
		// group as its own parent).
		name: "a loop A→B→A", versions: everyShape,
		parents: map[string][]string{"A": {"B"}, "B": {"A"}},
		members: map[string][]string{"A": {"alice"}, "B": {"bob"}},
		want:    map[string][]string{"A": {"alice", "bob"}, "B": {"alice", "bob"}},
	},
	{
		name: "a loop of three with a group hanging below it", versions: everyShape,
		parents: map[string][]string{"A": {"C"}, "B": {"A"}, "C": {"B"}, "D": {"C"}},
		members: map[string][]string{"A": {"alice"}, "B": {"bob"}, "C": {"carol"}, "D": {"dave"}},
		want: map[string][]string{"A": {"alice", "bob", "carol", "dave"}, "B": {"alice", "bob", "carol", "dave"},
			"C": {"alice", "bob", "carol", "dave"}, "D": {"dave"}},
	},
	{
		name: "a group with several parents", versions: severalOnly,
		parents: map[string][]string{"a": nil, "b": nil, "c": {"a", "b"}},
		members: map[string][]string{"a": {"alice"}, "b": {"bob"}, "c": {"carol"}},
		want:    map[string][]string{"a": {"alice", "carol"}, "b": {"bob", "carol"}, "c": {"carol"}},
	},
	{
		// bob is in B and in D: he counts once in A and in B.
		name: "a diamond: D below both B and C, which are below A", versions: severalOnly,
		parents: map[string][]string{"A": nil, "B": {"A"}, "C": {"A"}, "D": {"B", "C"}},
		members: map[string][]string{"A": {"alice"}, "B": {"bob"}, "C": {"carol"}, "D": {"dave", "bob"}},
		want: map[string][]string{"A": {"alice", "bob", "carol", "dave"}, "B": {"bob", "dave"},
			"C": {"bob", "carol", "dave"}, "D": {"bob", "dave"}},
	},
	{
		name: "a loop through a group with two parents", versions: severalOnly,
		parents: map[string][]string{"A": {"C"}, "B": {"A"}, "C": {"B", "top"}, "top": nil},
		members: map[string][]string{"A": {"alice"}, "B": {"bob"}, "C": {"carol"}, "top": {"tom"}},
		want: map[string][]string{"A": {"alice", "bob", "carol"}, "B": {"alice", "bob", "carol"},
			"C": {"alice", "bob", "carol"}, "top": {"alice", "bob", "carol", "tom"}},
	},
}

// build adds the graph to s: groups first, then their parents, so any graph can be made.
func (g graph) build(s *authentiktest.Server) {
	users := map[string]bool{}
	for _, ms := range g.members {
		for _, m := range ms {
			users[m] = true
		}
	}
	for _, u := range sortedKeys(users) {
		s.AddUser(u, authentiktest.WithActive(!slices.Contains(g.inactive, u)))
	}
	for _, name := range sortedKeys(g.parents) {
		s.AddGroup(name, "")
	}
	for _, name := range sortedKeys(g.parents) {
		s.SetParents(name, g.parents[name]...)
		s.AddMembers(name, g.members[name]...)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestEffectiveMembersInEveryVersion runs the real client against the fake in each release's
// shape, reading members each way: every group gets its members and its subgroups' members,
// each once, and loops end.
func TestEffectiveMembersInEveryVersion(t *testing.T) {
	reads := []authentik.MemberRead{authentik.MemberReadGroupListing, authentik.MemberReadEachGroup, authentik.MemberReadUserListing}
	for _, g := range graphs {
		for _, version := range g.versions {
			for _, read := range reads {
				t.Run(g.name+"/"+version+"/"+read.String(), func(t *testing.T) {
					effectiveInVersion(t, g, version, read)
				})
			}
		}
	}
}

func effectiveInVersion(t *testing.T, g graph, version string, read authentik.MemberRead) {
	s := authentiktest.New(versionsToken)
	t.Cleanup(s.Close)
	s.SetVersion(version)
	g.build(s)
	c, err := authentik.New(s.URL(), versionsToken, authentik.Options{PageSize: 2, MemberRead: read}) // several pages per listing
	if err != nil {
		t.Fatal(err)
	}
	names := sortedKeys(g.want)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan map[string]directory.Membership, 1)
	go func() { done <- c.EffectiveMembers(ctx, names) }()
	var got map[string]directory.Membership
	select {
	case got = <-done:
	case <-ctx.Done():
		t.Fatal("EffectiveMembers did not end")
	}
	for _, name := range names {
		m := got[name]
		if m.Err != nil {
			t.Errorf("%s: %v", name, m.Err)
			continue
		}
		var usernames []string
		for _, u := range m.Users {
			usernames = append(usernames, u.Username)
		}
		if !slices.Equal(usernames, g.want[name]) {
			t.Errorf("%s: effective members %v, want %v", name, usernames, g.want[name])
		}
	}
}
