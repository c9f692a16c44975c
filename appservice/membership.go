package appservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/synapseadmin"
)

// Invite invites user to room as the bot.
func (m *Matrix) Invite(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	err := m.withRateLimit(ctx, "invite", func(ctx context.Context) error {
		_, err := m.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: user, Reason: reason})
		return err
	})
	if isAlreadyMember(err) {
		return m.alreadyDone(ctx, room, user, err, "Invite not needed: the user is already in the room")
	}
	if err != nil {
		return fmt.Errorf("invite %s to %s: %w", user, room, explainMembershipError(err))
	}
	return nil
}

// Unban lifts a ban so the user can be invited or joined again.
func (m *Matrix) Unban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	err := m.withRateLimit(ctx, "unban", func(ctx context.Context) error {
		_, err := m.client.UnbanUser(ctx, room, &mautrix.ReqUnbanUser{UserID: user, Reason: reason})
		return err
	})
	if isNotBanned(err) {
		return m.alreadyDone(ctx, room, user, err, "Unban not needed: the user is not banned")
	}
	if err != nil {
		return fmt.Errorf("unban %s in %s: %w", user, room, explainMembershipError(err))
	}
	return nil
}

// Kick removes user from room; they may come back if invited or if the room is public.
func (m *Matrix) Kick(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	err := m.withRateLimit(ctx, "kick", func(ctx context.Context) error {
		_, err := m.client.KickUser(ctx, room, &mautrix.ReqKickUser{UserID: user, Reason: reason})
		return err
	})
	if isTargetNotInRoom(err, user) {
		return m.alreadyDone(ctx, room, user, err, "Kick not needed: the user is no longer in the room")
	}
	if err != nil {
		return fmt.Errorf("kick %s from %s: %w", user, room, explainMembershipError(err))
	}
	return nil
}

// Ban removes user from room and keeps them out until unbanned.
func (m *Matrix) Ban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	err := m.withRateLimit(ctx, "ban", func(ctx context.Context) error {
		_, err := m.client.BanUser(ctx, room, &mautrix.ReqBanUser{UserID: user, Reason: reason})
		return err
	})
	if isTargetNotInRoom(err, user) {
		// Synapse bans someone who left; a homeserver that refuses still leaves them out.
		return m.alreadyDone(ctx, room, user, err, "Ban refused because the user is no longer in the room; counted as done")
	}
	if err != nil {
		return fmt.Errorf("ban %s from %s: %w", user, room, explainMembershipError(err))
	}
	return nil
}

// ForceJoin joins user to room without their consent, by the route chosen at start. A user
// without an account yields an error wrapping ErrNoAccount.
func (m *Matrix) ForceJoin(ctx context.Context, room id.RoomID, user id.UserID, alreadyInvited bool) error {
	if m.route == ForceJoinAdminAPI {
		return m.adminJoin(ctx, room, user)
	}
	return m.puppetJoin(ctx, room, user, alreadyInvited)
}

// adminJoin uses Synapse's admin join API, which invites from the bot first where the room
// needs it, so alreadyInvited does not matter here.
func (m *Matrix) adminJoin(ctx context.Context, room id.RoomID, user id.UserID) error {
	err := m.adminRequest(ctx, "admin join", func(ctx context.Context, c *mautrix.Client) error {
		admin := synapseadmin.Client{Client: c}
		return admin.JoinUserToRoom(ctx, room, synapseadmin.ReqJoinUserToRoom{UserID: user})
	})
	switch {
	case err == nil, isAlreadyMember(err):
		return nil
	case httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode:
		// 404 M_NOT_FOUND names either the user or the room; only the user can be checked cheaply.
		if exists, xerr := m.UserExists(ctx, user); xerr == nil && !exists {
			return fmt.Errorf("force-join %s to %s via the admin API: %w: %w", user, room, ErrNoAccount, err)
		}
		return fmt.Errorf("force-join %s to %s via the admin API: %w", user, room, err)
	default:
		return fmt.Errorf("force-join %s to %s via the admin API: %w", user, room, explainMembershipError(err))
	}
}

