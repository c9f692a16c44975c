package authentik

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"authentik-matrix-sync/directory"
)

// maxGroupDepth is how far down Authentik itself lets membership be inherited.
const maxGroupDepth = 20

// EffectiveMembers resolves each group name to its active members, including members of its
// subgroups (cycle-safe, down to 20 levels, as Authentik counts them). The group tree is read
// once and each group's direct members at most once per call, the way Options.MemberRead says.
// Every requested name gets an entry; a failure affects only the groups that needed the failing
// read, except a failure to read the group tree or the listing of groups with their members,
// which leaves every group unknown.
func (c *Client) EffectiveMembers(ctx context.Context, names []string) map[string]directory.Membership {
	out := make(map[string]directory.Membership, len(names))
	c.EachEffective(ctx, names, func(name string, m directory.Membership) { out[name] = m })
	return out
}

// EachEffective is EffectiveMembers handing each name's membership to fn as soon as it is known,
// each name once. It keeps a group's direct members only while a name still to be handed over
// needs them, so a caller that keeps less than the users (Matrix IDs, say) never holds a large
// directory's users all at once: at 50,000 users in 200 groups that was some 30 MB. Groups read
// one by one are handed over in the order of names; from the listing of groups with their
// members, a name is handed over once the page holding the last of its groups is read.
func (c *Client) EachEffective(ctx context.Context, names []string, fn func(name string, m directory.Membership)) {
	seen := make(map[string]bool, len(names))
	groups, counts, err := c.listGroupTree(ctx)
	if err != nil {
		for _, name := range names {
			if !seen[name] {
				seen[name] = true
				fn(name, directory.Membership{Err: fmt.Errorf("members of authentik group %q are unknown: %w", name, err)})
			}
		}
		return
	}
	r := resolver{c: c, byName: make(map[string]directory.Group, len(groups)), byPK: make(map[string]directory.Group, len(groups)),
		count: make(map[string]int, len(groups)), direct: make(map[string]directMembers), uses: map[string]int{},
		trees: make(map[string]nameTree, len(names))}
	for i, g := range groups {
		r.byName[g.Name] = g
		r.byPK[g.PK] = g
		r.count[g.PK] = counts[i]
	}
	// Every name's tree first, to know how long each group's members are needed and which
	// groups' members are needed at all.
	var distinct []string
	for _, name := range names {
		if _, counted := r.trees[name]; counted {
			continue
		}
		distinct = append(distinct, name)
		groups, err := r.tree(name)
		r.trees[name] = nameTree{groups, err}
		for _, g := range groups {
			r.uses[g.PK]++
		}
	}
	emit := func(name string) {
		if !seen[name] {
			seen[name] = true
			fn(name, r.resolve(ctx, name))
		}
	}
	if plan, ok := r.planListing(groups, counts); ok {
		r.eachFromListing(ctx, plan, distinct, emit, func(name string, err error) {
			if !seen[name] {
				seen[name] = true
				fn(name, directory.Membership{Err: fmt.Errorf("members of authentik group %q are unknown: %w", name, err)})
			}
		})
		return
	}
	for _, name := range distinct {
		emit(name)
	}
}

// nameTree is a requested name's group tree (see resolver.tree), or why it has none.
type nameTree struct {
	groups []directory.Group
	err    error
}

type directMembers struct {
	users []directory.User
	err   error
}

type resolver struct {
	c      *Client
	byName map[string]directory.Group
	byPK   map[string]directory.Group
	count  map[string]int           // by group PK: its direct members, as the group tree says
	trees  map[string]nameTree      // by requested name
	read   MemberRead               // how a group's members not in direct are read
	direct map[string]directMembers // by group PK: groups shared by several mappings are read once
	uses   map[string]int           // by group PK: how many names still to resolve need its members
}

// resolve works out one name's membership from its tree and releases what no other name needs.
func (r *resolver) resolve(ctx context.Context, name string) directory.Membership {
	t := r.trees[name]
	if t.err != nil {
		return directory.Membership{Err: t.err}
	}
	users, via, err := r.effective(ctx, name, t.groups)
	r.release(t.groups)
	if err != nil {
		return directory.Membership{Err: err}
	}
	return directory.Membership{Users: users, Via: via}
}

// planListing settles how the needed groups' members (those of r.uses) are read, and reports
// whether that is the listing of groups with their members, with its plan; otherwise each group
// is read when a name first needs it (readGroup).
func (r *resolver) planListing(groups []directory.Group, counts []int) (memberPlan, bool) {
	var needed []int
	for i, g := range groups {
		if r.uses[g.PK] > 0 {
			needed = append(needed, i)
		}
	}
	if len(needed) == 0 {
		return memberPlan{}, false
	}
	plan := chooseMemberRead(counts, needed, r.c.pageSize)
	switch r.c.memberRead {
	case MemberReadAuto:
	case MemberReadGroupListing:
		plan, _ = planMemberReads(counts, needed, r.c.pageSize)
	default:
		plan = memberPlan{read: r.c.memberRead}
	}
	r.read = plan.read
	return plan, plan.read == MemberReadGroupListing
}

