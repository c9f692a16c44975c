package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

var _ reconcile.PowerLevelWriter = (*Matrix)(nil)

// SetUserPowerLevels reads the room's m.room.power_levels right before writing it, changes the
// users entries whose level is still the one the plan saw, and sends the event once. Every other
// key, and every other user, is written back byte for byte as read. A user set to the room's
// users_default loses their entry rather than getting an explicit one.
func (m *Matrix) SetUserPowerLevels(ctx context.Context, room id.RoomID, changes []plan.LevelChange) ([]plan.LevelChange, error) {
	var content map[string]json.RawMessage
	err := m.withRateLimit(ctx, "read power levels", func(ctx context.Context) error {
		content = nil
		return m.client.StateEvent(ctx, room, event.StatePowerLevels, "", &content)
	})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("read m.room.power_levels of %s: the room has none; set any power level by hand once so the room gets one: %w", room, err)
		}
		return nil, fmt.Errorf("read m.room.power_levels of %s: %w", room, err)
	}
	done, err := applyLevelChanges(content, changes)
	if err != nil || len(done) == 0 {
		return nil, err
	}
	err = m.withRateLimit(ctx, "write power levels", func(ctx context.Context) error {
		_, err := m.client.SendStateEvent(ctx, room, event.StatePowerLevels, "", content)
		return err
	})
	if err != nil {
		if IsForbidden(err) {
			err = fmt.Errorf("%w (the bot needs the level of m.room.power_levels in the room, more than each user's current level, and at least each new level)", err)
		}
		return nil, fmt.Errorf("write m.room.power_levels of %s: %w", room, err)
	}
	return done, nil
}

// applyLevelChanges edits content's users map in place and returns the changes it made. A change
// whose user no longer has its From level is left out: someone else changed it meanwhile.
func applyLevelChanges(content map[string]json.RawMessage, changes []plan.LevelChange) ([]plan.LevelChange, error) {
	users := map[string]json.RawMessage{}
	if raw, ok := content["users"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &users); err != nil {
			return nil, fmt.Errorf("m.room.power_levels: users is not an object: %w", err)
		}
	}
	var def level
	if raw, ok := content["users_default"]; ok {
		_ = json.Unmarshal(raw, &def)
	}
	usersDefault := def.or(0)
	var done []plan.LevelChange
	for _, c := range changes {
		cur := usersDefault
		if raw, ok := users[string(c.User)]; ok {
			var l level
			if json.Unmarshal(raw, &l) == nil && l.set {
				cur = l.n
			}
		}
		if cur != c.From {
			continue
		}
		if c.To == usersDefault {
			delete(users, string(c.User))
		} else {
			users[string(c.User)] = json.RawMessage(fmt.Sprint(c.To))
		}
		done = append(done, c)
	}
	if len(done) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(users)
	if err != nil {
		return nil, err
	}
	content["users"] = raw
	return done, nil
}

// ErrNotServerAdmin means the bot may not use Synapse's admin API.
var ErrNotServerAdmin = errors.New("the bot is not a server admin")

// LookupExternalID asks Synapse's admin API which user is linked to subject at an auth provider
// (an SSO idp_id such as oidc-authentik). It returns "" without an error when nobody is.
func (m *Matrix) LookupExternalID(ctx context.Context, provider, subject string) (id.UserID, error) {
	var resp struct {
		UserID id.UserID `json:"user_id"`
	}
	err := m.adminRequest(ctx, "external ID lookup", func(ctx context.Context, c *mautrix.Client) error {
		resp.UserID = ""
		url := c.BuildURL(mautrix.SynapseAdminURLPath{"v1", "auth_providers", provider, "users", subject})
		_, err := c.MakeRequest(ctx, http.MethodGet, url, nil, &resp)
		return err
	})
	switch {
	case err == nil:
		if resp.UserID == "" {
			return "", fmt.Errorf("look up external ID %q of %s: the homeserver answered without a user_id", subject, provider)
		}
		return resp.UserID, nil
	case httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode:
		return "", nil
	case httpStatus(err) == http.StatusForbidden:
		return "", fmt.Errorf("look up external ID %q of %s: %w: make %s a Synapse server admin (admin API PUT /_synapse/admin/v2/users/%s with \"admin\": true): %w",
			subject, provider, ErrNotServerAdmin, m.bot, m.bot, err)
	case httpStatus(err) == http.StatusNotFound:
		return "", fmt.Errorf("look up external ID %q of %s: the homeserver has no Synapse admin API (user_mapping.source synapse_external_id needs Synapse): %w", subject, provider, err)
	default:
		return "", fmt.Errorf("look up external ID %q of %s: %w", subject, provider, err)
	}
}

// CheckExternalIDAccess makes sure at start that external-ID lookups work: the homeserver has the
// admin API and the bot may use it. It looks up a subject no provider issues.
func (m *Matrix) CheckExternalIDAccess(ctx context.Context, provider string) error {
	_, err := m.LookupExternalID(ctx, provider, "authentik-matrix-sync-access-check")
	if err != nil {
		return fmt.Errorf("user_mapping.source is synapse_external_id, but %w", err)
	}
	return nil
}

// SetUserPowerLevels writes through to the homeserver and marks the room changed, whatever the
// outcome, as the cache's other writes do.
func (c *RoomCache) SetUserPowerLevels(ctx context.Context, room id.RoomID, changes []plan.LevelChange) ([]plan.LevelChange, error) {
	defer c.Invalidate(room)
	return c.Matrix.SetUserPowerLevels(ctx, room, changes)
}
