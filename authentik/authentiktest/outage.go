package authentiktest

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"time"
)

// Forever, as a Fault's Times, keeps the fault until ClearFaults: an outage rather than a blip.
const Forever = math.MaxInt32

// The outages below are the ones a sync meets in production, written as Faults so that they
// queue, skip and clear like any other. Each hits every API request (or the one named) until
// ClearFaults.

// Unreachable drops every connection without an answer, as a stopped server or a broken
// network does.
func Unreachable() Fault { return Fault{Times: Forever, Drop: true} }

// Failing answers every request with status (a 5xx, usually) and Authentik's generic body.
func Failing(status int) Fault {
	return Fault{Times: Forever, Status: status, Body: `{"detail":"Internal Server Error"}`}
}

// TokenRevoked answers every request as Authentik does once the API token was deleted or
// expired: 403 with its own wording.
func TokenRevoked() Fault {
	return Fault{Times: Forever, Status: http.StatusForbidden, Body: fmt.Sprintf(`{"detail":%q}`, detailBadToken)}
}

// Hanging holds every request for d before answering it normally; a d longer than the
// client's timeout is a timeout.
func Hanging(d time.Duration) Fault { return Fault{Times: Forever, Delay: d} }

// TruncatedBodies cuts every answer in half, with the full length announced.
func TruncatedBodies() Fault { return Fault{Times: Forever, Truncate: true} }

// MalformedJSON answers every request with 200 and a body that is not JSON.
func MalformedJSON() Fault {
	return Fault{Times: Forever, Status: http.StatusOK, Body: `{"pagination": {"next": 0, "count": 1}, "results": [{"pk": 1,`}
}

// GroupGone answers every read of the group with primary key pk (core/groups/{pk}/) with
// Authentik's 404, as for a group deleted between the bot's listing of groups and its read of
// that group's members. (A client that reads members from the listing of groups instead meets a
// deleted group as one missing from that listing, which no fault can stage: delete the group.)
func GroupGone(pk string) Fault {
	return Fault{PathPrefix: "/api/v3/core/groups/" + pk + "/", Times: Forever,
		Status: http.StatusNotFound, Body: fmt.Sprintf(`{"detail":%q}`, detailNoGroup)}
}

// MemberReadFails answers every read of the members of the group with primary key pk with
// status and body: its read with members (core/groups/{pk}/), and its member listing by user
// (core/users/?groups_by_pk=) too, so that the fault hits whichever way a client reads one
// group's members. Reads of every group at once (the listing of groups with their members)
// are not hit.
func MemberReadFails(pk string, status int, body string) []Fault {
	return []Fault{
		{PathPrefix: "/api/v3/core/groups/" + pk + "/", Times: Forever, Status: status, Body: body},
		{PathPrefix: "/api/v3/core/users/", QueryContains: "groups_by_pk=" + pk, Times: Forever, Status: status, Body: body},
	}
}

// DropConnection closes the client's connection without a byte of answer, as a crashed or
// unreachable peer would; the homeserver fault proxy uses it too.
func DropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, as a crashed peer gives, rather than a clean FIN
	}
	_ = conn.Close()
}
