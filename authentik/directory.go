package authentik

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"authentik-matrix-sync/directory"
)

// wireUser is what the sync reads of a user (recorded: 20–25, 61); the rest, groups_obj
// included (null with include_groups=false, 24), is ignored. pk is an integer.
type wireUser struct {
	PK         *int           `json:"pk"`
	Username   string         `json:"username"`
	Name       string         `json:"name"`
	Email      string         `json:"email"`
	UID        string         `json:"uid"`
	IsActive   *bool          `json:"is_active"`
	Attributes map[string]any `json:"attributes"`
}

// wireGroup is what the sync reads of a group in the group tree (recorded: 10–19). pk is a UUID
// string (num_pk, an integer, is not used); users holds member pks, which are only counted
// here (see chooseMemberRead); users_obj, null with include_users=false (12), is read by the
// member reads (see wireGroupMembers).
type wireGroup struct {
	PK      string   `json:"pk"`
	Name    string   `json:"name"`
	Users   []int    `json:"users"`
	Parents []string `json:"parents"` // 2025.12 and later: a list (backend's in 13)
	// Children is filled whether or not include_children is asked for (13, 14); children_obj
	// only with it.
	Children []string `json:"children"`
	Parent   *string  `json:"parent"` // up to 2025.10; 2025.12 ignores it when posted (05)
}

// ListGroups returns every group, without their members, in the server's order (by name).
func (c *Client) ListGroups(ctx context.Context) ([]directory.Group, error) {
	groups, _, err := c.listGroupTree(ctx)
	return groups, err
}

// listGroupTree is ListGroups with the number of direct members of each group.
func (c *Client) listGroupTree(ctx context.Context) ([]directory.Group, []int, error) {
	raw, err := c.listAll(ctx, "core/groups/", url.Values{"include_users": {"false"}})
	if err != nil {
		return nil, nil, fmt.Errorf("list authentik groups: %w", err)
	}
	groups, counts, err := decodeGroupTree(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("list authentik groups: %w", err)
	}
	return groups, counts, nil
}

func decodeGroups(raw []json.RawMessage) ([]directory.Group, error) {
	groups, _, err := decodeGroupTree(raw)
	return groups, err
}

// decodeGroupTree decodes groups and counts the direct members of each.
func decodeGroupTree(raw []json.RawMessage) ([]directory.Group, []int, error) {
	wire := make([]wireGroup, len(raw))
	seenPK := make(map[string]bool, len(raw))
	seenName := make(map[string]bool, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &wire[i]); err != nil {
			return nil, nil, fmt.Errorf("group #%d: %w", i+1, err)
		}
		w := wire[i]
		switch {
		case w.PK == "":
			return nil, nil, fmt.Errorf("group #%d (%q) has no pk", i+1, w.Name)
		case w.Name == "":
			return nil, nil, fmt.Errorf("group %s has no name", w.PK)
		case seenPK[w.PK] || seenName[w.Name]:
			// Names are unique in Authentik; a repeat means rows shifted between pages.
			return nil, nil, fmt.Errorf("group %q (%s) listed twice; groups changed during the listing, it will be read again next time", w.Name, w.PK)
		}
		seenPK[w.PK] = true
		seenName[w.Name] = true
	}

	// Older servers only tell a child who its parent is; newer ones tell both sides. Taking the
	// union makes either shape, or a mix, give the same tree.
	children := make(map[string][]string, len(wire))
	seenEdge := make(map[[2]string]bool)
	addEdge := func(parent, child string) {
		if parent == "" || child == "" || seenEdge[[2]string{parent, child}] {
			return
		}
		seenEdge[[2]string{parent, child}] = true
		children[parent] = append(children[parent], child)
	}
	for _, w := range wire {
		for _, ch := range w.Children {
			addEdge(w.PK, ch)
		}
	}
	for _, w := range wire {
		for _, p := range w.Parents {
			addEdge(p, w.PK)
		}
		if w.Parent != nil {
			addEdge(*w.Parent, w.PK)
		}
	}

	out := make([]directory.Group, len(wire))
	counts := make([]int, len(wire))
	for i, w := range wire {
		out[i] = directory.Group{PK: w.PK, Name: w.Name, Children: children[w.PK]}
		counts[i] = len(w.Users)
	}
	return out, counts, nil
}

// ListGroupUsers returns the direct members of one group, active or not, from the user listing
// (see MemberReadUserListing for what that costs Authentik). Members of its subgroups are not
// included (Authentik does not list them either, 25): see EffectiveMembers.
func (c *Client) ListGroupUsers(ctx context.Context, groupPK string) ([]directory.User, error) {
	if groupPK == "" {
		return nil, errors.New("list members of authentik group: empty group pk")
	}
	q := url.Values{"groups_by_pk": {groupPK}, "include_groups": {"false"}}
	raw, err := c.listAll(ctx, "core/users/", q)
	if err != nil {
		return nil, fmt.Errorf("list direct members of authentik group %s: %w", groupPK, err)
	}
	users, err := decodeUsers(raw)
	if err != nil {
		return nil, fmt.Errorf("list direct members of authentik group %s: %w", groupPK, err)
	}
	return users, nil
}

func decodeUsers(raw []json.RawMessage) ([]directory.User, error) {
	out := make([]directory.User, 0, len(raw))
	seen := make(map[int]bool, len(raw))
	for i, r := range raw {
		var w wireUser
		if err := json.Unmarshal(r, &w); err != nil {
			return nil, fmt.Errorf("user #%d: %w", i+1, err)
		}
		switch {
		case w.PK == nil:
			return nil, fmt.Errorf("user #%d (%q) has no pk", i+1, w.Username)
		case w.Username == "":
			return nil, fmt.Errorf("user pk %d has no username", *w.PK)
		case w.IsActive == nil:
			// Guessing either way is wrong: active would add people, inactive would remove them.
			return nil, fmt.Errorf("user %q (pk %d) has no is_active field", w.Username, *w.PK)
		case seen[*w.PK]:
			return nil, fmt.Errorf("user %q (pk %d) listed twice; members changed during the listing, it will be read again next time", w.Username, *w.PK)
		}
		seen[*w.PK] = true
		out = append(out, directory.User{PK: *w.PK, Username: w.Username, Name: w.Name, Email: w.Email,
			UID: w.UID, IsActive: *w.IsActive, Attributes: w.Attributes})
	}
	return out, nil
}
