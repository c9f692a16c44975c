package authentik

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"
)

// The calls below are the doctor's: each reads one small thing to prove that a part of the
// setup works. The sync itself never needs them.

// Version returns the release Authentik runs ("2025.12.4"), from /api/v3/admin/version/,
// which any valid token may read.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v struct {
		Current *string `json:"version_current"`
	}
	if err := c.getObject(ctx, "admin/version/", &v); err != nil {
		return "", fmt.Errorf("read authentik version: %w", err)
	}
	if v.Current == nil || *v.Current == "" {
		return "", fmt.Errorf("read authentik version: the answer has no version_current: %w", ErrNotAuthentikAPI)
	}
	return *v.Current, nil
}

// Me returns the username of the token's user, from /api/v3/core/users/me/.
func (c *Client) Me(ctx context.Context) (string, error) {
	var me struct {
		User *struct {
			Username string `json:"username"`
		} `json:"user"`
	}
	if err := c.getObject(ctx, "core/users/me/", &me); err != nil {
		return "", fmt.Errorf("read the token's user: %w", err)
	}
	if me.User == nil || me.User.Username == "" {
		return "", fmt.Errorf("read the token's user: the answer has no user.username: %w", ErrNotAuthentikAPI)
	}
	return me.User.Username, nil
}

// CanListUsers reads the first page of the user listing: a token whose user lacks the view
// permission gets ErrPermissionDenied here, not an empty list. (GroupNames does the same for
// groups.)
func (c *Client) CanListUsers(ctx context.Context) error {
	_, err := c.getPage(ctx, "core/users/", url.Values{"include_groups": {"false"}}, 1)
	if err != nil {
		return fmt.Errorf("list authentik users: %w", err)
	}
	return nil
}

// GroupNames lists every group's name, in the server's order.
func (c *Client) GroupNames(ctx context.Context) ([]string, error) {
	groups, err := c.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.Name
	}
	return names, nil
}

// SplitHint parts an error of the client into what failed and the hint for fixing it that an
// answer's error ends with, so that a report can show the hint as its own line. hint is "" when
// err carries none; detail is then err's whole message.
func SplitHint(err error) (detail, hint string) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err.Error(), ""
	}
	hint = ae.hint()
	msg := err.Error()
	suffix := " (" + hint + ")"
	if hint == "" || !strings.HasSuffix(msg, suffix) {
		// Wrapped so that the hint is not at the end: keep the message whole, hint and all.
		return msg, ""
	}
	return strings.TrimSuffix(msg, suffix), hint
}

// IsTokenNotReceived tells whether err is a refused token that never reached Authentik: no
// Authorization header arrived, or a proxy in front of it asked for its own login. The token
// itself may be right; its hint says what to fix on the way.
func IsTokenNotReceived(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	h := ae.hint()
	return h == hintTokenNotReceived || h == hintProxyLogin
}

// IsUnreachable tells whether err means no HTTP answer came back at all (DNS, refused
// connection, TLS, time-out), as opposed to an answer that was an error.
func IsUnreachable(err error) bool {
	var ue *url.Error
	var ae *APIError
	return errors.As(err, &ue) && !errors.As(err, &ae)
}

// getObject reads one JSON object below /api/v3/ into v.
func (c *Client) getObject(ctx context.Context, path string, v any) error {
	u := c.api.ResolveReference(&url.URL{Path: path})
	where := u.RequestURI()
	body, contentType, err := c.get(ctx, u, where)
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "" && !strings.Contains(mt, "json") {
		return fmt.Errorf("authentik GET %s: the answer is %s, not JSON: %w", where, mt, ErrNotAuthentikAPI)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("authentik GET %s: decode: %v: %w", where, err, ErrNotAuthentikAPI)
	}
	return nil
}
