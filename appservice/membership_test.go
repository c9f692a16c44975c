package appservice

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	whoamiRoute  = "GET /_matrix/client/v3/account/whoami"
	adminUser    = "GET /_synapse/admin/v2/users/"
	profileRoute = "GET /_matrix/client/v3/profile/"
	inviteRoute  = "POST /_matrix/client/v3/rooms/" + string(room) + "/invite"
	joinRoute    = "POST /_matrix/client/v3/rooms/" + string(room) + "/join"
	adminJoin    = "POST /_synapse/admin/v1/join/" + string(room)
)

var notRegistered = matrixError("M_FORBIDDEN", "Application service has not registered this user (@alice:example.org)")

func TestUserExistsAppservice(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    any
		want    bool
		wantErr bool
	}{
		{name: "existing user", status: 200, body: map[string]any{"user_id": alice}, want: true},
		{name: "missing user", status: 403, body: notRegistered, want: false},
		{name: "other wording of a refusal", status: 403, body: matrixError("M_FORBIDDEN", "User not found"), want: false},
		{name: "outside the namespace is an error", status: 403, body: matrixError("M_FORBIDDEN", "Application service cannot masquerade as this user (@alice:example.org)."), wantErr: true},
		{name: "bad as_token is an error", status: 401, body: matrixError("M_UNKNOWN_TOKEN", "Unknown token"), wantErr: true},
		{name: "server error is unknown, not missing", status: 500, body: matrixError("M_UNKNOWN", "boom"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply(whoamiRoute, tt.status, tt.body)
			m := newTestMatrix(t, f, true, "")
			got, err := m.UserExists(context.Background(), alice)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("UserExists = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if calls := f.routesCalled(); !slices.Equal(calls, []string{whoamiRoute + "?user_id=" + string(alice)}) {
				t.Errorf("requests = %v; want exactly one whoami as the user (and never a registration)", calls)
			}
			if c := f.lastCall(); c.Auth != "Bearer "+testASToken {
				t.Errorf("Authorization = %q, want the as_token", c.Auth)
			}
			if err != nil && strings.Contains(err.Error(), testASToken) {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestUserExistsClient(t *testing.T) {
	tests := []struct {
		name          string
		adminStatus   int
		adminBody     any
		profileStatus int // 0: the profile must not be asked
		profileBody   any
		want          bool
		wantErr       bool
	}{
		{name: "admin finds the user", adminStatus: 200, adminBody: map[string]any{"name": alice}, want: true},
		{name: "admin says missing", adminStatus: 404, adminBody: matrixError("M_NOT_FOUND", "User not found"), want: false},
		{name: "admin API fails", adminStatus: 500, adminBody: matrixError("M_UNKNOWN", "boom"), wantErr: true},
		{name: "not admin, profile exists", adminStatus: 403, adminBody: matrixError("M_FORBIDDEN", "You are not a server admin"), profileStatus: 200, profileBody: map[string]any{"displayname": "Alice"}, want: true},
		{name: "not admin, profile missing", adminStatus: 403, adminBody: matrixError("M_FORBIDDEN", "You are not a server admin"), profileStatus: 404, profileBody: matrixError("M_NOT_FOUND", "Profile was not found"), want: false},
		{name: "not admin, profiles hidden", adminStatus: 403, adminBody: matrixError("M_FORBIDDEN", "You are not a server admin"), profileStatus: 403, profileBody: matrixError("M_FORBIDDEN", "no"), wantErr: true},
		{name: "no admin API at all", adminStatus: 404, adminBody: matrixError("M_UNRECOGNIZED", "Unrecognized request"), profileStatus: 200, profileBody: map[string]any{}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply(adminUser+string(alice), tt.adminStatus, tt.adminBody)
			want := []string{adminUser + string(alice)}
			if tt.profileStatus != 0 {
				f.reply(profileRoute+string(alice), tt.profileStatus, tt.profileBody)
				want = append(want, profileRoute+string(alice))
			}
			m := newTestMatrix(t, f, false, "")
			got, err := m.UserExists(context.Background(), alice)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("UserExists = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if calls := f.routesCalled(); !slices.Equal(calls, want) {
				t.Errorf("requests = %v, want %v", calls, want)
			}
		})
	}
}

func TestForceJoinAppservice(t *testing.T) {
	inviteAsBot := inviteRoute + "?user_id=" + string(testBot)
	joinAsAlice := joinRoute + "?user_id=" + string(alice)
	whoamiAsAlice := whoamiRoute + "?user_id=" + string(alice)
	tests := []struct {
		name           string
		alreadyInvited bool
		invite         func(w http.ResponseWriter)
		join           func(w http.ResponseWriter)
		whoami         func(w http.ResponseWriter)
		wantCalls      []string
		wantNoAccount  bool
		wantErr        bool
	}{
		{
			name:      "invite then join as the user",
			invite:    ok(map[string]any{}),
			join:      ok(map[string]any{"room_id": room}),
			wantCalls: []string{inviteAsBot, joinAsAlice},
		},
		{
			name:           "existing invite is used",
			alreadyInvited: true,
			join:           ok(map[string]any{"room_id": room}),
			wantCalls:      []string{joinAsAlice},
		},
		{
			name:      "already in the room is fine",
			invite:    fail(403, "M_FORBIDDEN", "@alice:example.org is already in the room."),
			join:      ok(map[string]any{"room_id": room}),
			wantCalls: []string{inviteAsBot, joinAsAlice},
		},
		{
			name:      "invite refused stops before the join",
			invite:    fail(403, "M_FORBIDDEN", "You don't have permission to invite users"),
			wantCalls: []string{inviteAsBot},
			wantErr:   true,
		},
		{
			name:          "user without account",
			invite:        ok(map[string]any{}),
			join:          fail(403, "M_FORBIDDEN", "Application service has not registered this user (@alice:example.org)"),
			wantCalls:     []string{inviteAsBot, joinAsAlice},
			wantNoAccount: true, wantErr: true,
		},
		{
			name:           "other wording: whoami decides that the account is missing",
			alreadyInvited: true,
			join:           fail(403, "M_FORBIDDEN", "No such user"),
			whoami:         fail(403, "M_FORBIDDEN", "No such user"),
			wantCalls:      []string{joinAsAlice, whoamiAsAlice},
			wantNoAccount:  true, wantErr: true,
		},
		{
			name:           "not invited is a room problem, not a missing account",
			alreadyInvited: true,
			join:           fail(403, "M_FORBIDDEN", "You are not invited to this room."),
			whoami:         ok(map[string]any{"user_id": alice}),
			wantCalls:      []string{joinAsAlice, whoamiAsAlice},
			wantErr:        true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			for route, h := range map[string]func(http.ResponseWriter){inviteRoute: tt.invite, joinRoute: tt.join, whoamiRoute: tt.whoami} {
				if h != nil {
					f.on(route, func(w http.ResponseWriter, _ *http.Request) { h(w) })
				}
			}
			m := newTestMatrix(t, f, true, "")
			err := m.ForceJoin(context.Background(), room, alice, tt.alreadyInvited)
			if (err != nil) != tt.wantErr || IsNoAccount(err) != tt.wantNoAccount {
				t.Fatalf("ForceJoin error = %v; want error %v, no-account %v", err, tt.wantErr, tt.wantNoAccount)
			}
			if calls := f.routesCalled(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("requests = %v, want %v", calls, tt.wantCalls)
			}
		})
	}
}

func TestForceJoinAdminAPI(t *testing.T) {
	tests := []struct {
		name          string
		join          func(w http.ResponseWriter)
		user          func(w http.ResponseWriter)
		wantCalls     []string
		wantNoAccount bool
		wantErr       bool
	}{
		{name: "joined", join: ok(map[string]any{"room_id": room}), wantCalls: []string{adminJoin}},
		{name: "already joined", join: fail(403, "M_FORBIDDEN", "@alice:example.org is already in the room."), wantCalls: []string{adminJoin}},
		{
			name: "user missing", join: fail(404, "M_NOT_FOUND", "User not found"), user: fail(404, "M_NOT_FOUND", "User not found"),
			wantCalls: []string{adminJoin, adminUser + string(alice)}, wantNoAccount: true, wantErr: true,
		},
		{
			name: "room missing", join: fail(404, "M_NOT_FOUND", "Room not found"), user: ok(map[string]any{"name": alice}),
			wantCalls: []string{adminJoin, adminUser + string(alice)}, wantErr: true,
		},
		{name: "not an admin", join: fail(403, "M_FORBIDDEN", "You are not a server admin"), wantCalls: []string{adminJoin}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.on(adminJoin, func(w http.ResponseWriter, _ *http.Request) { tt.join(w) })
			if tt.user != nil {
				f.on(adminUser+string(alice), func(w http.ResponseWriter, _ *http.Request) { tt.user(w) })
			}
			m := newTestMatrix(t, f, false, "")
			err := m.ForceJoin(context.Background(), room, alice, false)
			if (err != nil) != tt.wantErr || IsNoAccount(err) != tt.wantNoAccount {
				t.Fatalf("ForceJoin error = %v; want error %v, no-account %v", err, tt.wantErr, tt.wantNoAccount)
			}
			if calls := f.routesCalled(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("requests = %v, want %v", calls, tt.wantCalls)
			}
			f.mu.Lock()
			body := f.calls[0].Body
			f.mu.Unlock()
			if body["user_id"] != string(alice) {
				t.Errorf("admin join body = %v, want user_id %s", body, alice)
			}
		})
	}
}

func TestMembershipChanges(t *testing.T) {
	tests := []struct {
		name  string
		route string
		call  func(m *Matrix) error
	}{
		{"invite", "invite", func(m *Matrix) error { return m.Invite(context.Background(), room, alice, "in group staff") }},
		{"kick", "kick", func(m *Matrix) error { return m.Kick(context.Background(), room, alice, "in group staff") }},
		{"ban", "ban", func(m *Matrix) error { return m.Ban(context.Background(), room, alice, "in group staff") }},
		{"unban", "unban", func(m *Matrix) error { return m.Unban(context.Background(), room, alice, "in group staff") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := "POST /_matrix/client/v3/rooms/" + string(room) + "/" + tt.route
			f := newFakeHS(t)
			f.reply(route, 200, map[string]any{})
			m := newTestMatrix(t, f, false, "")
			if err := tt.call(m); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			c := f.lastCall()
			if c.Route != route || c.Body["user_id"] != string(alice) || c.Body["reason"] != "in group staff" || c.Auth != "Bearer "+testToken {
				t.Errorf("request = %+v", c)
			}

			f.reply(route, 403, matrixError("M_FORBIDDEN", "You don't have permission"))
			err := tt.call(m)
			if !IsForbidden(err) || !strings.Contains(err.Error(), string(alice)) || !strings.Contains(err.Error(), string(room)) {
				t.Errorf("refusal = %v; want a forbidden error naming user and room", err)
			}
		})
	}
}

// TestRefusalsThatMeanDone: a membership change the room already shows is refused by Synapse
// (a kick re-sent after its first answer was lost meets "The target user is not in the room"); it
// counts as done. Refusals that look alike but are not (the bot itself out of the room, missing
// power, a banned user) stay errors with the power-level hint.
func TestRefusalsThatMeanDone(t *testing.T) {
	kick := func(m *Matrix) error { return m.Kick(context.Background(), room, alice, "left group staff") }
	ban := func(m *Matrix) error { return m.Ban(context.Background(), room, alice, "left group staff") }
	unban := func(m *Matrix) error { return m.Unban(context.Background(), room, alice, "in group staff") }
	invite := func(m *Matrix) error { return m.Invite(context.Background(), room, alice, "in group staff") }
	tests := []struct {
		name     string
		route    string
		call     func(m *Matrix) error
		status   int
		body     any
		wantDone bool
		wantHint string // in the error when not done
	}{
		{"kick of a user who left", "kick", kick, 403, matrixError("M_FORBIDDEN", "The target user is not in the room"), true, ""},
		{"kick naming the user", "kick", kick, 403, matrixError("M_FORBIDDEN", "@alice:example.org is not in the room"), true, ""},
		{"ban of a user who left", "ban", ban, 403, matrixError("M_FORBIDDEN", "The target user is not in the room"), true, ""},
		{"unban of a user not banned", "unban", unban, 403, matrixError("M_BAD_STATE", "Cannot unban user who was not banned (membership=leave)"), true, ""},
		{"invite of a joined user", "invite", invite, 403, matrixError("M_FORBIDDEN", "@alice:example.org is already in the room."), true, ""},
		{"kick while the bot is out of the room", "kick", kick, 403, matrixError("M_FORBIDDEN", "@sync:example.org not in room !room:example.org."), false, "power level"},
		{"kick without power", "kick", kick, 403, matrixError("M_FORBIDDEN", "You cannot kick user @alice:example.org."), false, "power level"},
		{"ban without power", "ban", ban, 403, matrixError("M_FORBIDDEN", "You don't have permission to ban"), false, "power level"},
		{"invite of a banned user", "invite", invite, 403, matrixError("M_BAD_STATE", "Cannot invite user who was banned"), false, "unbanned"},
		{"not in the room, but a server error", "kick", kick, 500, matrixError("M_UNKNOWN", "The target user is not in the room"), false, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply("POST /_matrix/client/v3/rooms/"+string(room)+"/"+tt.route, tt.status, tt.body)
			m := newTestMatrix(t, f, false, "")
			err := tt.call(m)
			if tt.wantDone {
				if err != nil {
					t.Fatalf("error = %v; want done (the room already shows the change)", err)
				}
				return
			}
			if err == nil {
				t.Fatal("error = nil; want the refusal reported")
			}
			if !strings.Contains(err.Error(), tt.wantHint) {
				t.Errorf("error = %v; want it to say %q", err, tt.wantHint)
			}
		})
	}
}

