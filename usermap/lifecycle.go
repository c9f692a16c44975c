package usermap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik"
	syncer "authentik-matrix-sync/sync"
)

// UserSource lists Authentik users outside of groups: the inactive ones every cycle, everyone
// when a deletion must be told from a departure. authentik.Client implements it.
type UserSource interface {
	ListInactiveUsers(ctx context.Context) ([]authentik.User, error)
	ListUsers(ctx context.Context) ([]authentik.User, error)
}

var _ syncer.AccountDirectory = (*Directory)(nil)

var errNoUserSource = errors.New("the Authentik source cannot list users")

// InactiveUsers maps the users Authentik holds as inactive with the mapping the group members
// get. A user whose ID cannot be worked out is left out: no managed user can carry it.
func (d *Directory) InactiveUsers(ctx context.Context) (map[id.UserID]string, error) {
	src, ok := d.Source.(UserSource)
	if !ok {
		return nil, errNoUserSource
	}
	users, err := src.ListInactiveUsers(ctx)
	if err != nil {
		return nil, err
	}
	resolve := d.mappingFor(ctx, users)
	out := make(map[id.UserID]string, len(users))
	for _, u := range users {
		uid, err := resolve(u)
		if err != nil || uid == "" {
			d.Log.Debug().Err(err).Str("username", u.Username).Msg("Inactive Authentik user without a Matrix ID; not matched to any account")
			continue
		}
		out[uid] = u.Username
	}
	return out, nil
}

// AccountStatuses reads every Authentik user and says of each of users whether one of them maps
// to it, active or not, or none does (syncer.AccountGone). Every listed user must map: a user
// whose ID cannot be worked out could be the one asked about, so the answer would be a guess.
func (d *Directory) AccountStatuses(ctx context.Context, users []id.UserID) (map[id.UserID]syncer.AccountStatus, error) {
	src, ok := d.Source.(UserSource)
	if !ok {
		return nil, errNoUserSource
	}
	all, err := src.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	resolve := d.mappingFor(ctx, all)
	found := make(map[id.UserID]syncer.AccountStatus, len(all))
	var bad []string
	for _, u := range all {
		uid, err := resolve(u)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if uid == "" {
			continue // no Matrix account linked (external IDs): not any of the managed users
		}
		if u.IsActive || found[uid] != syncer.AccountActive {
			found[uid] = map[bool]syncer.AccountStatus{true: syncer.AccountActive, false: syncer.AccountInactive}[u.IsActive]
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%d Authentik user(s) have no valid Matrix ID, so nobody can be taken for deleted (fix the user or the user_mapping settings): %s",
			len(bad), strings.Join(bad, "; "))
	}
	out := make(map[id.UserID]syncer.AccountStatus, len(users))
	for _, u := range users {
		if s, ok := found[u]; ok {
			out[u] = s
		} else {
			out[u] = syncer.AccountGone
		}
	}
	return out, nil
}

// mappingFor is the mapping of group members, for a listing of users outside any group.
func (d *Directory) mappingFor(ctx context.Context, users []authentik.User) func(authentik.User) (id.UserID, error) {
	if d.External == nil {
		return d.templateMapping
	}
	return d.externalMapping(ctx, map[string]authentik.Membership{"": {Users: users}})
}
