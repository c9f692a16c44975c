package appservice

import (
	"context"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// The calls below are the doctor's. Unlike Check, none of them writes: the bot account is not
// registered, nothing is joined.

// Reachable asks the homeserver for its client API versions, which needs no token.
func (m *Matrix) Reachable(ctx context.Context) error {
	// Synapse checks a token sent with /versions and answers 401 for one it does not know: the
	// homeserver answered, so it is reachable, and the identity check says what is wrong with
	// the token, in the words the bot's start-up uses.
	if _, err := m.bare.Versions(ctx); err != nil && httpStatus(err) != http.StatusUnauthorized {
		return fmt.Errorf("GET %s/_matrix/client/versions: %w", m.hsURL.Redacted(), err)
	}
	return nil
}

// Identity checks that the token is accepted and acts as the configured bot (in appservice
// mode: that the as_token is known and the bot is the registration's sender), and returns the
// bot's ID.
func (m *Matrix) Identity(ctx context.Context) (id.UserID, error) {
	if err := m.checkWhoami(ctx); err != nil {
		return "", err
	}
	return m.bot, nil
}

// IsAppservice tells whether the bot runs as an application service.
func (m *Matrix) IsAppservice() bool { return m.appservice }

// PingAppservice asks the homeserver to call the appservice back with its hs_token, proving
// that it loads the registration with this as_token and reaches the registration's url. Unlike
// Check, it returns a registration without url (ErrPingNoURL) and a homeserver too old to ping
// (ErrPingUnsupported) as errors, so that the doctor does not report them as reached.
func (m *Matrix) PingAppservice(ctx context.Context) error { return m.ping(ctx) }

// CheckForceJoin checks that the force-join route can work and names it.
func (m *Matrix) CheckForceJoin(ctx context.Context) (string, error) {
	if m.route == ForceJoinAdminAPI {
		if err := m.checkServerAdmin(ctx); err != nil {
			return "", err
		}
		return fmt.Sprintf("through Synapse's admin API: %s is a server admin", m.bot), nil
	}
	return "through the appservice: the bot invites, the user's puppet joins", nil
}

// RoomPower resolves a room ID or alias and reads the room's power levels. A room the bot is
// not joined to is an error wrapping ErrBotNotInRoom.
func (m *Matrix) RoomPower(ctx context.Context, roomOrAlias string) (id.RoomID, plan.PowerLevels, error) {
	room, err := m.ResolveRoom(ctx, roomOrAlias)
	if err != nil {
		return "", plan.PowerLevels{}, err
	}
	state, err := m.RoomState(ctx, room)
	if err != nil {
		return room, plan.PowerLevels{}, err
	}
	return room, state.PowerLevels, nil
}

// PingOnly is the appservice listener the doctor runs when the bot is not running: it answers
// the homeserver's ping, checking the hs_token as the bot would, and answers everything else
// 503, so that the homeserver keeps its transactions for the bot instead of handing them to a
// process that would drop them.
func PingOnly(hsToken string) (http.Handler, error) {
	s, err := NewServer(ServerOptions{HSToken: hsToken})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_matrix/app/v1/ping", s.authed(s.postPing))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusServiceUnavailable, "M_UNKNOWN", "authentik-matrix-sync doctor is running, not the bot: try again later")
	})
	return mux, nil
}