func TestRateLimitHandling(t *testing.T) {
	tests := []struct {
		name        string
		answers     []int // retry_after_ms per 429 answer before success; -1 = succeed
		wantCalls   int32
		wantLimited bool
	}{
		{name: "short waits are waited out", answers: []int{10, 10, -1}, wantCalls: 3},
		{name: "gives up after two retries", answers: []int{10, 10, 10, -1}, wantCalls: 3, wantLimited: true},
		{name: "a long wait goes back to the caller", answers: []int{3_600_000, -1}, wantCalls: 1, wantLimited: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			var n atomic.Int32
			f.on(inviteRoute, func(w http.ResponseWriter, _ *http.Request) {
				i := int(n.Add(1)) - 1
				if tt.answers[i] < 0 {
					writeJSON(w, 200, map[string]any{})
					return
				}
				writeJSON(w, 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": tt.answers[i]})
			})
			m := newTestMatrix(t, f, false, "")
			err := m.Invite(context.Background(), room, alice, "")
			_, limited := IsRateLimited(err)
			if limited != tt.wantLimited || (err != nil) != tt.wantLimited {
				t.Errorf("Invite error = %v; want rate-limited %v", err, tt.wantLimited)
			}
			if got := n.Load(); got != tt.wantCalls {
				t.Errorf("requests = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRateLimitWaitStopsWithContext(t *testing.T) {
	f := newFakeHS(t)
	f.reply(inviteRoute, 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 900})
	m := newTestMatrix(t, f, false, "")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Invite(ctx, room, alice, "")
	if _, limited := IsRateLimited(err); !limited || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Invite = %v; want the rate limit and the deadline", err)
	}
	if waited := time.Since(start); waited > 800*time.Millisecond {
		t.Errorf("Invite waited %v past its deadline", waited)
	}
}

func ok(body any) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { writeJSON(w, 200, body) }
}

func fail(status int, code, msg string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { writeJSON(w, status, matrixError(code, msg)) }
}
