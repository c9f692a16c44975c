package appservice

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

// Profiles for profile sync. Reads use the client API (GET /_matrix/client/v3/profile/{user}/
// {field}); in appservice mode as the user themself, whom no privacy setting hides their own
// profile from. Writes, in appservice mode, go as the user's puppet (the as_token with
// ?user_id=); in client mode through the admin API (PUT /_synapse/admin/v2/users/{id}), which
// needs a server-admin bot and, as it would create a missing account, is sent only after the
// account was read.

var (
	_ reconcile.Profiles = (*Matrix)(nil)
	_ reconcile.Avatars  = (*Matrix)(nil)
)

// DisplayName returns the user's display name, "" when they set none.
func (m *Matrix) DisplayName(ctx context.Context, user id.UserID) (string, error) {
	return m.profileField(ctx, user, "displayname")
}

// AvatarURL returns the user's avatar as an mxc:// URL, "" when they set none.
func (m *Matrix) AvatarURL(ctx context.Context, user id.UserID) (string, error) {
	return m.profileField(ctx, user, "avatar_url")
}

// SetDisplayName sets the user's display name, which Synapse also carries into their
// membership in every room.
func (m *Matrix) SetDisplayName(ctx context.Context, user id.UserID, name string) error {
	return m.setProfileField(ctx, user, "displayname", name)
}

// SetAvatarURL sets the user's avatar to an mxc:// URL.
func (m *Matrix) SetAvatarURL(ctx context.Context, user id.UserID, url string) error {
	return m.setProfileField(ctx, user, "avatar_url", url)
}

func (m *Matrix) profileField(ctx context.Context, user id.UserID, field string) (string, error) {
	c := m.client
	if m.appservice {
		c = m.puppet(user)
	}
	var resp map[string]any
	err := m.withRateLimit(ctx, "profile", func(ctx context.Context) error {
		_, err := c.MakeRequest(ctx, http.MethodGet, c.BuildClientURL("v3", "profile", user, field), nil, &resp)
		return err
	})
	switch {
	case err == nil:
		v, _ := resp[field].(string)
		return v, nil
	case httpStatus(err) == http.StatusNotFound, isNotRegistered(err):
		return "", fmt.Errorf("read the %s of %s: %w: %w", field, user, ErrNoAccount, err)
	case httpStatus(err) == http.StatusForbidden && !m.appservice:
		return "", fmt.Errorf("read the %s of %s: the homeserver hides profiles from the bot (limit_profile_requests_to_users_who_share_rooms or require_auth_for_profile_requests): make the bot a server admin or use appservice mode: %w", field, user, err)
	default:
		return "", fmt.Errorf("read the %s of %s: %w", field, user, err)
	}
}

func (m *Matrix) setProfileField(ctx context.Context, user id.UserID, field, value string) error {
	if !m.appservice {
		if _, err := m.account(ctx, user, "profile sync in client mode"); err != nil {
			return fmt.Errorf("set the %s of %s: %w", field, user, err)
		}
		return m.modifyAccount(ctx, user, "set the "+field+" of", "profile sync in client mode", map[string]any{field: value})
	}
	puppet := m.puppet(user)
	err := m.withRateLimit(ctx, "set profile", func(ctx context.Context) error {
		_, err := puppet.MakeRequest(ctx, http.MethodPut, puppet.BuildClientURL("v3", "profile", user, field), map[string]any{field: value}, nil)
		return err
	})
	switch {
	case err == nil:
		return nil
	case isNotRegistered(err):
		return fmt.Errorf("set the %s of %s: %w: %w", field, user, ErrNoAccount, err)
	case isMasqueradeRefused(err):
		return fmt.Errorf("set the %s of %s: %w: the appservice registration's user namespace does not cover this user: widen its regex", field, user, err)
	case strings.Contains(strings.ToLower(errMessage(err)), "disabled"):
		return fmt.Errorf("set the %s of %s: the homeserver does not let users change it (enable_set_displayname / enable_set_avatar_url: false in homeserver.yaml): enable it, or run the bot in client mode as a server admin: %w", field, user, err)
	default:
		return fmt.Errorf("set the %s of %s as the user: %w", field, user, err)
	}
}
