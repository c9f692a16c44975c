package mas

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// User is a MAS user. Username is the localpart of their Matrix ID.
type User struct {
	ID            string
	Username      string
	CreatedAt     time.Time
	LockedAt      *time.Time
	DeactivatedAt *time.Time
	Admin         bool
}

// Locked tells whether the user is locked (a deactivated user is locked too).
func (u User) Locked() bool { return u.LockedAt != nil }

type userAttributes struct {
	Username      string     `json:"username"`
	CreatedAt     time.Time  `json:"created_at"`
	LockedAt      *time.Time `json:"locked_at"`
	DeactivatedAt *time.Time `json:"deactivated_at"`
	Admin         bool       `json:"admin"`
}

func toUser(r resource[userAttributes]) User {
	a := r.Attributes
	return User{ID: r.ID, Username: a.Username, CreatedAt: a.CreatedAt, LockedAt: a.LockedAt, DeactivatedAt: a.DeactivatedAt, Admin: a.Admin}
}

func (c *Client) userAt(ctx context.Context, op, method, path string) (User, error) {
	var s single[userAttributes]
	if err := c.do(ctx, op, method, path, nil, &s); err != nil {
		return User{}, err
	}
	if s.Data.ID == "" {
		return User{}, fmt.Errorf("%s: MAS's answer holds no user", op)
	}
	return toUser(s.Data), nil
}

// UserByUsername looks a user up by username (localpart). A missing user is an error wrapping
// ErrNotFound.
func (c *Client) UserByUsername(ctx context.Context, username string) (User, error) {
	return c.userAt(ctx, fmt.Sprintf("look up MAS user %q", username), http.MethodGet, "users/by-username/"+url.PathEscape(username))
}

// UserByID reads a user by MAS ID.
func (c *Client) UserByID(ctx context.Context, id string) (User, error) {
	op := fmt.Sprintf("read MAS user %s", id)
	if !IsULID(id) {
		return User{}, fmt.Errorf("%s: not a MAS ID (ULID)", op)
	}
	return c.userAt(ctx, op, http.MethodGet, "users/"+id)
}

// LockUser locks a user: they can do nothing until unlocked, but their sessions survive (end
// them with the session calls). Locking a locked user changes nothing.
func (c *Client) LockUser(ctx context.Context, id string) (User, error) {
	op := fmt.Sprintf("lock MAS user %s", id)
	if !IsULID(id) {
		return User{}, fmt.Errorf("%s: not a MAS ID (ULID)", op)
	}
	return c.userAt(ctx, op, http.MethodPost, "users/"+id+"/lock")
}

// UnlockUser lifts a lock; it does not reactivate a deactivated user.
func (c *Client) UnlockUser(ctx context.Context, id string) (User, error) {
	op := fmt.Sprintf("unlock MAS user %s", id)
	if !IsULID(id) {
		return User{}, fmt.Errorf("%s: not a MAS ID (ULID)", op)
	}
	return c.userAt(ctx, op, http.MethodPost, "users/"+id+"/unlock")
}
