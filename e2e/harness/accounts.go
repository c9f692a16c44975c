package harness

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix/id"
)

// Account is what Synapse's admin API says of an account (GET /_synapse/admin/v2/users/{id}).
type Account struct {
	Locked      bool   `json:"locked"`
	Deactivated bool   `json:"deactivated"`
	Admin       bool   `json:"admin"`
	DisplayName string `json:"displayname"`
	AvatarURL   string `json:"avatar_url"`
}

// Account reads an account through the admin API, as the server admin.
func (s *Synapse) Account(ctx context.Context, user id.UserID) (Account, error) {
	var a Account
	if err := s.call(ctx, http.MethodGet, apiPath("/_synapse/admin/v2/users", string(user)), s.AdminToken, nil, &a); err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", user, err)
	}
	return a, nil
}

// Devices lists the device IDs of an account through the admin API.
func (s *Synapse) Devices(ctx context.Context, user id.UserID) ([]string, error) {
	var resp struct {
		Devices []struct {
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	if err := s.call(ctx, http.MethodGet, apiPath("/_synapse/admin/v2/users", string(user), "devices"), s.AdminToken, nil, &resp); err != nil {
		return nil, fmt.Errorf("list devices of %s: %w", user, err)
	}
	out := make([]string, 0, len(resp.Devices))
	for _, d := range resp.Devices {
		out = append(out, d.DeviceID)
	}
	return out, nil
}

// Whoami asks who a token belongs to: the error (a *MatrixError) tells a token that stopped
// working (M_UNKNOWN_TOKEN) or a locked account (M_USER_LOCKED).
func (s *Synapse) Whoami(ctx context.Context, token string) (id.UserID, error) {
	var resp struct {
		UserID id.UserID `json:"user_id"`
	}
	if err := s.call(ctx, http.MethodGet, "/_matrix/client/v3/account/whoami", token, nil, &resp); err != nil {
		return "", err
	}
	return resp.UserID, nil
}

// SetLocked locks or unlocks an account through the admin API, as an operator would by hand.
func (s *Synapse) SetLocked(ctx context.Context, user id.UserID, locked bool) error {
	if err := s.call(ctx, http.MethodPut, apiPath("/_synapse/admin/v2/users", string(user)), s.AdminToken, map[string]any{"locked": locked}, nil); err != nil {
		return fmt.Errorf("set locked=%v on %s: %w", locked, user, err)
	}
	return nil
}
