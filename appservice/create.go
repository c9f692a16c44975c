package appservice

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// NewRoom describes a room to create for a mapping whose alias does not exist yet.
type NewRoom struct {
	Alias id.RoomAlias
	Name  string
	Topic string
	// Preset is private_chat (when empty), trusted_private_chat or public_chat.
	Preset string
	// ParentSpace, if set, lists the new room as its child; the room names it as its parent.
	ParentSpace id.RoomID
}

// IsAliasNotFound reports whether an alias lookup failed because the alias does not exist, the
// only failure after which creating the room is safe (any other may hide an existing room).
func IsAliasNotFound(err error) bool {
	return httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode
}

// CreateRoom creates the room with the bot as creator and adds it to the parent space. The room
// ID is returned even when only the space step failed, so the caller can record the room and
// retry the space step with AddToSpace.
func (m *Matrix) CreateRoom(ctx context.Context, r NewRoom) (id.RoomID, error) {
	localpart, server, err := parseAlias(r.Alias)
	if err != nil {
		return "", err
	}
	if server != m.domain {
		return "", fmt.Errorf("create room %s: the alias is on %s, not on this homeserver (%s): only local aliases can be created", r.Alias, server, m.domain)
	}
	preset := r.Preset
	if preset == "" {
		preset = "private_chat"
	}
	req := &mautrix.ReqCreateRoom{RoomAliasName: localpart, Name: r.Name, Topic: r.Topic, Preset: preset}
	if r.ParentSpace != "" {
		req.InitialState = append(req.InitialState, &event.Event{
			Type:     event.StateSpaceParent,
			StateKey: ptr(string(r.ParentSpace)),
			Content:  event.Content{Parsed: &event.SpaceParentEventContent{Via: []string{m.domain}, Canonical: true}},
		})
	}
	var resp *mautrix.RespCreateRoom
	err = m.withRateLimit(ctx, "create room", func(ctx context.Context) error {
		var err error
		resp, err = m.client.CreateRoom(ctx, req)
		return err
	})
	if err != nil {
		if errCode(err) == mautrix.MRoomInUse.ErrCode {
			return "", fmt.Errorf("create room %s: the alias was taken meanwhile; the next start resolves it: %w", r.Alias, err)
		}
		return "", fmt.Errorf("create room %s: %w", r.Alias, err)
	}
	if r.ParentSpace != "" {
		if err := m.AddToSpace(ctx, r.ParentSpace, resp.RoomID); err != nil {
			return resp.RoomID, err
		}
	}
	return resp.RoomID, nil
}

// AddToSpace lists child in the space with an m.space.child event (via this homeserver). The bot
// needs a power level in the space that allows that state event.
func (m *Matrix) AddToSpace(ctx context.Context, space, child id.RoomID) error {
	content := &event.SpaceChildEventContent{Via: []string{m.domain}}
	err := m.withRateLimit(ctx, "add to space", func(ctx context.Context) error {
		_, err := m.client.SendStateEvent(ctx, space, event.StateSpaceChild, string(child), content)
		return err
	})
	if err != nil {
		return fmt.Errorf("add %s to space %s: give %s a power level in the space high enough to send m.space.child events: %w", child, space, m.bot, err)
	}
	return nil
}

// InSpace reports whether space lists child: an m.space.child event for it with at least one
// server to join through (an emptied event is how a child is taken out of a space).
func (m *Matrix) InSpace(ctx context.Context, space, child id.RoomID) (bool, error) {
	var content event.SpaceChildEventContent
	err := m.withRateLimit(ctx, "read space child", func(ctx context.Context) error {
		content = event.SpaceChildEventContent{}
		return m.client.StateEvent(ctx, space, event.StateSpaceChild, string(child), &content)
	})
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return false, nil
		}
		return false, fmt.Errorf("read m.space.child of %s in space %s: %w", child, space, err)
	}
	return len(content.Via) > 0, nil
}

func parseAlias(alias id.RoomAlias) (localpart, server string, err error) {
	sigil, localpart, server := id.ParseCommonIdentifier(alias)
	if sigil != '#' || localpart == "" || server == "" {
		return "", "", fmt.Errorf("create room: %q is not a room alias (#name:server)", alias)
	}
	return localpart, server, nil
}

func ptr[T any](v T) *T { return &v }
