package appservice

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// SpaceReader reads the children of spaces: through Synapse's admin hierarchy API when the bot may
// use it (it sees every child, joinable or not), else through the client API, which works on any
// homeserver for a space the bot is in. Both give the space's own m.space.child events in the
// root entry's children_state. One level is asked for (max_depth=1): the children's own entries
// tell which of them are plain rooms, so a recursive mapping reads only the others; recursion is
// the reconciler's.
type SpaceReader struct {
	m *Matrix
	// noAdmin is set once the admin API turned out to be missing or forbidden, so later reads
	// go straight to the client API.
	noAdmin atomic.Bool
}

var (
	_ reconcile.Hierarchy  = (*SpaceReader)(nil)
	_ reconcile.RoomJoiner = (*SpaceReader)(nil)
)

// JoinRoom accepts the bot's invite to a space child, so that it can read and manage it.
func (s *SpaceReader) JoinRoom(ctx context.Context, room id.RoomID) error {
	return s.m.JoinRoom(ctx, room)
}

// Spaces returns the reader of space children for the sync.
func (m *Matrix) Spaces() *SpaceReader { return &SpaceReader{m: m} }

// hierarchyResponse is the part of a /hierarchy answer the reader needs.
type hierarchyResponse struct {
	Rooms []struct {
		RoomID        id.RoomID `json:"room_id"`
		RoomType      string    `json:"room_type"`
		ChildrenState []struct {
			Type     string `json:"type"`
			StateKey string `json:"state_key"`
			Content  struct {
				Via []string `json:"via"`
			} `json:"content"`
		} `json:"children_state"`
	} `json:"rooms"`
}

// SpaceChildren lists the rooms the space names in m.space.child events with a non-empty via. A
// room that is not a space (no m.space room type) has no children.
func (s *SpaceReader) SpaceChildren(ctx context.Context, space id.RoomID) ([]plan.SpaceChild, error) {
	query := map[string]string{"max_depth": "1"}
	if !s.noAdmin.Load() {
		var resp hierarchyResponse
		err := s.m.adminRequest(ctx, "space hierarchy", func(ctx context.Context, c *mautrix.Client) error {
			resp = hierarchyResponse{}
			u := c.BuildURLWithQuery(mautrix.SynapseAdminURLPath{"v1", "rooms", space, "hierarchy"}, query)
			_, err := c.MakeRequest(ctx, http.MethodGet, u, nil, &resp)
			return err
		})
		if err != nil {
			err = fmt.Errorf("read the children of space %s: %w", space, err)
		}
		children, err := s.children(space, resp, err)
		if err == nil || !adminUnavailable(err) {
			return children, err
		}
		s.noAdmin.Store(true)
		s.m.log.Info().Err(err).Msg("Synapse's admin hierarchy API is not available to the bot; reading spaces through the client API, which needs the bot in each space")
	}
	u := s.m.client.BuildURLWithQuery(mautrix.ClientURLPath{"v1", "rooms", space, "hierarchy"}, query)
	children, err := s.read(ctx, space, u)
	if err != nil && httpStatus(err) == http.StatusForbidden {
		return nil, fmt.Errorf("%w: invite %s to the space", err, s.m.bot)
	}
	return children, err
}

func (s *SpaceReader) read(ctx context.Context, space id.RoomID, url string) ([]plan.SpaceChild, error) {
	var resp hierarchyResponse
	err := s.m.withRateLimit(ctx, "space hierarchy", func(ctx context.Context) error {
		resp = hierarchyResponse{}
		_, err := s.m.client.MakeRequest(ctx, http.MethodGet, url, nil, &resp)
		return err
	})
	if err != nil {
		err = fmt.Errorf("read the children of space %s: %w", space, err)
	}
	return s.children(space, resp, err)
}

// children picks the space's children out of a /hierarchy answer, or passes err on.
func (s *SpaceReader) children(space id.RoomID, resp hierarchyResponse, err error) ([]plan.SpaceChild, error) {
	if err != nil {
		return nil, err
	}
	types := map[id.RoomID]string{}
	for _, r := range resp.Rooms {
		types[r.RoomID] = r.RoomType
	}
	for _, r := range resp.Rooms {
		if r.RoomID != space {
			continue
		}
		if r.RoomType != string(event.RoomTypeSpace) {
			return nil, nil
		}
		var out []plan.SpaceChild
		for _, c := range r.ChildrenState {
			if c.Type != event.StateSpaceChild.Type || c.StateKey == "" || len(c.Content.Via) == 0 {
				continue
			}
			child := id.RoomID(c.StateKey)
			// A child without an entry (not visible, or on a later page) may be a space.
			roomType, listed := types[child]
			out = append(out, plan.SpaceChild{Room: child, NotSpace: listed && roomType != string(event.RoomTypeSpace)})
		}
		return out, nil
	}
	// Synapse answers 200 with no rooms when neither the server nor the bot is in the space.
	return nil, fmt.Errorf("read the children of space %s: the homeserver returned no entry for it: check the ID and that %s is in the space", space, s.m.bot)
}

// adminUnavailable recognises an admin API the bot may not use: missing (other homeservers, old
// Synapse) or refused (the bot is not a server admin).
func adminUnavailable(err error) bool {
	switch httpStatus(err) {
	case http.StatusNotFound, http.StatusForbidden, http.StatusUnauthorized, http.StatusMethodNotAllowed:
		return true
	case http.StatusBadRequest:
		return errCode(err) == mautrix.MUnrecognized.ErrCode
	}
	return false
}
