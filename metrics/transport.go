package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// routes are the endpoint label values: every request path is matched against them segment by
// segment, a {name} segment matching any one segment. A path that matches none is counted as
// "other", so that no user or room ID ever becomes a label value.
var routes = []string{
	// Authentik, after the /api/v3 prefix (which may sit below a path of the base URL).
	"/api/v3/core/groups/",
	"/api/v3/core/groups/{uuid}/",
	"/api/v3/core/users/",
	"/api/v3/core/users/{id}/",
	"/api/v3/core/users/me/",

	// Matrix client-server API.
	"/_matrix/client/versions",
	"/_matrix/client/v3/account/whoami",
	"/_matrix/client/v3/register",
	"/_matrix/client/v3/sync",
	"/_matrix/client/v3/joined_rooms",
	"/_matrix/client/v3/join/{roomIdOrAlias}",
	"/_matrix/client/v3/profile/{userId}",
	"/_matrix/client/v3/profile/{userId}/{keyName}",
	"/_matrix/client/v3/directory/room/{roomAlias}",
	"/_matrix/client/v3/rooms/{roomId}/state",
	"/_matrix/client/v3/rooms/{roomId}/state/{eventType}",
	"/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
	"/_matrix/client/v3/rooms/{roomId}/members",
	"/_matrix/client/v3/rooms/{roomId}/joined_members",
	"/_matrix/client/v3/rooms/{roomId}/messages",
	"/_matrix/client/v3/rooms/{roomId}/invite",
	"/_matrix/client/v3/rooms/{roomId}/join",
	"/_matrix/client/v3/rooms/{roomId}/leave",
	"/_matrix/client/v3/rooms/{roomId}/kick",
	"/_matrix/client/v3/rooms/{roomId}/ban",
	"/_matrix/client/v3/rooms/{roomId}/unban",
	"/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
	"/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}",
	"/_matrix/client/v1/appservice/{appserviceId}/ping",
	"/_matrix/client/v3/user/{userId}/filter",

	// Synapse admin API.
	"/_synapse/admin/v1/join/{roomIdOrAlias}",
	"/_synapse/admin/v2/users/{userId}",
	"/_synapse/admin/v2/users/{userId}/devices",
	"/_synapse/admin/v2/users/{userId}/delete_devices",
	"/_synapse/admin/v1/server_version",
}

// routeOther is the endpoint of a path no route matches.
const routeOther = "other"

// Route returns the route template a request path belongs to, or "other". The path may carry a
// prefix before /api/v3/, /_matrix/ or /_synapse/ (a service mounted below a path).
func Route(path string) string {
	for _, root := range []string{"/api/v3/", "/_matrix/", "/_synapse/"} {
		if i := strings.Index(path, root); i >= 0 {
			path = path[i:]
			break
		}
	}
	segs := strings.Split(path, "/")
	for _, r := range routes {
		if matches(strings.Split(r, "/"), segs) {
			return r
		}
	}
	return routeOther
}

func matches(pattern, segs []string) bool {
	if len(pattern) != len(segs) {
		return false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			if segs[i] == "" {
				return false
			}
			continue
		}
		if p != segs[i] {
			return false
		}
	}
	return true
}

// transport counts and times the requests to one upstream service.
type transport struct {
	m       *Metrics
	service string
	base    http.RoundTripper
}

// Transport wraps base (http.DefaultTransport when nil) so that every request to service moves
// upstream_requests_total and upstream_request_duration_seconds, records when the service last
// answered (for /ready), and is logged at debug level through the request context's logger, so
// that the line carries the cycle's ID.
func (m *Metrics) Transport(service string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{m: m, service: service, base: base}
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	took := time.Since(start)
	endpoint := Route(req.URL.EscapedPath())
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
		if servedUs(t.service, resp.StatusCode) {
			t.m.answered(t.service, time.Now())
		}
	}
	t.m.upstreamRequests.WithLabelValues(t.service, endpoint, code).Inc()
	t.m.upstreamDuration.WithLabelValues(t.service, endpoint).Observe(took.Seconds())
	// The URL is not logged: its query may carry a user ID, and some clients put tokens there.
	ev := zerolog.Ctx(req.Context()).Debug().Str("service", t.service).Str("method", req.Method).
		Str("endpoint", endpoint).Str("code", code).Float64("took_seconds", took.Seconds())
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("Upstream request")
	return resp, err
}

// servedUs tells whether a status shows the service working for the bot, for /ready: a 5xx does
// not, nor does a refused token (401 anywhere; 403 from Authentik, whose API answers 403 to a
// revoked or under-privileged token). A homeserver's 403 is an ordinary answer about one room.
func servedUs(service string, status int) bool {
	switch {
	case status >= 500, status == http.StatusUnauthorized:
		return false
	case status == http.StatusForbidden:
		return service != ServiceAuthentik
	}
	return true
}
