package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/scimstate"
	"authentik-matrix-sync/usermap"
)

// GroupTree reads Authentik's group tree: every group with the pks of its direct subgroups,
// without members (authentik.Client.ListGroups: core/groups/?include_users=false, which still
// lists each group's children).
type GroupTree interface {
	ListGroups(ctx context.Context) ([]directory.Group, error)
}

// Source is the directory of directory.source scim: the pushed state as group memberships,
// mapped to Matrix IDs by usermap as Authentik's API users are (userName is the username,
// externalId — Authentik's uid — the uid, the primary e-mail the email), with the subgroups of
// each group taken from Authentik's group tree (see the incomplete rule in directory.go). The
// user listings and lookups of the account lifecycle are the Resources' own.
type Source struct {
	*Resources
	tree GroupTree
}

var _ usermap.Source = (*Source)(nil)

// ErrNoGroupTree is NewSource's refusal of a source without Authentik's API.
var ErrNoGroupTree = errors.New("directory.source scim needs Authentik's API as well, to read the group tree: " +
	"Authentik's SCIM provider pushes direct group members only, so members of subgroups would be taken for gone; " +
	"set authentik.url / AUTHENTIK_URL and authentik.token / AUTHENTIK_TOKEN (a token whose user may view groups)")

// NewSource returns the SCIM state with Authentik's group tree as a directory source.
func NewSource(res *Resources, tree GroupTree) (*Source, error) {
	if res == nil {
		return nil, errors.New("the SCIM directory needs its Resources")
	}
	if tree == nil {
		return nil, ErrNoGroupTree
	}
	return &Source{Resources: res, tree: tree}, nil
}

// EffectiveMembers resolves each group name (a displayName) to its active effective members,
// those of its subgroups in Authentik's tree included. The tree is read once a call; when it
// cannot be read, every group is incomplete (nobody is removed), with its pushed members still
// known. PK is a number for this listing only: SCIM carries no Authentik pk. A group that is
// incomplete by the rule has Err set along with the members that are known.
func (src *Source) EffectiveMembers(ctx context.Context, names []string) map[string]directory.Membership {
	tree, treeErr := src.tree.ListGroups(ctx)
	out := make(map[string]directory.Membership, len(names))
	r := src.Resources
	err := r.view(ctx, func(s *scimstate.Snapshot) {
		now := r.now()
		_, settled := r.settledAtLocked(now)
		for name, e := range effective(s, tree, treeErr, names, now, r.settle, settled) {
			m := directory.Membership{Users: e.users, Via: e.via, Err: e.missing}
			if m.Err == nil {
				m.Err = e.incomplete
			}
			out[name] = m
		}
	})
	if err != nil {
		for _, name := range names {
			out[name] = directory.Membership{Err: fmt.Errorf("members of SCIM group %q are unknown: %w", name, err)}
		}
	}
	return out
}

// ListGroups returns Authentik's group tree with the pushed groups' own nesting added (a group
// only pushed gets the pk "scim:<id>"), so that a trigger reaches the rooms of every group above
// a changed one.
func (src *Source) ListGroups(ctx context.Context) ([]directory.Group, error) {
	tree, err := src.tree.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]directory.Group, len(tree))
	index := make(map[string]int, len(tree))
	for i, g := range tree {
		g.Children = slices.Clone(g.Children)
		out[i] = g
		index[g.Name] = i
	}
	err = src.view(ctx, func(s *scimstate.Snapshot) {
		nodeOf := func(g scimstate.Group) int {
			if i, ok := index[g.DisplayName]; ok {
				return i
			}
			out = append(out, directory.Group{PK: "scim:" + g.ID, Name: g.DisplayName})
			index[g.DisplayName] = len(out) - 1
			return len(out) - 1
		}
		for _, id := range slices.Sorted(maps.Keys(s.Groups)) {
			g := s.Groups[id]
			parent := nodeOf(g)
			for _, v := range g.Members {
				sub, ok := s.Groups[v]
				if !ok {
					continue
				}
				child := out[nodeOf(sub)].PK
				if !slices.Contains(out[parent].Children, child) {
					out[parent].Children = append(out[parent].Children, child)
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
