package mas

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

// Accounts locks and logs out Matrix users whose accounts MAS keeps. A Matrix ID's localpart
// is the MAS username; only users of Server are MAS's. Like the Synapse implementation, a user
// MAS does not know has nothing to lock or end: that is no error (accounts are never created).
type Accounts struct {
	Client *Client
	Server string
}

var (
	_ reconcile.Accounts   = (*Accounts)(nil)
	_ reconcile.LockReader = (*Accounts)(nil)
)

// userOf finds the MAS user behind a Matrix ID; ok is false when MAS has no such user.
func (a *Accounts) userOf(ctx context.Context, user id.UserID) (u User, ok bool, err error) {
	localpart, server, err := user.Parse()
	if err != nil {
		return User{}, false, fmt.Errorf("%q is not a Matrix user ID: %w", user, err)
	}
	if server != a.Server {
		return User{}, false, fmt.Errorf("%s is not a user of %s, whose accounts MAS keeps", user, a.Server)
	}
	u, err = a.Client.UserByUsername(ctx, localpart)
	if errors.Is(err, ErrNotFound) {
		return User{}, false, nil
	}
	return u, err == nil, err
}

// Locked reports whether MAS has the account locked (a deactivated account is locked too); a
// user MAS does not know is not.
func (a *Accounts) Locked(ctx context.Context, user id.UserID) (bool, error) {
	u, _, err := a.userOf(ctx, user)
	if err != nil {
		return false, fmt.Errorf("read the lock of %s: %w", user, err)
	}
	return u.Locked(), nil
}

// SetLocked locks or unlocks the account; one already in that state is left alone. Locking
// leaves the sessions in place (they work again once unlocked): Logout ends them.
func (a *Accounts) SetLocked(ctx context.Context, user id.UserID, locked bool) error {
	verb := "unlock"
	if locked {
		verb = "lock"
	}
	u, ok, err := a.userOf(ctx, user)
	switch {
	case err != nil:
		return fmt.Errorf("%s %s: %w", verb, user, err)
	case !ok:
		zerolog.Ctx(ctx).Info().Str("user", string(user)).Bool("locked", locked).Msg("No MAS account: nothing to lock or unlock")
		return nil
	case u.Locked() == locked:
		return nil
	}
	if locked {
		u, err = a.Client.LockUser(ctx, u.ID)
	} else {
		u, err = a.Client.UnlockUser(ctx, u.ID)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, user, err)
	}
	if u.Locked() != locked {
		return fmt.Errorf("%s %s: MAS answered, but its user %s is not %sed", verb, user, u.ID, verb)
	}
	return nil
}

// Logout finishes every active compatibility, OAuth 2.0 and browser session of the user: their
// tokens stop working and MAS deletes their devices on the homeserver. It goes on past a
// failed session and reports every failure at the end.
func (a *Accounts) Logout(ctx context.Context, user id.UserID) error {
	u, ok, err := a.userOf(ctx, user)
	switch {
	case err != nil:
		return fmt.Errorf("log out %s: %w", user, err)
	case !ok:
		zerolog.Ctx(ctx).Info().Str("user", string(user)).Msg("No MAS account: no session to end")
		return nil
	}
	var errs []error
	ended := 0
	for _, kind := range SessionKinds {
		sessions, err := a.Client.ActiveSessions(ctx, kind, u.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range sessions {
			if err := a.Client.FinishSession(ctx, kind, s.ID); err != nil {
				errs = append(errs, err)
				continue
			}
			ended++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log out %s (%d session(s) ended): %w", user, ended, err)
	}
	if ended > 0 {
		zerolog.Ctx(ctx).Info().Str("user", string(user)).Int("sessions", ended).Msg("MAS sessions finished: their tokens no longer work")
	}
	return nil
}
