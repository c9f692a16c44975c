package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/scimstate"
)

// The incomplete rule. SCIM pushes changes one request at a time and never says "this is all",
// so a group can look emptier than it is. A mapped group's membership is incomplete (Err set:
// nobody is removed on its account; the removals already pending keep waiting for their grace
// period) while any of these holds:
//
//  1. no SCIM client has pushed a group of that displayName (yet);
//  2. the initial sync has not settled: from the first write until the state has once been
//     quiet, with no write at all, for the settle time (scim.settle). The moment is stored, so
//     a restart does not start over;
//  3. the group was created less than the settle time ago: Authentik creates a group with a POST
//     and adds its members afterwards with PATCH requests (clients/groups.py, create);
//  4. a member names a SCIM id that is no user or group the client pushed, or a nested group that
//     is itself incomplete, or the nesting goes deeper than 20 levels;
//  5. Authentik's group tree could not be read this cycle, or it holds a subgroup of the group
//     that the client has not pushed, or it names the group otherwise than the pushed state does
//     (a rename that has not arrived yet).
//
// The members that are known are still added in the case of 2 to 5 (as with a user whose Matrix
// ID cannot be worked out); a group that is missing (1) or a state that cannot be read adds
// nobody. Inactive users are no effective members.
//
// Subgroups count, as they do in Authentik: a user is an effective member of a group when a
// direct member of it or of any group below it, down to 20 levels. Authentik's SCIM provider
// pushes direct members only (2025.12.4 has no flatten_nested_groups), so the groups below a
// mapped group are taken from Authentik's own group tree, read from its API each cycle (one
// listing without members, see Source), and their members from what was pushed for them. A
// member that is itself a pushed group (a client that nests groups) counts the same way.

// groupResult is what effective found for one name: missing for a group not there at all,
// incomplete for one whose listed users may be short of the truth. via names, by user PK, the
// subgroup through which a user who is no direct member is one.
type groupResult struct {
	users      []directory.User
	via        map[int]string
	missing    error
	incomplete error
}

// effective applies the incomplete rule to the state at now, with Authentik's group tree (nil
// with treeErr set when it could not be read). Pure, so that the rule is tested without a
// store, a clock or an Authentik.
func effective(s *scimstate.Snapshot, tree []directory.Group, treeErr error, names []string, now time.Time, settle time.Duration, settled bool) map[string]groupResult {
	byName := make(map[string]string, len(s.Groups))
	for id, g := range s.Groups {
		byName[g.DisplayName] = id
	}
	ids := slices.Sorted(maps.Keys(s.Users))
	pk := make(map[string]int, len(ids))
	for i, id := range ids {
		pk[id] = i + 1
	}
	t := newTreeIndex(s, tree)
	out := make(map[string]groupResult, len(names))
	for _, name := range names {
		gid, ok := byName[name]
		if !ok {
			// A group Authentik renamed is still found while the rename is on its way.
			if ag, inTree := t.byName[name]; inTree {
				gid, ok = t.scimOf(ag)
			}
		}
		if !ok {
			out[name] = groupResult{missing: fmt.Errorf("SCIM group %q has not been pushed yet (check that the group is in the SCIM provider's scope in Authentik and that the provider has synced)", name)}
			continue
		}
		var reasons []string
		if !settled {
			reasons = append(reasons, fmt.Sprintf("the initial SCIM sync has not settled: the state is trusted once no write came for %s (last write %s ago)",
				settle, now.Sub(s.LastWrite).Round(time.Second)))
		}
		if age := now.Sub(s.Groups[gid].Created); age < settle {
			reasons = append(reasons, fmt.Sprintf("SCIM group %q was created %s ago; its members are trusted once it is %s old (Authentik adds them after creating it)",
				name, age.Round(time.Second), settle))
		}
		root := node{scim: gid}
		switch {
		case treeErr != nil:
			reasons = append(reasons, fmt.Sprintf("Authentik's group tree could not be read, so members of its subgroups are unknown: %v", treeErr))
		default:
			ag, found, problem := t.authentikOf(name, s.Groups[gid])
			if problem != "" {
				reasons = append(reasons, problem)
			}
			if found {
				root.ak = ag.PK
			}
		}
		userIDs, via, problems := t.walk(root, now, settle)
		reasons = append(reasons, problems...)
		res := groupResult{users: make([]directory.User, 0, len(userIDs))}
		for _, id := range userIDs {
			u := s.Users[id]
			res.users = append(res.users, directory.User{PK: pk[id], Username: u.UserName, Name: nameOf(u), Email: u.PrimaryEmail(),
				UID: u.ExternalID, IsActive: true})
			if g, ok := via[id]; ok {
				if res.via == nil {
					res.via = map[int]string{}
				}
				res.via[pk[id]] = g
			}
		}
		if len(reasons) > 0 {
			res.incomplete = errors.New(strings.Join(reasons, "; "))
		}
		out[name] = res
	}
	return out
}

