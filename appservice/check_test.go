package appservice

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const (
	registerRoute = "POST /_matrix/client/v3/register"
	pingRoute     = "POST /_matrix/client/v1/appservice/authentik-sync/ping"
)

func TestCheck(t *testing.T) {
	whoamiBot := map[string]any{"user_id": testBot}
	tests := []struct {
		name       string
		appservice bool
		via        string
		needForce  bool
		answers    map[string]func(w http.ResponseWriter)
		wantCalls  []string
		wantErr    string // substring; "" = success
	}{
		{
			name:      "client mode without force joins checks the token only",
			needForce: false,
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: ok(whoamiBot)},
			wantCalls: []string{whoamiRoute},
		},
		{
			name:      "token of another user",
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: ok(map[string]any{"user_id": alice})},
			wantCalls: []string{whoamiRoute},
			wantErr:   "belongs to @alice:example.org",
		},
		{
			name:      "expired token",
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: fail(401, "M_UNKNOWN_TOKEN", "Invalid access token")},
			wantCalls: []string{whoamiRoute},
			wantErr:   "create a new token",
		},
		{
			name:      "admin route with an admin bot",
			needForce: true,
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: ok(whoamiBot), adminUser + string(testBot): ok(map[string]any{"admin": true})},
			wantCalls: []string{whoamiRoute, adminUser + string(testBot)},
		},
		{
			name:      "admin route with a bot that is no admin",
			needForce: true,
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: ok(whoamiBot), adminUser + string(testBot): fail(403, "M_FORBIDDEN", "You are not a server admin")},
			wantCalls: []string{whoamiRoute, adminUser + string(testBot)},
			wantErr:   "not a server admin",
		},
		{
			name:      "admin route on a homeserver without the admin API",
			needForce: true,
			answers:   map[string]func(http.ResponseWriter){whoamiRoute: ok(whoamiBot)},
			wantCalls: []string{whoamiRoute, adminUser + string(testBot)},
			wantErr:   "use appservice mode",
		},
		{
			name:       "appservice mode: bot registered, token valid, homeserver reaches us",
			appservice: true,
			needForce:  true,
			answers: map[string]func(http.ResponseWriter){
				registerRoute: fail(400, "M_USER_IN_USE", "User ID already taken."),
				whoamiRoute:   ok(whoamiBot),
				pingRoute:     ok(map[string]any{"duration_ms": 3}),
			},
			wantCalls: []string{registerRoute, whoamiRoute + "?user_id=" + string(testBot), pingRoute},
		},
		{
			name:       "appservice mode: registration unknown to the homeserver",
			appservice: true,
			answers:    map[string]func(http.ResponseWriter){registerRoute: fail(401, "M_UNKNOWN_TOKEN", "Invalid access token")},
			wantCalls:  []string{registerRoute},
			wantErr:    "app_service_config_files",
		},
		{
			name:       "appservice mode: homeserver cannot reach the appservice",
			appservice: true,
			answers: map[string]func(http.ResponseWriter){
				registerRoute: ok(map[string]any{"user_id": testBot}),
				whoamiRoute:   ok(whoamiBot),
				pingRoute:     fail(502, "M_CONNECTION_FAILED", "Connection refused"),
			},
			wantCalls: []string{registerRoute, whoamiRoute + "?user_id=" + string(testBot), pingRoute},
			wantErr:   "cannot reach the appservice",
		},
		{
			name:       "appservice mode: registration without url only warns",
			appservice: true,
			answers: map[string]func(http.ResponseWriter){
				registerRoute: ok(map[string]any{"user_id": testBot}),
				whoamiRoute:   ok(whoamiBot),
				pingRoute:     fail(400, "M_URL_NOT_SET", "Application service URL is not set"),
			},
			wantCalls: []string{registerRoute, whoamiRoute + "?user_id=" + string(testBot), pingRoute},
		},
		{
			name:       "appservice mode with the admin route checks admin rights too",
			appservice: true,
			via:        ForceJoinAdminAPI,
			needForce:  true,
			answers: map[string]func(http.ResponseWriter){
				registerRoute:               fail(400, "M_USER_IN_USE", "User ID already taken."),
				whoamiRoute:                 ok(whoamiBot),
				pingRoute:                   ok(map[string]any{}),
				adminUser + string(testBot): fail(403, "M_FORBIDDEN", "You are not a server admin"),
			},
			wantCalls: []string{registerRoute, whoamiRoute + "?user_id=" + string(testBot), pingRoute, adminUser + string(testBot) + "?user_id=" + string(testBot)},
			wantErr:   "not a server admin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			for route, h := range tt.answers {
				f.on(route, func(w http.ResponseWriter, _ *http.Request) { h(w) })
			}
			m := newTestMatrix(t, f, tt.appservice, tt.via)
			err := m.Check(context.Background(), tt.needForce)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Check: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Check error = %v; want one saying %q", err, tt.wantErr)
			}
			if calls := f.routesCalled(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("requests = %v, want %v", calls, tt.wantCalls)
			}
			if tt.appservice {
				f.mu.Lock()
				reg := f.calls[0]
				f.mu.Unlock()
				if reg.Body["type"] != "m.login.application_service" || reg.Body["username"] != "sync" || reg.Body["inhibit_login"] != true {
					t.Errorf("registration body = %v", reg.Body)
				}
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	base := func() Options {
		return Options{HomeserverURL: "http://127.0.0.1:8008", BotUserID: testBot, AccessToken: "t"}
	}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"no homeserver", func(o *Options) { o.HomeserverURL = "" }, "homeserver URL is empty"},
		{"odd scheme", func(o *Options) { o.HomeserverURL = "ftp://x" }, "http:// or https://"},
		{"bad bot ID", func(o *Options) { o.BotUserID = "sync" }, "not a valid Matrix user ID"},
		{"remote bot", func(o *Options) { o.Domain = "other.org" }, "not on the homeserver's domain"},
		{"client mode without token", func(o *Options) { o.AccessToken = "" }, "access token"},
		{"appservice without as_token", func(o *Options) { o.Appservice = true }, "as_token"},
		{"appservice without id", func(o *Options) { o.Appservice = true; o.ASToken = "x" }, "registration's id"},
		{"appservice route in client mode", func(o *Options) { o.ForceJoinVia = ForceJoinAppservice }, "needs appservice mode"},
		{"unknown route", func(o *Options) { o.ForceJoinVia = "magic" }, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.mutate(&o)
			_, err := New(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error = %v; want one saying %q", err, tt.want)
			}
		})
	}
}

func TestRouteChoice(t *testing.T) {
	tests := []struct {
		appservice bool
		via, want  string
	}{
		{false, "", ForceJoinAdminAPI},
		{false, ForceJoinAuto, ForceJoinAdminAPI},
		{true, ForceJoinAuto, ForceJoinAppservice},
		{true, ForceJoinAdminAPI, ForceJoinAdminAPI},
		{true, ForceJoinAppservice, ForceJoinAppservice},
	}
	for _, tt := range tests {
		got, err := chooseRoute(tt.via, tt.appservice)
		if err != nil || got != tt.want {
			t.Errorf("chooseRoute(%q, appservice=%v) = %q, %v; want %q", tt.via, tt.appservice, got, err, tt.want)
		}
	}
}
