package authentik

import (
	"context"
	"fmt"
	"net/url"

	"authentik-matrix-sync/directory"
)

// ListInactiveUsers returns the users Authentik holds as inactive (is_active false), without
// their groups: one cheap listing a cycle, for the account lifecycle. A release that ignored the
// filter would list everyone, so each user's is_active is checked here too.
func (c *Client) ListInactiveUsers(ctx context.Context) ([]directory.User, error) {
	users, err := c.listUsers(ctx, url.Values{"is_active": {"false"}, "include_groups": {"false"}})
	if err != nil {
		return nil, fmt.Errorf("list inactive authentik users: %w", err)
	}
	inactive := users[:0]
	for _, u := range users {
		if !u.IsActive {
			inactive = append(inactive, u)
		}
	}
	return inactive, nil
}

// ListUsers returns every user, active or not, without their groups. It is read only when the
// bot must tell a deleted user from one who left their groups.
func (c *Client) ListUsers(ctx context.Context) ([]directory.User, error) {
	users, err := c.listUsers(ctx, url.Values{"include_groups": {"false"}})
	if err != nil {
		return nil, fmt.Errorf("list every authentik user: %w", err)
	}
	return users, nil
}

func (c *Client) listUsers(ctx context.Context, q url.Values) ([]directory.User, error) {
	raw, err := c.listAll(ctx, "core/users/", q)
	if err != nil {
		return nil, err
	}
	return decodeUsers(raw)
}