// treeIndex joins the pushed groups with Authentik's groups. Authentik's default SCIM group
// mapping sends its group's name as displayName and its pk as externalId; the pk is matched
// first, since it survives a rename, then the name.
type treeIndex struct {
	s            *scimstate.Snapshot
	byPK, byName map[string]directory.Group
	// scimByExternal and scimByName find a pushed group's SCIM id.
	scimByExternal, scimByName map[string]string
}

func newTreeIndex(s *scimstate.Snapshot, tree []directory.Group) *treeIndex {
	t := &treeIndex{s: s, byPK: make(map[string]directory.Group, len(tree)), byName: make(map[string]directory.Group, len(tree)),
		scimByExternal: make(map[string]string, len(s.Groups)), scimByName: make(map[string]string, len(s.Groups))}
	for _, g := range tree {
		t.byPK[samePK(g.PK)] = g
		t.byName[g.Name] = g
	}
	for id, g := range s.Groups {
		if g.ExternalID != "" {
			t.scimByExternal[samePK(g.ExternalID)] = id
		}
		t.scimByName[g.DisplayName] = id
	}
	return t
}

// samePK is a group pk in one spelling: Authentik's API writes UUIDs with dashes, its events
// without.
func samePK(pk string) string { return strings.ToLower(strings.ReplaceAll(pk, "-", "")) }

// scimOf finds the pushed group of an Authentik group.
func (t *treeIndex) scimOf(ag directory.Group) (string, bool) {
	if id, ok := t.scimByExternal[samePK(ag.PK)]; ok {
		return id, true
	}
	id, ok := t.scimByName[ag.Name]
	return id, ok
}

// authentikOf finds the Authentik group of the pushed group g, which the mapping names name;
// found is false for a group Authentik's tree does not hold, through which it gives nobody
// membership. problem says why the two disagree, if they do.
func (t *treeIndex) authentikOf(name string, g scimstate.Group) (ag directory.Group, found bool, problem string) {
	byExternal, okExternal := t.byPK[samePK(g.ExternalID)]
	byName, okName := t.byName[name]
	switch {
	case okExternal && okName && samePK(byExternal.PK) != samePK(byName.PK):
		return byName, true, fmt.Sprintf("Authentik's group %q is not the one the SCIM state has under that name (whose externalId is Authentik's group %q): a rename has not been pushed yet",
			name, byExternal.Name)
	case okExternal:
		return byExternal, true, ""
	case okName:
		return byName, true, ""
	}
	return directory.Group{}, false, ""
}

// node is a group in the walk: a pushed group (scim), an Authentik group (ak), or both.
type node struct {
	scim, ak string
	depth    int
}

