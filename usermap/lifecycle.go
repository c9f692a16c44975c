package usermap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik"
	syncer "authentik-matrix-sync/sync"
)

// UserSource lists the Authentik users Authentik holds as inactive, every cycle the lifecycle
// acts: a hint of whom to look up. authentik.Client implements it.
type UserSource interface {
	ListInactiveUsers(ctx context.Context) ([]authentik.User, error)
}

// UserLookup reads one user by pk, the evidence the account lifecycle acts on: an error for
// which authentik.IsNotFound holds means the directory answered that no such user exists.
// authentik.Client implements it.
type UserLookup interface {
	LookupUser(ctx context.Context, pk int) (authentik.User, error)
}

var _ syncer.AccountDirectory = (*Directory)(nil)

var (
	errNoUserSource = errors.New("the Authentik source cannot list users")
	errNoUserLookup = errors.New("the directory source cannot look users up one by one")
)

// InactiveUsers maps the users Authentik holds as inactive with the mapping the group members
// get. A user whose ID cannot be worked out is left out: no managed user can carry it.
func (d *Directory) InactiveUsers(ctx context.Context) (map[id.UserID]syncer.DirectoryAccount, error) {
	src, ok := d.Source.(UserSource)
	if !ok {
		return nil, errNoUserSource
	}
	users, err := src.ListInactiveUsers(ctx)
	if err != nil {
		return nil, err
	}
	resolve := d.mappingFor(ctx, users)
	out := make(map[id.UserID]syncer.DirectoryAccount, len(users))
	for _, u := range users {
		uid, err := resolve(u)
		if err != nil || uid == "" {
			d.Log.Debug().Err(err).Str("username", u.Username).Msg("Inactive Authentik user without a Matrix ID; not matched to any account")
			continue
		}
		out[uid] = syncer.DirectoryAccount{SourceID: strconv.Itoa(u.PK), Username: u.Username}
	}
	return out, nil
}

// LookupAccounts looks each user up by pk and says what Authentik holds: gone on its own "no
// such user", inactive or active on the user it returns, but only when that user still maps to
// the Matrix ID asked about (a renamed user maps elsewhere under a username template: that is
// no deletion, so it is unknown). Every failure leaves that one user unknown.
func (d *Directory) LookupAccounts(ctx context.Context, users map[id.UserID]string) (map[id.UserID]syncer.AccountStatus, error) {
	src, ok := d.Source.(UserLookup)
	if !ok {
		return nil, errNoUserLookup
	}
	order := slices.Sorted(maps.Keys(users))
	out := make(map[id.UserID]syncer.AccountStatus, len(users))
	var failed []error
	for _, uid := range order {
		out[uid] = syncer.AccountUnknown
		pk, err := strconv.Atoi(users[uid])
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: source ID %q is no Authentik pk", uid, users[uid]))
			continue
		}
		u, err := src.LookupUser(ctx, pk)
		switch {
		case authentik.IsNotFound(err):
			out[uid] = syncer.AccountGone
			continue
		case err != nil:
			failed = append(failed, fmt.Errorf("%s: %w", uid, err))
			if ctx.Err() != nil {
				return out, errors.Join(failed...)
			}
			continue
		}
		mapped, err := d.mappingFor(ctx, []authentik.User{u})(u)
		if err != nil || mapped != uid {
			d.Log.Info().Err(err).Str("user", string(uid)).Str("username", u.Username).Str("maps_to", string(mapped)).
				Msg("Authentik account found, but it maps to another Matrix ID now (renamed?); its status stays unknown")
			continue
		}
		out[uid] = map[bool]syncer.AccountStatus{true: syncer.AccountActive, false: syncer.AccountInactive}[u.IsActive]
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("%d of %d Authentik account lookups failed: %w", len(failed), len(users), errors.Join(failed...))
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
