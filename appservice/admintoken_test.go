package appservice

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeAdminTokens hands out mas-token-1, then mas-token-2 after an invalidation, and so on.
type fakeAdminTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (s *fakeAdminTokens) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fmt.Sprintf("mas-token-%d", s.n+1), nil
}

func (s *fakeAdminTokens) Invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, token)
	s.n++
}

func newAdminTokenMatrix(t *testing.T, f *fakeHS, appservice bool, src AdminTokenSource) *Matrix {
	t.Helper()
	opts := Options{HomeserverURL: f.srv.URL, BotUserID: testBot, AccessToken: testToken, ForceJoinVia: ForceJoinAdminAPI,
		AdminToken: src}
	if appservice {
		opts.Appservice, opts.AccessToken, opts.ASToken, opts.RegistrationID = true, "", testASToken, "authentik-sync"
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAdminCallsCarryTheAdminToken: with an admin token source every /_synapse/admin call
// carries its token and acts as nobody (no ?user_id=), while client API calls keep the bot's
// own token; without one, admin calls carry the bot's token as before.
func TestAdminCallsCarryTheAdminToken(t *testing.T) {
	hierarchy := "GET /_synapse/admin/v1/rooms/" + string(testSpace) + "/hierarchy"
	externalID := "GET /_synapse/admin/v1/auth_providers/oidc-authentik/users/hash-1"
	for _, tc := range []struct {
		name       string
		appservice bool
		source     bool
		botAuth    string
		adminAuth  string
	}{
		{"client mode with an admin token source", false, true, "Bearer " + testToken, "Bearer mas-token-1"},
		{"appservice mode with an admin token source", true, true, "Bearer " + testASToken, "Bearer mas-token-1"},
		{"client mode without one: the bot's token, as before", false, false, "Bearer " + testToken, "Bearer " + testToken},
		{"appservice mode without one: the as_token, as before", true, false, "Bearer " + testASToken, "Bearer " + testASToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply(adminJoin, 200, map[string]any{"room_id": string(room)})
			f.reply(adminUser+string(testBot), 200, map[string]any{"name": string(testBot), "admin": true})
			f.reply(adminUser+string(alice), 200, map[string]any{"name": string(alice)})
			f.reply(externalID, 200, map[string]any{"user_id": string(alice)})
			f.reply(hierarchy, 200, spaceEntry("m.space", child("!a:example.org", "example.org")))
			f.reply(inviteRoute, 200, map[string]any{})
			f.reply(whoamiRoute, 200, map[string]any{"user_id": string(alice)})
			var src AdminTokenSource
			if tc.source {
				src = &fakeAdminTokens{}
			}
			m := newAdminTokenMatrix(t, f, tc.appservice, src)
			ctx := t.Context()
			steps := []struct {
				what string
				run  func() error
			}{
				{"force join", func() error { return m.ForceJoin(ctx, room, alice, false) }},
				{"force-join check", func() error { _, err := m.CheckForceJoin(ctx); return err }},
				{"account check", func() error { _, err := m.UserExists(ctx, alice); return err }},
				{"external ID lookup", func() error { _, err := m.LookupExternalID(ctx, "oidc-authentik", "hash-1"); return err }},
				{"space children", func() error { _, err := m.Spaces().SpaceChildren(ctx, testSpace); return err }},
				{"invite", func() error { return m.Invite(ctx, room, alice, "") }},
			}
			for _, s := range steps {
				if err := s.run(); err != nil {
					t.Fatalf("%s: %v", s.what, err)
				}
			}
			admin, client := 0, 0
			f.mu.Lock()
			calls := append([]fakeCall(nil), f.calls...)
			f.mu.Unlock()
			for _, c := range calls {
				isAdmin := strings.Contains(c.Route, " /_synapse/admin/")
				want := tc.botAuth
				if isAdmin {
					admin++
					want = tc.adminAuth
					if tc.source && c.UserID != "" {
						t.Errorf("%s: ?user_id=%s sent with the admin token", c.Route, c.UserID)
					}
				} else {
					client++
				}
				if c.Auth != want {
					t.Errorf("%s: Authorization %q, want %q", c.Route, c.Auth, want)
				}
			}
			// Every admin route was exercised, and so was the client API.
			if admin < 4 || client < 1 {
				t.Errorf("%d admin and %d client calls: %v", admin, client, f.routesCalled())
			}
		})
	}
}

// TestRefusedAdminTokenIsRenewedOnce: a 401 to the admin token drops it and sends the call
// again once with a new one; a homeserver that refuses every admin token gets two tries and an
// error that says what to change.
func TestRefusedAdminTokenIsRenewedOnce(t *testing.T) {
	t.Run("a stale token", func(t *testing.T) {
		f := newFakeHS(t)
		f.on(adminJoin, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer mas-token-2" {
				writeJSON(w, http.StatusUnauthorized, matrixError("M_UNKNOWN_TOKEN", "Token is not active"))
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"room_id": string(room)})
		})
		src := &fakeAdminTokens{}
		m := newAdminTokenMatrix(t, f, false, src)
		if err := m.ForceJoin(t.Context(), room, alice, false); err != nil {
			t.Fatal(err)
		}
		if n := len(f.routesCalled()); n != 2 || len(src.invalidated) != 1 || src.invalidated[0] != "mas-token-1" {
			t.Errorf("%d requests, invalidated %v; want 2 and [mas-token-1]", n, src.invalidated)
		}
	})
	t.Run("a homeserver that accepts no such token", func(t *testing.T) {
		f := newFakeHS(t)
		f.reply(adminJoin, http.StatusUnauthorized, matrixError("M_UNKNOWN_TOKEN", "Token doesn't grant access to the Matrix C-S API"))
		src := &fakeAdminTokens{}
		m := newAdminTokenMatrix(t, f, false, src)
		err := m.ForceJoin(t.Context(), room, alice, false)
		if err == nil || !strings.Contains(err.Error(), "mas.use_for_synapse_admin") || httpStatus(err) != http.StatusUnauthorized {
			t.Fatalf("err = %v; want the 401, explained", err)
		}
		if n := len(f.routesCalled()); n != 2 {
			t.Errorf("%d requests, want 2: one retry only", n)
		}
	})
}
