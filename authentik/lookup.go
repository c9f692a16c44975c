package authentik

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"authentik-matrix-sync/directory"
)

// LookupUser reads one user by pk (core/users/{pk}/), the direct evidence the account lifecycle
// acts on: an error that errors.Is ErrNotFound means Authentik answered that no such user exists
// (recorded: 31, "No User matches the given query."), which only a deleted account gives. Any
// other failure, and an answer that is not a whole user, is an error of another kind: it proves
// nothing about the account.
func (c *Client) LookupUser(ctx context.Context, pk int) (directory.User, error) {
	path := "core/users/" + strconv.Itoa(pk) + "/"
	u := c.api.ResolveReference(&url.URL{Path: path, RawQuery: url.Values{"include_groups": {"false"}}.Encode()})
	body, _, err := c.get(ctx, u, u.RequestURI())
	if err != nil {
		return directory.User{}, fmt.Errorf("look up authentik user pk %d: %w", pk, err)
	}
	users, err := decodeUsers([]json.RawMessage{body})
	if err != nil {
		return directory.User{}, fmt.Errorf("look up authentik user pk %d: the answer is not a user: %w", pk, err)
	}
	if users[0].PK != pk {
		return directory.User{}, fmt.Errorf("look up authentik user pk %d: the answer is user pk %d", pk, users[0].PK)
	}
	return users[0], nil
}

// FindUsers lists the users with exactly this username, without their groups (one small
// listing: Authentik's username filter is exact): how a new account made under the username
// of a deleted one is found.
func (c *Client) FindUsers(ctx context.Context, username string) ([]directory.User, error) {
	users, err := c.listUsers(ctx, url.Values{"username": {username}, "include_groups": {"false"}})
	if err != nil {
		return nil, fmt.Errorf("find authentik user %q: %w", username, err)
	}
	out := users[:0]
	for _, u := range users {
		if u.Username == username {
			out = append(out, u)
		}
	}
	return out, nil
}
