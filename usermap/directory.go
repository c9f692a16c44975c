package usermap

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik"
	syncer "authentik-matrix-sync/sync"
)

// Source lists the effective members of Authentik groups.
type Source interface {
	EffectiveMembers(ctx context.Context, names []string) map[string]authentik.Membership
}

// Directory is the reconciler's view of Authentik: group members as Matrix IDs.
type Directory struct {
	Source Source
	Mapper *Mapper
	// External, when set, maps users through Synapse's external IDs instead of Mapper.
	External *ExternalResolver
	Log      zerolog.Logger
}

var _ syncer.Directory = (*Directory)(nil)

// Members maps every group's users. A user whose Matrix ID cannot be worked out is left out and
// marks the group incomplete, so that nobody is removed on the strength of a gap in the data.
func (d *Directory) Members(ctx context.Context, groups []string) map[string]syncer.GroupMembers {
	src := d.Source.EffectiveMembers(ctx, groups)
	resolve := d.templateMapping
	if d.External != nil {
		resolve = d.externalMapping(ctx, src)
	}
	out := make(map[string]syncer.GroupMembers, len(groups))
	for _, name := range groups {
		m, ok := src[name]
		if !ok {
			out[name] = syncer.GroupMembers{Group: name, Err: fmt.Errorf("authentik group %q was not returned", name)}
			continue
		}
		if m.Err != nil {
			out[name] = syncer.GroupMembers{Group: name, Err: m.Err}
			continue
		}
		g := syncer.GroupMembers{Group: name, Members: make([]syncer.Member, 0, len(m.Users))}
		var bad []string
		for _, u := range m.Users {
			uid, err := resolve(u)
			if err != nil {
				bad = append(bad, err.Error())
			}
			if uid != "" {
				// A last known ID still adds the user; err above keeps removals away.
				g.Members = append(g.Members, syncer.Member{UserID: uid, Username: u.Username})
			}
		}
		if len(bad) > 0 {
			g.Err = fmt.Errorf("%d member(s) of group %q have no valid Matrix ID (fix the user or the user_mapping settings): %s",
				len(bad), name, strings.Join(bad, "; "))
		}
		out[name] = g
	}
	return out
}

func identityOf(u authentik.User) Identity {
	return Identity{PK: u.PK, Username: u.Username, Email: u.Email, UID: u.UID, Attributes: u.Attributes}
}

func (d *Directory) templateMapping(u authentik.User) (id.UserID, error) {
	return d.Mapper.Map(identityOf(u))
}

// externalMapping looks every listed user up once (most answers come from the cache) and returns
// the mapping of one user. A user Synapse knows nobody for is left out without an error: they
// have no Matrix account yet, which is not a gap in the data.
func (d *Directory) externalMapping(ctx context.Context, src map[string]authentik.Membership) func(authentik.User) (id.UserID, error) {
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
	return func(u authentik.User) (id.UserID, error) {
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
