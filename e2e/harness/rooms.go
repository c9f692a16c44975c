package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"maunium.net/go/mautrix/id"
)

const clientAPI = "/_matrix/client/v3"

// RoomOptions describes a room for CreateRoom.
type RoomOptions struct {
	Name   string
	Preset string // "private_chat" (the default), "public_chat" or "trusted_private_chat"
	Space  bool   // create a space (creation_content type m.space)
	Invite []id.UserID
	// PowerLevelUsers replaces the "users" map of the initial power levels. In room version 12 (the
	// default of current Synapse) the creator has unlimited power and may not appear in it; in
	// older versions (RoomVersion below 12) the creator is kept at 100 unless listed here.
	PowerLevelUsers map[id.UserID]int
	Alias           string // local part of a canonical alias, e.g. "team" for #team:server
	RoomVersion     string // empty: the server's default
}

// CreateRoom creates a room as the given user and returns its ID.
func (s *Synapse) CreateRoom(ctx context.Context, as User, opts RoomOptions) (id.RoomID, error) {
	req := map[string]any{"preset": opts.Preset}
	if opts.Preset == "" {
		req["preset"] = "private_chat"
	}
	if opts.Name != "" {
		req["name"] = opts.Name
	}
	if opts.Alias != "" {
		req["room_alias_name"] = opts.Alias
	}
	if opts.RoomVersion != "" {
		req["room_version"] = opts.RoomVersion
	}
	if opts.Space {
		req["creation_content"] = map[string]any{"type": "m.space"}
	}
	if len(opts.Invite) > 0 {
		req["invite"] = opts.Invite
	}
	if opts.PowerLevelUsers != nil {
		users := map[id.UserID]int{}
		if v, err := strconv.Atoi(opts.RoomVersion); err == nil && v < 12 {
			users[as.ID] = 100
		}
		for u, level := range opts.PowerLevelUsers {
			users[u] = level
		}
		req["power_level_content_override"] = map[string]any{"users": users}
	}
	var resp struct {
		RoomID id.RoomID `json:"room_id"`
	}
	if err := s.call(ctx, http.MethodPost, clientAPI+"/createRoom", as.Token, req, &resp); err != nil {
		return "", fmt.Errorf("create room %q as %s: %w", opts.Name, as.ID, err)
	}
	return resp.RoomID, nil
}

// Invite invites target into room as the given user.
func (s *Synapse) Invite(ctx context.Context, as User, room id.RoomID, target id.UserID) error {
	return s.membershipChange(ctx, as, room, "invite", target)
}

// Join joins the room as the given user.
func (s *Synapse) Join(ctx context.Context, as User, room id.RoomID) error {
	return s.membershipChange(ctx, as, room, "join", "")
}

// Leave leaves the room as the given user.
func (s *Synapse) Leave(ctx context.Context, as User, room id.RoomID) error {
	return s.membershipChange(ctx, as, room, "leave", "")
}

// Kick removes target from the room as the given user.
func (s *Synapse) Kick(ctx context.Context, as User, room id.RoomID, target id.UserID) error {
	return s.membershipChange(ctx, as, room, "kick", target)
}

// Ban bans target from the room as the given user.
func (s *Synapse) Ban(ctx context.Context, as User, room id.RoomID, target id.UserID) error {
	return s.membershipChange(ctx, as, room, "ban", target)
}

// Unban lifts target's ban as the given user.
func (s *Synapse) Unban(ctx context.Context, as User, room id.RoomID, target id.UserID) error {
	return s.membershipChange(ctx, as, room, "unban", target)
}

func (s *Synapse) membershipChange(ctx context.Context, as User, room id.RoomID, action string, target id.UserID) error {
	body := map[string]any{}
	if target != "" {
		body["user_id"] = target
	}
	err := s.call(ctx, http.MethodPost, apiPath(clientAPI+"/rooms", string(room), action), as.Token, body, nil)
	switch {
	case err == nil:
		return nil
	case target == "":
		return fmt.Errorf("%s %s as %s: %w", action, room, as.ID, err)
	default:
		return fmt.Errorf("%s %s in %s as %s: %w", action, target, room, as.ID, err)
	}
}

