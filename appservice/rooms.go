package appservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unique"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// ErrBotNotInRoom means the bot cannot see a room's current state because it is not joined. It
// is a setup problem (an invite fixes it, not a wait), so a room the bot is not in does not make
// the cycles back off as an unreachable homeserver does.
var ErrBotNotInRoom error = setupError("bot is not joined to the room")

// setupError is an error that a change of setup fixes, not a wait (see sync.IsSetupProblem).
type setupError string

func (e setupError) Error() string { return string(e) }
func (setupError) SetupProblem()   {}

// ResolveRoom turns a room ID or alias from the configuration into a room ID, looking aliases up
// in the room directory.
func (m *Matrix) ResolveRoom(ctx context.Context, roomOrAlias string) (id.RoomID, error) {
	s := strings.TrimSpace(roomOrAlias)
	switch {
	case strings.HasPrefix(s, "!") && len(s) > 1:
		return id.RoomID(s), nil
	case strings.HasPrefix(s, "#") && strings.Contains(s, ":"):
		var resp *mautrix.RespAliasResolve
		err := m.withRateLimit(ctx, "resolve alias", func(ctx context.Context) error {
			var err error
			resp, err = m.client.ResolveAlias(ctx, id.RoomAlias(s))
			return err
		})
		if err != nil {
			if httpStatus(err) == http.StatusNotFound {
				return "", fmt.Errorf("resolve room alias %s: no such alias on the homeserver: check the spelling or use the room ID (!…): %w", s, err)
			}
			return "", fmt.Errorf("resolve room alias %s: %w", s, err)
		}
		return resp.RoomID, nil
	default:
		return "", fmt.Errorf("room %q is neither a room ID (!…) nor an alias (#name:server)", roomOrAlias)
	}
}

// RoomState reads the room's members, power levels and creators in one request.
func (m *Matrix) RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error) {
	var events []stateEvent
	err := m.withRateLimit(ctx, "room state", func(ctx context.Context) error {
		events = nil
		_, err := m.client.MakeRequest(ctx, http.MethodGet, m.client.BuildClientURL("v3", "rooms", room, "state"), nil, &events)
		return err
	})
	if err != nil {
		if httpStatus(err) == http.StatusForbidden {
			return plan.RoomState{}, fmt.Errorf("read state of %s: %w: invite %s and give it a power level of at least the room's kick level: %w", room, ErrBotNotInRoom, m.bot, err)
		}
		return plan.RoomState{}, fmt.Errorf("read state of %s: %w", room, err)
	}
	state := parseRoomState(events)
	// Synapse answers a departed user with the state as it was when they left, and anyone with
	// the current state of a world-readable room: only a joined bot sees the truth.
	if bot := state.Members.Get(m.bot).Membership; bot != plan.MembershipJoin {
		return plan.RoomState{}, fmt.Errorf("read state of %s: %w (its membership is %q): invite %s and give it a power level of at least the room's kick level",
			room, ErrBotNotInRoom, bot, m.bot)
	}
	return state, nil
}

// stateEvent is the part of a state event that RoomState reads.
type stateEvent struct {
	Type     string          `json:"type"`
	StateKey *string         `json:"state_key"`
	Sender   id.UserID       `json:"sender"`
	TS       int64           `json:"origin_server_ts"`
	Content  json.RawMessage `json:"content"`
}

type memberContent struct {
	Membership string `json:"membership"`
}

type createContent struct {
	RoomVersion        string      `json:"room_version"`
	AdditionalCreators []id.UserID `json:"additional_creators"`
}

type powerLevelsContent struct {
	Users        map[id.UserID]level `json:"users"`
	UsersDefault level               `json:"users_default"`
	Invite       level               `json:"invite"`
	Kick         level               `json:"kick"`
	Ban          level               `json:"ban"`
	Events       map[string]level    `json:"events"`
	StateDefault level               `json:"state_default"`
}

// level is a power level as found in rooms: a number, or in room versions before 10 also a
// numeric string. Anything else counts as absent, so the spec's default applies.
type level struct {
	n   int
	set bool
}

func (l *level) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case float64:
		*l = level{n: int(t), set: true}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
			*l = level{n: n, set: true}
		}
	}
	return nil
}

func (l level) or(def int) int {
	if l.set {
		return l.n
	}
	return def
}

// Defaults from the spec for fields missing from m.room.power_levels.
const (
	defaultInviteLevel  = 0
	defaultKickLevel    = 50
	defaultBanLevel     = 50
	creatorLevelNoEvent = 100
	// defaultStateLevel applies to state events the power-levels event does not list; without
	// the event at all, state events need level 0.
	defaultStateLevel = 50
)

