package authentik

import (
	"context"
	"fmt"
	"sort"
)

// maxGroupDepth is how far down Authentik itself lets membership be inherited.
const maxGroupDepth = 20

// Membership is the answer for one group. Err != nil means the membership is unknown, and
// Users is nil: callers must not read an error as "nobody is in the group".
type Membership struct {
	Users []User
	Err   error
}

// EffectiveMembers resolves each group name to its active members, including members of its
// subgroups (cycle-safe, down to 20 levels, as Authentik counts them). The group tree is read
// once and each group's direct members at most once per call. Every requested name gets an
// entry; a failure affects only the groups that needed the failing listing, except a failure
// to read the group tree, which leaves every group unknown.
func (c *Client) EffectiveMembers(ctx context.Context, names []string) map[string]Membership {
	out := make(map[string]Membership, len(names))
	groups, err := c.ListGroups(ctx)
	if err != nil {
		for _, name := range names {
			out[name] = Membership{Err: fmt.Errorf("members of authentik group %q are unknown: %w", name, err)}
		}
		return out
	}
	r := resolver{c: c, byName: make(map[string]Group, len(groups)), byPK: make(map[string]Group, len(groups)),
		direct: make(map[string]directMembers)}
	for _, g := range groups {
		r.byName[g.Name] = g
		r.byPK[g.PK] = g
	}
	for _, name := range names {
		if _, done := out[name]; done {
			continue
		}
		users, err := r.effective(ctx, name)
		if err != nil {
			out[name] = Membership{Err: err}
			continue
		}
		out[name] = Membership{Users: users}
	}
	return out
}

type directMembers struct {
	users []User
	err   error
}

type resolver struct {
	c      *Client
	byName map[string]Group
	byPK   map[string]Group
	direct map[string]directMembers // by group PK: groups shared by several mappings are read once
}

func (r *resolver) effective(ctx context.Context, name string) ([]User, error) {
	g, ok := r.byName[name]
	if !ok {
		return nil, fmt.Errorf("authentik group %q not found (check the name in the mapping; names are case-sensitive)", name)
	}
	tree, err := r.descendants(g)
	if err != nil {
		return nil, fmt.Errorf("members of authentik group %q are unknown: %w", name, err)
	}
	byPK := make(map[int]User)
	for _, sub := range tree {
		d, ok := r.direct[sub.PK]
		if !ok {
			d.users, d.err = r.c.ListGroupUsers(ctx, sub.PK)
			r.direct[sub.PK] = d
		}
		if d.err != nil {
			if sub.PK == g.PK {
				return nil, fmt.Errorf("members of authentik group %q are unknown: %w", name, d.err)
			}
			return nil, fmt.Errorf("members of authentik group %q are unknown because its subgroup %q could not be read: %w", name, sub.Name, d.err)
		}
		for _, u := range d.users {
			if u.IsActive {
				byPK[u.PK] = u
			}
		}
	}
	users := make([]User, 0, len(byPK))
	for _, u := range byPK {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool {
		if users[i].Username != users[j].Username {
			return users[i].Username < users[j].Username
		}
		return users[i].PK < users[j].PK
	})
	return users, nil
}

// descendants lists g and every group below it, breadth first, each once even if the tree
// loops back on itself.
func (r *resolver) descendants(g Group) ([]Group, error) {
	seen := map[string]bool{g.PK: true}
	out := []Group{g}
	level := []Group{g}
	for depth := 1; depth <= maxGroupDepth && len(level) > 0; depth++ {
		var next []Group
		for _, parent := range level {
			for _, pk := range parent.Children {
				if seen[pk] {
					continue
				}
				child, ok := r.byPK[pk]
				if !ok {
					return nil, fmt.Errorf("group %q names subgroup %s, which is not in the group listing (groups changed while being read; it will be read again next time)", parent.Name, pk)
				}
				seen[pk] = true
				out = append(out, child)
				next = append(next, child)
			}
		}
		level = next
	}
	return out, nil
}