// puppetJoin has the bot invite (unless the user already holds an invite) and then accepts the
// invite as the user through the appservice.
func (m *Matrix) puppetJoin(ctx context.Context, room id.RoomID, user id.UserID, alreadyInvited bool) error {
	if !alreadyInvited {
		err := m.withRateLimit(ctx, "invite", func(ctx context.Context) error {
			_, err := m.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: user})
			return err
		})
		if err != nil && !isAlreadyMember(err) {
			return fmt.Errorf("force-join %s to %s: invite: %w", user, room, explainMembershipError(err))
		}
	}
	puppet := m.puppet(user)
	err := m.withRateLimit(ctx, "puppet join", func(ctx context.Context) error {
		_, err := puppet.JoinRoomByID(ctx, room)
		return err
	})
	if err == nil {
		return nil
	}
	if isNotRegistered(err) {
		return fmt.Errorf("force-join %s to %s: %w: %w", user, room, ErrNoAccount, err)
	}
	if isMasqueradeRefused(err) {
		return fmt.Errorf("force-join %s to %s: %w: the appservice registration's user namespace does not cover this user: widen its regex", user, room, err)
	}
	if httpStatus(err) == http.StatusForbidden {
		// Homeservers word "no such user" differently; ask directly before blaming the room.
		if exists, xerr := m.UserExists(ctx, user); xerr == nil && !exists {
			return fmt.Errorf("force-join %s to %s: %w: %w", user, room, ErrNoAccount, err)
		}
	}
	return fmt.Errorf("force-join %s to %s: join as the user: %w", user, room, err)
}

// UserExists reports whether user has an account on the homeserver. It never creates one.
func (m *Matrix) UserExists(ctx context.Context, user id.UserID) (bool, error) {
	if m.appservice {
		return m.userExistsAppservice(ctx, user)
	}
	return m.userExistsClient(ctx, user)
}

// userExistsAppservice asks whoami as the user: the homeserver refuses to let an appservice act
// as a user that does not exist.
func (m *Matrix) userExistsAppservice(ctx context.Context, user id.UserID) (bool, error) {
	puppet := m.puppet(user)
	err := m.withRateLimit(ctx, "whoami as user", func(ctx context.Context) error {
		_, err := puppet.Whoami(ctx)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case isMasqueradeRefused(err):
		return false, fmt.Errorf("check account %s: %w: the appservice registration's user namespace does not cover this user: widen its regex", user, err)
	case httpStatus(err) == http.StatusForbidden:
		return false, nil
	default:
		return false, fmt.Errorf("check account %s: %w", user, err)
	}
}

// userExistsClient uses the Synapse admin API when the bot is an admin and falls back to the
// public profile, which every registered user has.
func (m *Matrix) userExistsClient(ctx context.Context, user id.UserID) (bool, error) {
	err := m.adminRequest(ctx, "admin user info", func(ctx context.Context, c *mautrix.Client) error {
		admin := synapseadmin.Client{Client: c}
		_, err := admin.GetUserInfo(ctx, user)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case httpStatus(err) == http.StatusNotFound && errCode(err) == mautrix.MNotFound.ErrCode:
		return false, nil
	case httpStatus(err) != http.StatusForbidden && httpStatus(err) != http.StatusNotFound:
		return false, fmt.Errorf("check account %s via the admin API: %w", user, err)
	}
	// Not an admin (403), or no admin API at all (404 without M_NOT_FOUND, or M_UNRECOGNIZED).
	err = m.withRateLimit(ctx, "profile", func(ctx context.Context) error {
		_, err := m.client.GetProfile(ctx, user)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case httpStatus(err) == http.StatusNotFound:
		return false, nil
	case httpStatus(err) == http.StatusForbidden:
		return false, fmt.Errorf("check account %s: the homeserver hides profiles from the bot (limit_profile_requests_to_users_who_share_rooms or require_auth_for_profile_requests): make the bot a server admin or use appservice mode: %w", user, err)
	default:
		return false, fmt.Errorf("check account %s via its profile: %w", user, err)
	}
}

// alreadyDone reports a refusal that only says the room already shows the change as success,
// with a line in the log: the same request would be refused again every cycle, and an "Action
// failed" with a power-level hint would send the operator after a problem that is not there.
// This is what a change re-sent after a lost answer gets.
func (m *Matrix) alreadyDone(ctx context.Context, room id.RoomID, user id.UserID, err error, msg string) error {
	m.logFor(ctx).Info().Str("room", string(room)).Str("user", string(user)).
		Str("homeserver_said", errMessage(err)).Msg(msg)
	return nil
}

// explainMembershipError adds what the operator can do to the usual refusals.
func explainMembershipError(err error) error {
	switch {
	case errors.Is(err, mautrix.MBadState):
		return fmt.Errorf("%w (a banned user must be unbanned before an invite; only a banned user can be unbanned)", err)
	case IsForbidden(err):
		return fmt.Errorf("%w (the bot needs a power level above the user's and at least the room's level for this action)", err)
	}
	return err
}
