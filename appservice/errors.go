package appservice

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// ErrNoAccount marks an operation that failed because the target user has no account on the
// homeserver. The sync treats it as "not yet": the user is added once they log in for the first
// time.
var ErrNoAccount = errors.New("user has no Matrix account yet")

// IsNoAccount reports whether err means the target user has no Matrix account.
func IsNoAccount(err error) bool { return errors.Is(err, ErrNoAccount) }

// IsForbidden reports whether the homeserver refused the request (HTTP 403), typically because the
// bot lacks power in the room or the membership change is not allowed. A missing account is
// reported by IsNoAccount instead, even though it arrives as a 403 in appservice mode.
func IsForbidden(err error) bool {
	if err == nil || IsNoAccount(err) {
		return false
	}
	return errors.Is(err, mautrix.MForbidden) || httpStatus(err) == http.StatusForbidden
}

// IsRateLimited reports whether the homeserver rate-limited the request, and how long it asked to
// wait (retry_after_ms in the body, else the Retry-After header; zero when it gave no hint).
func IsRateLimited(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return 0, false
	}
	limited := httpErr.IsStatus(http.StatusTooManyRequests) ||
		(httpErr.RespError != nil && httpErr.RespError.ErrCode == mautrix.MLimitExceeded.ErrCode)
	if !limited {
		return 0, false
	}
	if httpErr.RespError != nil {
		if ms, ok := httpErr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms) * time.Millisecond, true
		}
	}
	if httpErr.Response != nil {
		if s, err := strconv.Atoi(strings.TrimSpace(httpErr.Response.Header.Get("Retry-After"))); err == nil && s > 0 {
			return time.Duration(s) * time.Second, true
		}
	}
	return 0, true
}

// IsPermanent reports whether a start-up check failed in a way that waiting will not fix: the
// homeserver answered and refused (a 4xx other than 429), or the configuration contradicts what it
// reports. Network failures and 5xx answers are worth retrying.
func IsPermanent(err error) bool {
	if errors.Is(err, errMisconfigured) {
		return true
	}
	status := httpStatus(err)
	return status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

// errMisconfigured marks a start-up finding that only a configuration change can fix.
var errMisconfigured = errors.New("misconfigured")

// httpStatus returns the HTTP status of a failed homeserver request, or 0 if err is not one.
func httpStatus(err error) int {
	var httpErr mautrix.HTTPError
	if !errors.As(err, &httpErr) {
		return 0
	}
	if httpErr.Response != nil {
		return httpErr.Response.StatusCode
	}
	if httpErr.RespError != nil {
		return httpErr.RespError.StatusCode
	}
	return 0
}

// errCode returns the Matrix errcode of a failed homeserver request, or "" if there is none.
func errCode(err error) string {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		return httpErr.RespError.ErrCode
	}
	return ""
}

// errMessage returns the human-readable "error" field of a failed homeserver request.
func errMessage(err error) string {
	var httpErr mautrix.HTTPError
	if errors.As(err, &httpErr) && httpErr.RespError != nil {
		return httpErr.RespError.Err
	}
	return ""
}

// isNotRegistered recognises the homeserver's refusal to let the appservice act as a user that
// does not exist ("Application service has not registered this user"). A refusal because the
// user lies outside the registration's namespace ("cannot masquerade") is a configuration error
// and deliberately not matched.
func isNotRegistered(err error) bool {
	if httpStatus(err) != http.StatusForbidden {
		return false
	}
	msg := strings.ToLower(errMessage(err))
	return !strings.Contains(msg, "masquerade") && strings.Contains(msg, "not registered")
}

// isMasqueradeRefused recognises a user outside the appservice's user namespace.
func isMasqueradeRefused(err error) bool {
	return httpStatus(err) == http.StatusForbidden &&
		strings.Contains(strings.ToLower(errMessage(err)), "masquerade")
}

// isAlreadyMember recognises Synapse's refusal to invite or admin-join someone who is already
// joined ("… is already in the room.").
func isAlreadyMember(err error) bool {
	return httpStatus(err) == http.StatusForbidden &&
		strings.Contains(strings.ToLower(errMessage(err)), "already in the room")
}

// isTargetNotInRoom recognises the refusal to kick someone who is no longer in the room: Synapse
// answers 403 M_FORBIDDEN "The target user is not in the room" when the user left, was kicked or
// banned already, or never joined. It is what a kick re-sent after a lost answer gets. The
// refusal of a bot that is itself out of the room ("@bot:example.org not in room !r:…") names
// the bot, not the target, and is deliberately not matched.
func isTargetNotInRoom(err error, target id.UserID) bool {
	if httpStatus(err) != http.StatusForbidden {
		return false
	}
	msg := strings.ToLower(errMessage(err))
	if !strings.Contains(msg, "not in the room") && !strings.Contains(msg, "not in room") {
		return false
	}
	return strings.Contains(msg, "target user") || strings.Contains(msg, strings.ToLower(string(target)))
}

// isNotBanned recognises the refusal to unban someone who is not banned: Synapse answers 403
// M_BAD_STATE "Cannot unban user who was not banned (membership=leave)".
func isNotBanned(err error) bool {
	return httpStatus(err) == http.StatusForbidden &&
		strings.Contains(strings.ToLower(errMessage(err)), "not banned")
}