// eachFromListing reads the listing of groups with their members and emits each of names once
// the last group of its tree is read (a name without a tree at once); when the listing fails,
// the names not yet emitted are failed with its error.
func (r *resolver) eachFromListing(ctx context.Context, plan memberPlan, names []string, emit func(string), fail func(string, error)) {
	waiting := make(map[string]int, len(names)) // groups of the name's tree not read yet
	namesOf := map[string][]string{}            // by group PK: the names whose tree holds it
	keep := map[string]directory.Group{}
	for _, name := range names {
		t := r.trees[name]
		if t.err != nil {
			emit(name)
			continue
		}
		for _, g := range t.groups {
			namesOf[g.PK] = append(namesOf[g.PK], name)
			keep[g.PK] = g
		}
		waiting[name] = len(t.groups)
	}
	err := r.c.readMemberListing(ctx, plan, keep, func(pk string, d directMembers) {
		r.direct[pk] = d
		for _, name := range namesOf[pk] {
			if waiting[name]--; waiting[name] == 0 {
				emit(name)
			}
		}
	})
	if err != nil {
		for _, name := range names {
			fail(name, err)
		}
	}
}

// readGroup reads one group's direct members the way r.read says (never the listing, which
// eachFromListing reads).
func (r *resolver) readGroup(ctx context.Context, g directory.Group) directMembers {
	var d directMembers
	if r.read == MemberReadUserListing {
		d.users, d.err = r.c.ListGroupUsers(ctx, g.PK)
	} else {
		d.users, d.err = r.c.readGroupMembers(ctx, g, r.count[g.PK])
	}
	return d
}

// tree returns the named group, first, and every group below it.
func (r *resolver) tree(name string) ([]directory.Group, error) {
	g, ok := r.byName[name]
	if !ok {
		return nil, groupNotFound(name)
	}
	tree, err := r.descendants(g)
	if err != nil {
		return nil, fmt.Errorf("members of authentik group %q are unknown: %w", name, err)
	}
	return tree, nil
}

// release forgets the direct members of the groups of a resolved name that no later name needs.
func (r *resolver) release(tree []directory.Group) {
	for _, g := range tree {
		if r.uses[g.PK]--; r.uses[g.PK] <= 0 {
			delete(r.direct, g.PK)
		}
	}
}

// effective returns the active members of the group tree of name (see tree), and the subgroup
// of each one who is no direct member of the group itself (see Membership.Via).
func (r *resolver) effective(ctx context.Context, name string, tree []directory.Group) ([]directory.User, map[int]string, error) {
	g := tree[0]
	var byPK map[int]directory.User
	var via map[int]string
	for _, sub := range tree {
		d, ok := r.direct[sub.PK]
		if !ok {
			d = r.readGroup(ctx, sub)
			r.direct[sub.PK] = d
		}
		if d.err != nil {
			if sub.PK == g.PK {
				return nil, nil, fmt.Errorf("members of authentik group %q are unknown: %w", name, d.err)
			}
			return nil, nil, fmt.Errorf("members of authentik group %q are unknown because its subgroup %q could not be read: %w", name, sub.Name, d.err)
		}
		if len(tree) == 1 && !slices.ContainsFunc(d.users, func(u directory.User) bool { return !u.IsActive }) {
			// The common case, a group without subgroups whose members are all active: its list
			// as read, in order, instead of a copy of every user.
			sortUsers(d.users) // the same users in another order for any later reader
			return d.users, nil, nil
		}
		if byPK == nil {
			byPK = make(map[int]directory.User)
		}
		for _, u := range d.users {
			if !u.IsActive {
				continue
			}
			if _, seen := byPK[u.PK]; !seen && sub.PK != g.PK {
				// The tree is breadth first from the group: the first subgroup met is the nearest.
				if via == nil {
					via = make(map[int]string)
				}
				via[u.PK] = sub.Name
			}
			byPK[u.PK] = u
		}
	}
	users := make([]directory.User, 0, len(byPK))
	for _, u := range byPK {
		users = append(users, u)
	}
	sortUsers(users)
	return users, via, nil
}

// sortUsers orders users by username, then pk.
func sortUsers(users []directory.User) {
	slices.SortFunc(users, func(a, b directory.User) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), cmp.Compare(a.PK, b.PK))
	})
}

// descendants lists g and every group below it, breadth first, each once even if the tree
// loops back on itself.
func (r *resolver) descendants(g directory.Group) ([]directory.Group, error) {
	seen := map[string]bool{g.PK: true}
	out := []directory.Group{g}
	level := []directory.Group{g}
	for depth := 1; depth <= maxGroupDepth && len(level) > 0; depth++ {
		var next []directory.Group
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

// groupNotFound is the error of a mapped group Authentik does not have: a setup problem (a
// mistyped name, a group not made yet), not an outage, so it does not make the cycles back off.
type groupNotFound string

func (e groupNotFound) Error() string {
	return fmt.Sprintf("authentik group %q not found (check the name in the mapping; names are case-sensitive)", string(e))
}

// SetupProblem marks the error as one a change of setup fixes (see sync.IsSetupProblem).
func (groupNotFound) SetupProblem() {}
