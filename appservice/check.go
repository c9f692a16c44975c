package appservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/synapseadmin"
)

// Check verifies, once before the first cycle, that the bot can work at all: the token is valid
// and belongs to the bot, in appservice mode the bot account exists and the homeserver reaches
// the appservice, and, when some mapping forces joins (needForce), the chosen route can work.
// Each error says what is wrong and how to fix it. In appservice mode the transactions server
// must already be listening, or the ping fails.
func (m *Matrix) Check(ctx context.Context, needForce bool) error {
	if m.appservice {
		if err := m.registerBot(ctx); err != nil {
			return err
		}
	}
	if err := m.checkWhoami(ctx); err != nil {
		return err
	}
	if m.appservice {
		switch err := m.ping(ctx); {
		case errors.Is(err, ErrPingNoURL):
			m.log.Warn().Str("registration", m.regID).
				Msg("The registration has no url: the homeserver pushes no events, so admin-room commands are not received")
		case errors.Is(err, ErrPingUnsupported):
			m.log.Warn().Msg("The homeserver does not support appservice pings (too old); skipping the connectivity check")
		case err != nil:
			return err
		}
	}
	if needForce && m.route == ForceJoinAdminAPI {
		if err := m.checkServerAdmin(ctx); err != nil {
			return err
		}
	}
	return nil
}

// registerBot creates the bot's own account, the one account an appservice is expected to
// register. An existing account is fine.
func (m *Matrix) registerBot(ctx context.Context) error {
	localpart, _, _ := m.bot.Parse()
	err := m.withRateLimit(ctx, "register bot", func(ctx context.Context) error {
		_, _, err := m.bare.Register(ctx, &mautrix.ReqRegister[any]{
			Username:     localpart,
			Type:         mautrix.AuthTypeAppservice,
			InhibitLogin: true,
		})
		return err
	})
	switch {
	case err == nil:
		m.log.Info().Stringer("bot", m.bot).Msg("Registered the bot account")
		return nil
	case errors.Is(err, mautrix.MUserInUse):
		return nil
	case errors.Is(err, mautrix.MUnknownToken), errors.Is(err, mautrix.MMissingToken), httpStatus(err) == http.StatusUnauthorized:
		return fmt.Errorf("register bot %s: the homeserver does not know the as_token: add the registration file to app_service_config_files and restart the homeserver: %w", m.bot, err)
	case errors.Is(err, mautrix.MExclusive), errors.Is(err, mautrix.MInvalidUsername):
		return fmt.Errorf("register bot %s: the registration's sender_localpart does not fit the homeserver (it must match the bot's localpart and lie in no other appservice's exclusive namespace): %w", m.bot, err)
	default:
		return fmt.Errorf("register bot %s: %w", m.bot, err)
	}
}

func (m *Matrix) checkWhoami(ctx context.Context) error {
	var resp *mautrix.RespWhoami
	err := m.withRateLimit(ctx, "whoami", func(ctx context.Context) error {
		var err error
		resp, err = m.client.Whoami(ctx)
		return err
	})
	what := "access token"
	if m.appservice {
		what = "as_token"
	}
	switch {
	case err == nil:
	case httpStatus(err) == http.StatusUnauthorized:
		if m.appservice {
			return fmt.Errorf("check %s: the homeserver rejects it: add the registration file to app_service_config_files and restart the homeserver: %w", what, err)
		}
		return fmt.Errorf("check %s: the homeserver rejects it (expired or logged out): create a new token for %s: %w", what, m.bot, err)
	case isMasqueradeRefused(err), isNotRegistered(err):
		return fmt.Errorf("check %s: the appservice cannot act as %s: set sender_localpart to the bot's localpart: %w", what, m.bot, err)
	default:
		return fmt.Errorf("check %s against %s: is the homeserver reachable? %w", what, m.hsURL.Redacted(), err)
	}
	if resp.UserID != m.bot {
		return fmt.Errorf("check %s: it belongs to %s, but the bot is configured as %s: fix the bot's user ID or the token: %w", what, resp.UserID, m.bot, errMisconfigured)
	}
	return nil
}

// The answers of a ping that prove nothing either way. Check only warns about them, since the
// bot can still sync; the doctor reports them.
var (
	// ErrPingNoURL: the registration has no url, so the homeserver pushes no events to the bot.
	ErrPingNoURL = errors.New("the registration has no url")
	// ErrPingUnsupported: the homeserver is too old to ping an appservice.
	ErrPingUnsupported = errors.New("the homeserver does not support appservice pings")
)

// ping asks the homeserver to call the appservice back, proving both directions work. It also
// resets the homeserver's backoff towards an appservice that was down. A registration without
// url and a homeserver too old to ping give ErrPingNoURL and ErrPingUnsupported.
func (m *Matrix) ping(ctx context.Context) error {
	txn := "startup-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	_, err := m.bare.AppservicePing(ctx, m.regID, txn)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mautrix.MURLNotSet):
		return fmt.Errorf("ping appservice %q: %w: %w", m.regID, ErrPingNoURL, err)
	case errors.Is(err, mautrix.MUnrecognized):
		return fmt.Errorf("ping appservice %q: %w (too old): %w", m.regID, ErrPingUnsupported, err)
	case errors.Is(err, mautrix.MForbidden):
		return fmt.Errorf("ping appservice %q: the registration id does not belong to this as_token: set the id from the registration file: %w", m.regID, err)
	case errors.Is(err, mautrix.MConnectionFailed), errors.Is(err, mautrix.MConnectionTimeout), errors.Is(err, mautrix.MBadStatus):
		return fmt.Errorf("ping appservice %q: the homeserver cannot reach the appservice: check the registration's url and that the listener is running and reachable from the homeserver: %w", m.regID, err)
	default:
		return fmt.Errorf("ping appservice %q: %w", m.regID, err)
	}
}

// checkServerAdmin makes sure the admin join API will accept the bot before any join is tried.
func (m *Matrix) checkServerAdmin(ctx context.Context) error {
	err := m.adminRequest(ctx, "admin user info", func(ctx context.Context, c *mautrix.Client) error {
		admin := synapseadmin.Client{Client: c}
		_, err := admin.GetUserInfo(ctx, m.bot)
		return err
	})
	switch {
	case err == nil:
		return nil
	case httpStatus(err) == http.StatusForbidden:
		return fmt.Errorf("force joins use the Synapse admin API, but %s is not a server admin: make it one (register_new_matrix_user --admin, or set admin=true with the admin API) or use appservice mode: %w", m.bot, err)
	case httpStatus(err) == http.StatusNotFound, errors.Is(err, mautrix.MUnrecognized):
		return fmt.Errorf("force joins use the Synapse admin API, but the homeserver has none (or a reverse proxy hides /_synapse/admin): use appservice mode: %w", err)
	default:
		return fmt.Errorf("check that %s is a server admin: %w", m.bot, err)
	}
}
