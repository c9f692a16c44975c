package appservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"

	"authentik-matrix-sync/reconcile"
)

// The account lifecycle through Synapse's admin API: locking (PUT /_synapse/admin/v2/users/{id}
// with "locked") and ending sessions (listing the devices, then delete_devices, which deletes
// their access tokens). Every call needs a server admin: the bot's own account (in appservice
// mode, the appservice's bot user), or the token of Options.AdminToken.
//
// PUT /_synapse/admin/v2/users/{id} creates the account when it does not exist, so every write
// reads the account first, and a user without one is left alone: accounts are never created.

var (
	_ reconcile.Accounts   = (*Matrix)(nil)
	_ reconcile.LockReader = (*Matrix)(nil)
)

// adminAccount is the part of GET /_synapse/admin/v2/users/{id} the lifecycle reads.
type adminAccount struct {
	Locked      bool   `json:"locked"`
	Deactivated bool   `json:"deactivated"`
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
}

// account reads a user's account with the admin API; a user without one yields ErrNoAccount.
func (m *Matrix) account(ctx context.Context, user id.UserID, purpose string) (adminAccount, error) {
	var acc adminAccount
	err := m.adminRequest(ctx, "admin user info", func(ctx context.Context, c *mautrix.Client) error {
		_, err := c.MakeRequest(ctx, http.MethodGet, adminURL(c, "v2", "users", user), nil, &acc)
		return err
	})
	switch {
	case err == nil:
		return acc, nil
	case httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode:
		return acc, fmt.Errorf("read the account %s: %w", user, ErrNoAccount)
	default:
		return acc, fmt.Errorf("read the account %s: %w", user, m.explainAdminError(err, purpose))
	}
}

// modifyAccount sends PUT /_synapse/admin/v2/users/{id} with body, for an account known to exist.
func (m *Matrix) modifyAccount(ctx context.Context, user id.UserID, what, purpose string, body map[string]any) error {
	err := m.adminRequest(ctx, "admin modify user", func(ctx context.Context, c *mautrix.Client) error {
		_, err := c.MakeRequest(ctx, http.MethodPut, adminURL(c, "v2", "users", user), body, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, user, m.explainAdminError(err, purpose))
	}
	return nil
}

// Locked reports whether the account is locked; a user without an account is not.
func (m *Matrix) Locked(ctx context.Context, user id.UserID) (bool, error) {
	acc, err := m.account(ctx, user, "locking accounts (deactivated.lock_after)")
	if IsNoAccount(err) {
		return false, nil
	}
	return acc.Locked, err
}

// SetLocked locks or unlocks the account. An account already in that state is left as it is,
// and a user without an account has nothing to lock.
func (m *Matrix) SetLocked(ctx context.Context, user id.UserID, locked bool) error {
	purpose := "locking accounts (deactivated.lock_after)"
	acc, err := m.account(ctx, user, purpose)
	switch {
	case IsNoAccount(err):
		m.logFor(ctx).Info().Str("user", string(user)).Bool("locked", locked).Msg("No Matrix account: nothing to lock or unlock")
		return nil
	case err != nil:
		return err
	case acc.Locked == locked:
		return nil
	}
	what := map[bool]string{true: "lock", false: "unlock"}[locked]
	return m.modifyAccount(ctx, user, what, purpose, map[string]any{"locked": locked})
}

// Logout ends every session of the user: it lists their devices and deletes them all, which
// deletes each device's access token. A user without an account or devices has none to end.
func (m *Matrix) Logout(ctx context.Context, user id.UserID) error {
	purpose := "ending sessions (deactivated.logout)"
	var devices *synapseadmin.RespListDevices
	err := m.adminRequest(ctx, "admin list devices", func(ctx context.Context, c *mautrix.Client) error {
		var err error
		devices, err = (&synapseadmin.Client{Client: c}).ListDevices(ctx, user)
		return err
	})
	switch {
	case httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode:
		m.logFor(ctx).Info().Str("user", string(user)).Msg("No Matrix account: no session to end")
		return nil
	case err != nil:
		return fmt.Errorf("list the devices of %s: %w", user, m.explainAdminError(err, purpose))
	}
	ids := make([]id.DeviceID, 0, len(devices.Devices))
	for _, d := range devices.Devices {
		ids = append(ids, d.DeviceID)
	}
	if len(ids) == 0 {
		return nil
	}
	err = m.adminRequest(ctx, "admin delete devices", func(ctx context.Context, c *mautrix.Client) error {
		url := adminURL(c, "v2", "users", user, "delete_devices")
		_, err := c.MakeRequest(ctx, http.MethodPost, url, map[string]any{"devices": ids}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete the %d device(s) of %s: %w", len(ids), user, m.explainAdminError(err, purpose))
	}
	m.logFor(ctx).Info().Str("user", string(user)).Int("devices", len(ids)).Msg("Devices deleted: their access tokens no longer work")
	return nil
}

// CheckAccountsAdmin makes sure the admin API the account lifecycle needs accepts the bot, so
// that a missing server-admin flag shows at start and not at the first deactivation.
func (m *Matrix) CheckAccountsAdmin(ctx context.Context, purpose string) error {
	_, err := m.account(ctx, m.bot, purpose)
	return err
}

// explainAdminError says what to fix when the admin API refuses the bot.
func (m *Matrix) explainAdminError(err error, purpose string) error {
	switch {
	case errors.Is(err, mautrix.MForbidden) || httpStatus(err) == http.StatusForbidden:
		return fmt.Errorf("%s uses the Synapse admin API, but %s is not a server admin: make it one (register_new_matrix_user --admin, or PUT /_synapse/admin/v2/users/%s with {\"admin\": true}): %w",
			purpose, m.bot, m.bot, err)
	case httpStatus(err) == http.StatusNotFound, errors.Is(err, mautrix.MUnrecognized):
		return fmt.Errorf("%s uses the Synapse admin API, but the homeserver has none (or a reverse proxy hides /_synapse/admin: let the bot reach it): %w", purpose, err)
	}
	return err
}

// adminURL builds the URL of a Synapse admin API path for client c.
func adminURL(c *mautrix.Client, path ...any) string {
	return (&synapseadmin.Client{Client: c}).BuildAdminURL(path...)
}