// SetPowerLevel sets one user's power level, keeping the rest of the power levels as they are.
func (s *Synapse) SetPowerLevel(ctx context.Context, as User, room id.RoomID, user id.UserID, level int) error {
	path := apiPath(clientAPI+"/rooms", string(room), "state", "m.room.power_levels", "")
	var content map[string]any
	if err := s.call(ctx, http.MethodGet, path, as.Token, nil, &content); err != nil {
		return fmt.Errorf("read power levels of %s as %s: %w", room, as.ID, err)
	}
	users, _ := content["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
	}
	users[string(user)] = level
	content["users"] = users
	if err := s.call(ctx, http.MethodPut, path, as.Token, content, nil); err != nil {
		return fmt.Errorf("set power level of %s in %s to %d as %s: %w", user, room, level, as.ID, err)
	}
	return nil
}

// Membership is one user's membership state in a room as the server holds it.
type Membership struct {
	Membership string    // "join", "invite", "leave", "ban" or "knock"
	Sender     id.UserID // who made the change (differs from the user for invites, kicks, bans)
	Reason     string
}

// Memberships reads every membership event of the room through the admin API: the server's view,
// independent of which rooms any client (the bot included) is in.
func (s *Synapse) Memberships(ctx context.Context, room id.RoomID) (map[id.UserID]Membership, error) {
	var resp struct {
		State []struct {
			Type     string    `json:"type"`
			StateKey string    `json:"state_key"`
			Sender   id.UserID `json:"sender"`
			Content  struct {
				Membership string `json:"membership"`
				Reason     string `json:"reason"`
			} `json:"content"`
		} `json:"state"`
	}
	if err := s.call(ctx, http.MethodGet, apiPath("/_synapse/admin/v1/rooms", string(room), "state"), s.AdminToken, nil, &resp); err != nil {
		return nil, fmt.Errorf("read memberships of %s: %w", room, err)
	}
	out := map[id.UserID]Membership{}
	for _, ev := range resp.State {
		if ev.Type != "m.room.member" {
			continue
		}
		out[id.UserID(ev.StateKey)] = Membership{
			Membership: ev.Content.Membership,
			Sender:     ev.Sender,
			Reason:     ev.Content.Reason,
		}
	}
	return out, nil
}

// Event is a room event as the client API returns it.
type Event struct {
	ID             id.EventID      `json:"event_id"`
	Type           string          `json:"type"`
	Sender         id.UserID       `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	OriginServerTS int64           `json:"origin_server_ts"`
	Content        json.RawMessage `json:"content"`
}

// Body returns content.body, the text of a message; empty for other events.
func (e Event) Body() string {
	var c struct {
		Body string `json:"body"`
	}
	_ = json.Unmarshal(e.Content, &c)
	return c.Body
}

// Messages returns up to limit of the room's latest events, as the given user sees them, oldest
// first.
func (s *Synapse) Messages(ctx context.Context, as User, room id.RoomID, limit int) ([]Event, error) {
	path := apiPath(clientAPI+"/rooms", string(room), "messages") + "?dir=b&limit=" + strconv.Itoa(limit)
	var resp struct {
		Chunk []Event `json:"chunk"`
	}
	if err := s.call(ctx, http.MethodGet, path, as.Token, nil, &resp); err != nil {
		return nil, fmt.Errorf("read messages of %s as %s: %w", room, as.ID, err)
	}
	slices.Reverse(resp.Chunk)
	return resp.Chunk, nil
}

// SendText sends a plain-text message as the given user, such as a command to the bot.
func (s *Synapse) SendText(ctx context.Context, as User, room id.RoomID, body string) (id.EventID, error) {
	// The clock part keeps transaction IDs unique across restarts against a reused Dir.
	txn := fmt.Sprintf("harness-%d-%d", time.Now().UnixNano(), s.txn.Add(1))
	path := apiPath(clientAPI+"/rooms", string(room), "send", "m.room.message", txn)
	var resp struct {
		EventID id.EventID `json:"event_id"`
	}
	if err := s.call(ctx, http.MethodPut, path, as.Token, map[string]any{"msgtype": "m.text", "body": body}, &resp); err != nil {
		return "", fmt.Errorf("send %q to %s as %s: %w", body, room, as.ID, err)
	}
	return resp.EventID, nil
}
