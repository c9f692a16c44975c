package scim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/usermap"
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
//     is itself incomplete, or the nesting goes deeper than 20 levels.
//
// The members that are known are still added in the case of 2 to 4 (as with a user whose Matrix
// ID cannot be worked out); a group that is missing (1) or a state that cannot be read adds
// nobody. Inactive users are no effective members. Nested groups count: a member that is a group
// contributes its own effective members, as Authentik's own group tree does. Authentik itself
// sends only users as members; its provider option flatten_nested_groups (migration 0020) sends
// the users of child groups as direct members of the parent instead.

// EffectiveMembers resolves each group name (a displayName) to its active effective members. It
// makes Resources a usermap.Source, so that the users are mapped to Matrix IDs as Authentik's
// are: userName is the username, externalId (Authentik's uid) the uid, the primary e-mail the
// email. PK is a number for this listing only: SCIM carries no Authentik pk. A group that is
// incomplete by the rules above has Err set along with the members that are known.
func (r *Resources) EffectiveMembers(ctx context.Context, names []string) map[string]authentik.Membership {
	out := make(map[string]authentik.Membership, len(names))
	err := r.view(ctx, func(s *Snapshot) {
		now := r.now()
		_, settled := r.settledAtLocked(now)
		for name, e := range effective(s, names, now, r.settle, settled) {
			m := authentik.Membership{Users: e.users, Err: e.missing}
			if m.Err == nil {
				m.Err = e.incomplete
			}
			out[name] = m
		}
	})
	if err != nil {
		for _, name := range names {
			out[name] = authentik.Membership{Err: fmt.Errorf("members of SCIM group %q are unknown: %w", name, err)}
		}
	}
	return out
}

// groupResult is what effective found for one name: missing for a group not there at all,
// incomplete for one whose listed users may be short of the truth.
type groupResult struct {
	users      []authentik.User
	missing    error
	incomplete error
}

// effective applies the incomplete rule to the state at now. Pure, so that the rule is tested
// without a store or a clock.
func effective(s *Snapshot, names []string, now time.Time, settle time.Duration, settled bool) map[string]groupResult {
	byName := make(map[string]string, len(s.Groups))
	for id, g := range s.Groups {
		byName[g.DisplayName] = id
	}
	ids := slices.Sorted(maps.Keys(s.Users))
	pk := make(map[string]int, len(ids))
	for i, id := range ids {
		pk[id] = i + 1
	}
	out := make(map[string]groupResult, len(names))
	for _, name := range names {
		gid, ok := byName[name]
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
		userIDs, problems := walk(s, gid, now, settle)
		reasons = append(reasons, problems...)
		users := make([]authentik.User, 0, len(userIDs))
		for _, id := range userIDs {
			u := s.Users[id]
			users = append(users, authentik.User{PK: pk[id], Username: u.UserName, Name: nameOf(u), Email: u.PrimaryEmail(),
				UID: u.ExternalID, IsActive: true})
		}
		res := groupResult{users: users}
		if len(reasons) > 0 {
			res.incomplete = errors.New(strings.Join(reasons, "; "))
		}
		out[name] = res
	}
	return out
}

// walk returns the active users of the group's tree (sorted by userName), and why the tree is
// incomplete, if it is. A group reached twice is walked once, so loops end.
func walk(s *Snapshot, gid string, now time.Time, settle time.Duration) ([]string, []string) {
	type entry struct {
		id    string
		depth int
	}
	seenGroup := map[string]bool{gid: true}
	seenUser := map[string]bool{}
	var users, problems []string
	queue := []entry{{gid, 0}}
	for len(queue) > 0 {
		e := queue[0]
		queue = queue[1:]
		g := s.Groups[e.id]
		for _, v := range g.Members {
			if u, ok := s.Users[v]; ok {
				if u.Active && !seenUser[v] {
					seenUser[v] = true
					users = append(users, v)
				}
				continue
			}
			sub, ok := s.Groups[v]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("SCIM group %q lists member %q, which is no user or group the SCIM client pushed", g.DisplayName, v))
			case seenGroup[v]:
			case e.depth+1 > maxNestedGroupDepth:
				problems = append(problems, fmt.Sprintf("SCIM group %q nests groups deeper than %d levels below it", s.Groups[gid].DisplayName, maxNestedGroupDepth))
			default:
				seenGroup[v] = true
				if age := now.Sub(sub.Created); age < settle {
					problems = append(problems, fmt.Sprintf("its nested SCIM group %q was created %s ago", sub.DisplayName, age.Round(time.Second)))
				}
				queue = append(queue, entry{v, e.depth + 1})
			}
		}
	}
	slices.SortFunc(users, func(a, b string) int { return strings.Compare(s.Users[a].UserName, s.Users[b].UserName) })
	return users, problems
}

// ListInactiveUsers lists the users pushed with active false, for the account lifecycle of
// deactivated users (usermap.UserSource): Authentik sends a deactivated user's is_active as
// active. PK is a number for this listing only.
func (r *Resources) ListInactiveUsers(ctx context.Context) ([]authentik.User, error) {
	var out []authentik.User
	err := r.view(ctx, func(s *Snapshot) {
		for i, id := range slices.Sorted(maps.Keys(s.Users)) {
			if u := s.Users[id]; !u.Active {
				out = append(out, authentik.User{PK: i + 1, Username: u.UserName, Name: nameOf(u), Email: u.PrimaryEmail(), UID: u.ExternalID})
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
func (r *Resources) ListUsers(context.Context) ([]authentik.User, error) {
	return nil, errNoDeletions
}

func nameOf(u User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name.Formatted
}

// ListGroups returns the SCIM groups as Authentik's group tree (a group's children are the
// groups among its members), so that a trigger reaches the rooms of every group above a changed
// one, as the webhook's does.
func (r *Resources) ListGroups(ctx context.Context) ([]authentik.Group, error) {
	var out []authentik.Group
	err := r.view(ctx, func(s *Snapshot) {
		for _, id := range slices.Sorted(maps.Keys(s.Groups)) {
			g := s.Groups[id]
			ag := authentik.Group{PK: id, Name: g.DisplayName}
			for _, v := range g.Members {
				if _, ok := s.Groups[v]; ok {
					ag.Children = append(ag.Children, v)
				}
			}
			out = append(out, ag)
		}
	})
	return out, err
}

var _ usermap.Source = (*Resources)(nil)
