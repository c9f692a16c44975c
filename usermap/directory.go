package usermap

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

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
	Log    zerolog.Logger
}

var _ syncer.Directory = (*Directory)(nil)

// Members maps every group's users. A user whose Matrix ID cannot be worked out is left out and
// marks the group incomplete, so that nobody is removed on the strength of a gap in the data.
func (d *Directory) Members(ctx context.Context, groups []string) map[string]syncer.GroupMembers {
	src := d.Source.EffectiveMembers(ctx, groups)
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
			uid, err := d.Mapper.Map(Identity{PK: u.PK, Username: u.Username, Email: u.Email, UID: u.UID, Attributes: u.Attributes})
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			g.Members = append(g.Members, syncer.Member{UserID: uid, Username: u.Username})
		}
		if len(bad) > 0 {
			g.Err = fmt.Errorf("%d member(s) of group %q have no valid Matrix ID (fix the user or the user_mapping settings): %s",
				len(bad), name, strings.Join(bad, "; "))
		}
		out[name] = g
	}
	return out
}
