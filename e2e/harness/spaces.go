package harness

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix/id"
)

// SetState sends a state event as the given user.
func (s *Synapse) SetState(ctx context.Context, as User, room id.RoomID, evType, stateKey string, content any) error {
	path := apiPath(clientAPI+"/rooms", string(room), "state", evType, stateKey)
	if err := s.call(ctx, http.MethodPut, path, as.Token, content, nil); err != nil {
		return fmt.Errorf("set %s/%s in %s as %s: %w", evType, stateKey, room, as.ID, err)
	}
	return nil
}

// State reads one state event's content as the given user.
func (s *Synapse) State(ctx context.Context, as User, room id.RoomID, evType, stateKey string) (map[string]any, error) {
	var content map[string]any
	path := apiPath(clientAPI+"/rooms", string(room), "state", evType, stateKey)
	if err := s.call(ctx, http.MethodGet, path, as.Token, nil, &content); err != nil {
		return nil, fmt.Errorf("read %s/%s in %s as %s: %w", evType, stateKey, room, as.ID, err)
	}
	return content, nil
}

// AddSpaceChild lists child in space (via the homeserver's own name); RemoveSpaceChild empties the
// event, which is how clients take a room out of a space.
func (s *Synapse) AddSpaceChild(ctx context.Context, as User, space, child id.RoomID) error {
	return s.SetState(ctx, as, space, "m.space.child", string(child), map[string]any{"via": []string{s.ServerName}})
}

// RemoveSpaceChild takes child out of space.
func (s *Synapse) RemoveSpaceChild(ctx context.Context, as User, space, child id.RoomID) error {
	return s.SetState(ctx, as, space, "m.space.child", string(child), map[string]any{})
}

// ResolveAlias returns the room an alias points at.
func (s *Synapse) ResolveAlias(ctx context.Context, as User, alias id.RoomAlias) (id.RoomID, error) {
	var resp struct {
		RoomID id.RoomID `json:"room_id"`
	}
	if err := s.call(ctx, http.MethodGet, apiPath(clientAPI+"/directory/room", string(alias)), as.Token, nil, &resp); err != nil {
		return "", err
	}
	return resp.RoomID, nil
}
