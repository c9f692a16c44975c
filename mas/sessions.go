package mas

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// SessionKind is a kind of MAS session, spelled as in its admin API path.
type SessionKind string

const (
	// CompatSessions are logins of clients that use the legacy Matrix login API.
	CompatSessions SessionKind = "compat-sessions"
	// OAuth2Sessions are logins of OAuth 2.0 (next-generation auth) clients.
	OAuth2Sessions SessionKind = "oauth2-sessions"
	// BrowserSessions are the user's web sessions at MAS itself ("user sessions").
	BrowserSessions SessionKind = "user-sessions"
)

// SessionKinds lists every kind a logout ends.
var SessionKinds = []SessionKind{CompatSessions, OAuth2Sessions, BrowserSessions}

// Session is one session of a user.
type Session struct {
	Kind       SessionKind
	ID         string
	UserID     string
	FinishedAt *time.Time
}

type sessionAttributes struct {
	UserID     *string    `json:"user_id"`
	FinishedAt *time.Time `json:"finished_at"`
}

// ActiveSessions lists the user's unfinished sessions of one kind, every page of them.
func (c *Client) ActiveSessions(ctx context.Context, kind SessionKind, userID string) ([]Session, error) {
	op := fmt.Sprintf("list the active %s of MAS user %s", kind, userID)
	if !IsULID(userID) {
		return nil, fmt.Errorf("%s: not a MAS ID (ULID)", op)
	}
	rs, err := list[sessionAttributes](ctx, c, op, string(kind), url.Values{"filter[user]": {userID}, "filter[status]": {"active"}})
	if err != nil {
		return nil, err
	}
	var out []Session
	for _, r := range rs {
		s := Session{Kind: kind, ID: r.ID, FinishedAt: r.Attributes.FinishedAt}
		if r.Attributes.UserID != nil {
			s.UserID = *r.Attributes.UserID
		}
		// Never end a session the filter should have left out.
		if s.UserID != userID || s.FinishedAt != nil {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// FinishSession ends a session: its tokens stop working and MAS removes the device from the
// homeserver. A session that is already finished, or gone, is no error.
func (c *Client) FinishSession(ctx context.Context, kind SessionKind, id string) error {
	op := fmt.Sprintf("finish MAS %s %s", kind, id)
	if !IsULID(id) {
		return fmt.Errorf("%s: not a MAS ID (ULID)", op)
	}
	err := c.do(ctx, op, http.MethodPost, string(kind)+"/"+id+"/finish", nil, nil)
	var apiErr *APIError
	switch {
	case err == nil, errors.Is(err, ErrNotFound):
		return nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusBadRequest:
		// "… is already finished": another logout got there first.
		return nil
	}
	return err
}