// parseRoomState builds the sync's view of a room from its full state. Events it cannot read are
// skipped, so one odd event does not hide the whole room.
func parseRoomState(events []stateEvent) plan.RoomState {
	st := plan.RoomState{
		PowerLevels: plan.PowerLevels{
			Users:  map[id.UserID]int{},
			Invite: defaultInviteLevel,
			Kick:   defaultKickLevel,
			Ban:    defaultBanLevel,
		},
	}
	// The builder, not a map: a room of many thousand members would otherwise hold a map and
	// then its compact copy at once.
	var members plan.RoomMembersBuilder
	var create *stateEvent
	var createC createContent
	havePL := false
	for i := range events {
		ev := &events[i]
		if ev.StateKey == nil {
			continue
		}
		switch ev.Type {
		case "m.room.member":
			var c memberContent
			if json.Unmarshal(ev.Content, &c) != nil || *ev.StateKey == "" {
				continue
			}
			// Canonical strings: the same user in many rooms, in the store and in the groups
			// then costs one copy, which matters with hundreds of thousands of memberships.
			user, sender := id.UserID(unique.Make(*ev.StateKey).Value()), ev.Sender
			if sender == user {
				sender = user
			} else {
				// Mostly the bot or a few moderators: one copy each instead of one per event.
				sender = id.UserID(unique.Make(string(sender)).Value())
			}
			// RoomMembers keeps a known membership as a code, so c.Membership is not retained.
			members.Add(user, plan.RoomMember{
				Membership: c.Membership,
				Sender:     sender,
				Since:      time.UnixMilli(ev.TS),
			})
		case "m.room.power_levels":
			if *ev.StateKey != "" {
				continue
			}
			var c powerLevelsContent
			if json.Unmarshal(ev.Content, &c) != nil {
				continue
			}
			havePL = true
			for u, l := range c.Users {
				if l.set {
					st.PowerLevels.Users[u] = l.n
				}
			}
			st.PowerLevels.UsersDefault = c.UsersDefault.or(0)
			st.PowerLevels.Invite = c.Invite.or(defaultInviteLevel)
			st.PowerLevels.Kick = c.Kick.or(defaultKickLevel)
			st.PowerLevels.Ban = c.Ban.or(defaultBanLevel)
			st.PowerLevels.ChangePowerLevels = c.Events["m.room.power_levels"].or(c.StateDefault.or(defaultStateLevel))
		case "m.room.create":
			if *ev.StateKey != "" || json.Unmarshal(ev.Content, &createC) != nil {
				continue
			}
			create = ev
		}
	}
	st.Members = members.Build()
	if create == nil {
		return st
	}
	if creatorsArePrivileged(createC.RoomVersion) {
		st.PowerLevels.Creators = map[id.UserID]bool{create.Sender: true}
		for _, u := range createC.AdditionalCreators {
			st.PowerLevels.Creators[u] = true
		}
	} else if !havePL {
		// Without a power-levels event the creator alone holds level 100.
		st.PowerLevels.Users[create.Sender] = creatorLevelNoEvent
	}
	return st
}

// creatorsArePrivileged reports whether a room version gives its creators unlimited power
// (MSC4289), by mautrix's rule: every version but 1 to 11 (and the unversioned rooms before
// them), so 12 and later, "org.matrix.hydra.11" (the unstable name of the same rules), and any
// other unstable version. Guessing "privileged" for an unknown version is the safe side: the sync
// then leaves such a creator alone rather than failing to kick or demote them.
func creatorsArePrivileged(version string) bool {
	return id.RoomVersion(version).PrivilegedRoomCreators()
}

// RoomAlias returns a room's canonical alias, or "" when it has none (also when the bot may not
// read the room). One small state read; callers cache the answer. A room's display name is not
// used: names are free text, often the same in several rooms, while an alias names one room.
func (m *Matrix) RoomAlias(ctx context.Context, room id.RoomID) string {
	var alias struct {
		Alias string `json:"alias"`
	}
	err := m.withRateLimit(ctx, "room alias", func(ctx context.Context) error {
		return m.client.StateEvent(ctx, room, event.StateCanonicalAlias, "", &alias)
	})
	if err != nil {
		return ""
	}
	return alias.Alias
}

// BotInvited reports whether the bot holds a pending invite to room, from the room summary
// (GET /_matrix/client/v1/room_summary/{room}, Matrix 1.15), which names the asker's membership
// and is readable with a pending invite. (/sync would say it too, but Synapse refuses it to
// appservice users.) A homeserver without the endpoint, or a room the bot may not see, gives
// false. The running bot joins an invited room at its next cycle (and at start); the doctor
// says so instead of asking for an invite.
func (m *Matrix) BotInvited(ctx context.Context, room id.RoomID) (bool, error) {
	var resp struct {
		Membership string `json:"membership"`
	}
	err := m.withRateLimit(ctx, "room summary", func(ctx context.Context) error {
		_, err := m.client.MakeRequest(ctx, http.MethodGet, m.client.BuildURL(mautrix.ClientURLPath{"v1", "room_summary", room}), nil, &resp)
		return err
	})
	switch {
	case httpStatus(err) == http.StatusNotFound || httpStatus(err) == http.StatusForbidden:
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read the summary of %s: %w", room, err)
	}
	return resp.Membership == "invite", nil
}

// JoinRoom joins the bot to a mapped room, accepting its invite. It never acts for anyone else.
func (m *Matrix) JoinRoom(ctx context.Context, room id.RoomID) error {
	err := m.withRateLimit(ctx, "bot join", func(ctx context.Context) error {
		_, err := m.client.JoinRoomByID(ctx, room)
		return err
	})
	if err != nil {
		return fmt.Errorf("bot %s joins %s: %w: invite the bot to the room first", m.bot, room, err)
	}
	return nil
}