// walk returns the active users of the tree below root (sorted by userName), the subgroup of
// each one who is no direct member of root (the nearest, breadth first), and why the tree is
// incomplete, if it is. A group reached twice is walked once, so loops end.
func (t *treeIndex) walk(root node, now time.Time, settle time.Duration) ([]string, map[string]string, []string) {
	s := t.s
	rootName := s.Groups[root.scim].DisplayName
	seenSCIM, seenAK := map[string]bool{root.scim: true}, map[string]bool{}
	if root.ak != "" {
		seenAK[samePK(root.ak)] = true
	}
	seenUser := map[string]bool{}
	var users, problems []string
	var via map[string]string
	queue := []node{root}
	// enqueue adds a subgroup met at n, unless it was met before or lies too deep.
	enqueue := func(n node, sub node, what string) {
		if (sub.scim != "" && seenSCIM[sub.scim]) || (sub.ak != "" && seenAK[samePK(sub.ak)]) {
			return
		}
		if sub.depth > maxNestedGroupDepth {
			problems = append(problems, fmt.Sprintf("SCIM group %q nests groups deeper than %d levels below it", rootName, maxNestedGroupDepth))
			return
		}
		if sub.scim != "" {
			seenSCIM[sub.scim] = true
			if age := now.Sub(s.Groups[sub.scim].Created); age < settle {
				problems = append(problems, fmt.Sprintf("its %s %q was created %s ago", what, s.Groups[sub.scim].DisplayName, age.Round(time.Second)))
			}
		}
		if sub.ak != "" {
			seenAK[samePK(sub.ak)] = true
		}
		queue = append(queue, sub)
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if n.scim != "" {
			g := s.Groups[n.scim]
			for _, v := range g.Members {
				if u, ok := s.Users[v]; ok {
					if u.Active && !seenUser[v] {
						seenUser[v] = true
						users = append(users, v)
						if n.depth > 0 {
							if via == nil {
								via = map[string]string{}
							}
							via[v] = g.DisplayName
						}
					}
					continue
				}
				sub, ok := s.Groups[v]
				if !ok {
					problems = append(problems, fmt.Sprintf("SCIM group %q lists member %q, which is no user or group the SCIM client pushed", g.DisplayName, v))
					continue
				}
				next := node{scim: v, depth: n.depth + 1}
				if ag, found, _ := t.authentikOf(sub.DisplayName, sub); found {
					next.ak = ag.PK
				}
				enqueue(n, next, "nested SCIM group")
			}
		}
		if n.ak != "" {
			parent := t.byPK[samePK(n.ak)]
			for _, pk := range parent.Children {
				child, ok := t.byPK[samePK(pk)]
				if !ok {
					problems = append(problems, fmt.Sprintf("Authentik's group %q names subgroup %s, which is not in its group listing (groups changed while being read; it is read again next cycle)", parent.Name, pk))
					continue
				}
				next := node{ak: child.PK, depth: n.depth + 1}
				if id, ok := t.scimOf(child); ok {
					next.scim = id
				} else if !seenAK[samePK(child.PK)] {
					problems = append(problems, fmt.Sprintf("its Authentik subgroup %q has not been pushed by the SCIM client, so its members are unknown (put it in the SCIM provider's scope, or wait for the provider's sync)", child.Name))
				}
				enqueue(n, next, "subgroup")
			}
		}
	}
	slices.SortFunc(users, func(a, b string) int { return strings.Compare(s.Users[a].UserName, s.Users[b].UserName) })
	return users, via, problems
}

// ListInactiveUsers lists the users pushed with active false, for the account lifecycle of
// deactivated users (usermap.UserSource): Authentik sends a deactivated user's is_active as
// active. PK is a number for this listing only.
func (r *Resources) ListInactiveUsers(ctx context.Context) ([]directory.User, error) {
	var out []directory.User
	err := r.view(ctx, func(s *scimstate.Snapshot) {
		for i, id := range slices.Sorted(maps.Keys(s.Users)) {
			if u := s.Users[id]; !u.Active {
				out = append(out, directory.User{PK: i + 1, Username: u.UserName, Name: nameOf(u), Email: u.PrimaryEmail(), UID: u.ExternalID})
			}
		}
	})
	return out, err
}

// errNoDeletions is ListUsers' answer.
var errNoDeletions = errors.New("the SCIM state cannot tell a deleted Authentik user: Authentik's SCIM provider deletes a user both when it is deleted and when it leaves the provider's scope")

// ListUsers refuses to list everyone: its callers take a user absent from the listing for one
// deleted in Authentik, which the SCIM state cannot tell (errNoDeletions), so nobody is taken
// for deleted. A user the SCIM client deleted leaves its groups, and its rooms after the grace
// period, like anyone who left a group.
func (r *Resources) ListUsers(context.Context) ([]directory.User, error) {
	return nil, errNoDeletions
}

func nameOf(u scimstate.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name.Formatted
}
