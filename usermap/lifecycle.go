package usermap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// UserSource lists the Authentik users Authentik holds as inactive, every cycle the lifecycle
// acts: a hint of whom to look up. authentik.Client implements it.
type UserSource interface {
	ListInactiveUsers(ctx context.Context) ([]directory.User, error)
}

// UserLookup reads one user by pk, the evidence the account lifecycle acts on: an error for
// which directory.IsNotFound holds means the directory answered that no such user exists.
// authentik.Client implements it.
type UserLookup interface {
	LookupUser(ctx context.Context, pk int) (directory.User, error)
}

var _ reconcile.AccountDirectory = (*Directory)(nil)

var (
	errNoUserSource = errors.New("the Authentik source cannot list users")
	errNoUserLookup = errors.New("the directory source cannot look users up one by one")
)

// InactiveUsers maps the users Authentik holds as inactive with the mapping the group members
// get. A user whose ID cannot be worked out is left out: no managed user can carry it.
func (d *Directory) InactiveUsers(ctx context.Context) (map[id.UserID]plan.DirectoryAccount, error) {
	src, ok := d.Source.(UserSource)
	if !ok {
		return nil, errNoUserSource
	}
	users, err := src.ListInactiveUsers(ctx)
	if err != nil {
		return nil, err
	}
	resolve := d.mappingFor(ctx, users)
	out := make(map[id.UserID]plan.DirectoryAccount, len(users))
	for _, u := range users {
		uid, err := resolve(u)
		if err != nil || uid == "" {
			d.Log.Debug().Err(err).Str("username", u.Username).Msg("Inactive Authentik user without a Matrix ID; not matched to any account")
			continue
		}
		out[uid] = plan.DirectoryAccount{SourceID: strconv.Itoa(u.PK), Username: u.Username}
	}
	return out, nil
}

// LookupAccounts looks each user up by pk and says what Authentik holds: gone on its own "no
// such user", inactive or active on the user it returns, but only when that user still maps to
// the Matrix ID asked about (a renamed user maps elsewhere under a username template: that is
// no deletion, so it is unknown). Every failure leaves that one user unknown. When a new account
// took over the Matrix ID of a deleted one (checkSuccessors), users[id] is set to the new one.
func (d *Directory) LookupAccounts(ctx context.Context, users map[id.UserID]plan.DirectoryAccount) (map[id.UserID]plan.AccountStatus, error) {
	src, ok := d.Source.(UserLookup)
	if !ok {
		return nil, errNoUserLookup
	}
	order := slices.Sorted(maps.Keys(users))
	out := make(map[id.UserID]plan.AccountStatus, len(users))
	var failed []error
	for _, uid := range order {
		out[uid] = plan.AccountUnknown
		pk, err := strconv.Atoi(users[uid].SourceID)
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: source ID %q is no Authentik pk", uid, users[uid].SourceID))
			continue
		}
		u, err := src.LookupUser(ctx, pk)
		switch {
		case directory.IsNotFound(err):
			out[uid] = plan.AccountGone
			continue
		case err != nil:
			failed = append(failed, fmt.Errorf("%s: %w", uid, err))
			if ctx.Err() != nil {
				return out, errors.Join(failed...)
			}
			continue
		}
		mapped, err := d.mappingFor(ctx, []directory.User{u})(u)
		if err != nil || mapped != uid {
			d.Log.Info().Err(err).Str("user", string(uid)).Str("username", u.Username).Str("maps_to", string(mapped)).
				Msg("Authentik account found, but it maps to another Matrix ID now (renamed?); its status stays unknown")
			continue
		}
		out[uid] = statusOf(u)
	}
	failed = append(failed, d.checkSuccessors(ctx, users, out)...)
	if len(failed) > 0 {
		return out, fmt.Errorf("%d of %d Authentik account lookups failed: %w", len(failed), len(users), errors.Join(failed...))
	}
	return out, nil
}

// UsersByName finds the users with one username (core/users/?username=). authentik.Client
// implements it.
type UsersByName interface {
	FindUsers(ctx context.Context, username string) ([]directory.User, error)
}

// checkSuccessors makes sure that no new account took over the Matrix ID of one whose pk is
// gone (a user deleted and made again under the same username): one search by the username
// the bot last saw, only for an account Authentik just answered gone. A new account found
// mapping to the ID gives its status; a failed search leaves the ID unknown. An account whose
// username the bot never saw stays gone: no other account is known to map to its ID.
func (d *Directory) checkSuccessors(ctx context.Context, users map[id.UserID]plan.DirectoryAccount, out map[id.UserID]plan.AccountStatus) []error {
	src, ok := d.Source.(UsersByName)
	if !ok {
		return nil
	}
	var failed []error
	for _, uid := range slices.Sorted(maps.Keys(out)) {
		name := users[uid].Username
		if out[uid] != plan.AccountGone || name == "" {
			continue
		}
		found, err := src.FindUsers(ctx, name)
		if err != nil {
			out[uid] = plan.AccountUnknown
			failed = append(failed, fmt.Errorf("%s: deleted, but whether a new account took over username %q is unknown: %w", uid, name, err))
			continue
		}
		if len(found) == 0 {
			continue
		}
		resolve := d.mappingFor(ctx, found)
		for _, u := range found {
			if mapped, err := resolve(u); err != nil || mapped != uid {
				continue
			}
			d.Log.Info().Str("user", string(uid)).Str("username", u.Username).Int("pk", u.PK).
				Msg("The Authentik account behind this Matrix ID was deleted, but a new one maps to it: not treated as gone")
			out[uid] = statusOf(u)
			// The new account is the ID's account now: the caller keeps its pk, so that later
			// cycles look it up directly instead of relying on this search again.
			users[uid] = plan.DirectoryAccount{SourceID: strconv.Itoa(u.PK), Username: u.Username}
		}
	}
	return failed
}

// mappingFor is the mapping of group members, for a listing of users outside any group.
func (d *Directory) mappingFor(ctx context.Context, users []directory.User) func(directory.User) (id.UserID, error) {
	if d.External == nil {
		return d.templateMapping
	}
	return d.externalMapping(ctx, map[string]directory.Membership{"": {Users: users}})
}

// statusOf is the status a found account gives: active or deactivated.
func statusOf(u directory.User) plan.AccountStatus {
	if u.IsActive {
		return plan.AccountActive
	}
	return plan.AccountInactive
}
