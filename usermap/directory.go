package usermap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unique"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// Source lists the effective members of directory groups: Authentik's API (authentik.Client)
// or the state its SCIM provider pushed (scim.Source).
type Source interface {
	EffectiveMembers(ctx context.Context, names []string) map[string]directory.Membership
}

// Directory is the reconciler's view of Authentik: group members as Matrix IDs.
type Directory struct {
	Source Source
	Mapper *Mapper
	// External, when set, maps users through Synapse's external IDs instead of Mapper.
	External *ExternalResolver
	// Profiles says which profile fields the groups' listings are read for (profile sync).
	Profiles ProfileSource
	Log      zerolog.Logger
}

var _ reconcile.Directory = (*Directory)(nil)

// Members maps every group's users. A user whose Matrix ID cannot be worked out is left out and
// marks the group incomplete, so that nobody is removed on the strength of a gap in the data.
func (d *Directory) Members(ctx context.Context, groups []string) map[string]plan.GroupMembers {
	out := make(map[string]plan.GroupMembers, len(groups))
	if each, ok := d.Source.(eachSource); ok && d.External == nil {
		// Group by group: only the Matrix IDs stay, not every user's Authentik record.
		each.EachEffective(ctx, groups, func(name string, m directory.Membership) {
			out[name] = d.mapGroup(name, m, d.templateMapping)
		})
	} else {
		src := d.Source.EffectiveMembers(ctx, groups)
		resolve := d.templateMapping
		if d.External != nil {
			// The external IDs are looked up for every listed user at once.
			resolve = d.externalMapping(ctx, src)
		}
		for name, m := range src {
			out[name] = d.mapGroup(name, m, resolve)
		}
	}
	for _, name := range groups {
		if _, ok := out[name]; !ok {
			out[name] = plan.GroupMembers{Group: name, Err: fmt.Errorf("authentik group %q was not returned", name)}
		}
	}
	return out
}

// eachSource is a Source that can hand the groups over one at a time (authentik.Client).
type eachSource interface {
	EachEffective(ctx context.Context, names []string, fn func(name string, m directory.Membership))
}

// mapGroup maps one group's users to Matrix IDs with resolve. The users of a membership with Err
// set are mapped too (a source may know some members of a group it cannot vouch for, as SCIM
// does); Err stays on the group, so that they are added but nobody is removed.
func (d *Directory) mapGroup(name string, m directory.Membership, resolve func(directory.User) (id.UserID, error)) plan.GroupMembers {
	g := plan.GroupMembers{Group: name, Err: m.Err}
	if len(m.Users) > 0 {
		g.Members = make([]plan.Member, 0, len(m.Users))
	}
	var bad []string
	for _, u := range m.Users {
		uid, err := resolve(u)
		if err != nil {
			bad = append(bad, err.Error())
		}
		if uid != "" {
			// A last known ID still adds the user; err above keeps removals away. One copy of
			// each ID and username, shared with the other groups, the rooms and the store.
			g.Members = append(g.Members, plan.Member{UserID: id.UserID(unique.Make(string(uid)).Value()), Username: unique.Make(u.Username).Value(),
				SourceID: strconv.Itoa(u.PK)})
			if via, ok := m.Via[u.PK]; ok {
				g.Via.Set(len(g.Members)-1, via)
			}
			d.Profiles.note(&g, g.Members[len(g.Members)-1].UserID, u)
		}
	}
	if len(bad) > 0 {
		err := fmt.Errorf("%d member(s) of group %q have no valid Matrix ID (fix the user or the user_mapping settings): %s",
			len(bad), name, strings.Join(bad, "; "))
		if g.Err != nil {
			err = fmt.Errorf("%w; %w", g.Err, err)
		}
		g.Err = err
	}
	return g
}

func identityOf(u directory.User) Identity {
	return Identity{PK: u.PK, Username: u.Username, Email: u.Email, UID: u.UID, Attributes: u.Attributes}
}

func (d *Directory) templateMapping(u directory.User) (id.UserID, error) {
	return d.Mapper.Map(identityOf(u))
}

// externalMapping looks every listed user up once (most answers come from the cache) and returns
// the mapping of one user. A user Synapse knows nobody for is left out without an error: they
// have no Matrix account yet, which is not a gap in the data.
func (d *Directory) externalMapping(ctx context.Context, src map[string]directory.Membership) func(directory.User) (id.UserID, error) {
	var users []Identity
	for _, m := range src {
		for _, u := range m.Users {
			users = append(users, identityOf(u))
		}
	}
	res, err := d.External.Resolve(ctx, users)
	if err != nil {
		d.Log.Warn().Err(err).Msg("External ID cache unavailable; looking users up without it")
	}
	return func(u directory.User) (id.UserID, error) {
		r, ok := res[u.PK]
		if !ok {
			return "", fmt.Errorf("user %q from Authentik was not looked up", u.Username)
		}
		if r.User == "" && r.Err == nil {
			d.Log.Debug().Str("username", u.Username).Msg("No Matrix account linked to the Authentik user yet; skipped")
		}
		return r.User, r.Err
	}
}
