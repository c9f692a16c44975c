package appservice

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

const plRoute = "/_matrix/client/v3/rooms/!r:example.org/state/m.room.power_levels/"

func TestSetUserPowerLevelsKeepsEverythingElse(t *testing.T) {
	f := newFakeHS(t)
	current := `{"users":{"@sync:example.org":100,"@b:example.org":50,"@c:example.org":75,"@d:example.org":"20"},
		"users_default":0,"events":{"m.room.name":50,"m.room.power_levels":100},"ban":50,"kick":50,
		"notifications":{"room":50},"org.example.custom":[1,2]}`
	f.on("GET "+plRoute, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(current)) })
	f.reply("PUT "+plRoute, http.StatusOK, map[string]any{"event_id": "$e"})
	m := newTestMatrix(t, f, false, "")
	changes := []plan.LevelChange{
		{User: "@a:example.org", From: 0, To: 50, Promote: true},
		{User: "@b:example.org", From: 50, To: 0},
		{User: "@c:example.org", From: 50, To: 0}, // raised by someone else meanwhile
		{User: "@d:example.org", From: 20, To: 50, Promote: true},
	}
	done, err := m.SetUserPowerLevels(t.Context(), "!r:example.org", changes)
	if err != nil {
		t.Fatal(err)
	}
	if want := []plan.LevelChange{changes[0], changes[1], changes[3]}; !reflect.DeepEqual(done, want) {
		t.Errorf("done = %+v, want %+v", done, want)
	}
	if got := f.routesCalled(); len(got) != 2 || !strings.HasPrefix(got[1], "PUT ") {
		t.Fatalf("requests = %q, want one read and one write", got)
	}
	body := f.lastCall().Body
	var want map[string]any
	_ = json.Unmarshal([]byte(current), &want)
	want["users"] = map[string]any{"@sync:example.org": 100.0, "@a:example.org": 50.0, "@c:example.org": 75.0, "@d:example.org": 50.0}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("written content:\n got %v\nwant %v", body, want)
	}
}

func TestSetUserPowerLevelsWritesNothingWithoutChanges(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET "+plRoute, http.StatusOK, map[string]any{"users": map[string]any{"@a:example.org": 100}})
	m := newTestMatrix(t, f, true, "")
	done, err := m.SetUserPowerLevels(t.Context(), "!r:example.org", []plan.LevelChange{{User: "@a:example.org", From: 50, To: 0}})
	if err != nil || done != nil {
		t.Fatalf("done %v, err %v; want nothing", done, err)
	}
	if got := f.routesCalled(); len(got) != 1 {
		t.Errorf("requests = %q, want the read only", got)
	}
}

func TestSetUserPowerLevelsRefused(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET "+plRoute, http.StatusOK, map[string]any{"users": map[string]any{}})
	f.reply("PUT "+plRoute, http.StatusForbidden, matrixError("M_FORBIDDEN", "You don't have permission to add ops level greater than your own"))
	m := newTestMatrix(t, f, false, "")
	_, err := m.SetUserPowerLevels(t.Context(), "!r:example.org", []plan.LevelChange{{User: "@a:example.org", From: 0, To: 50, Promote: true}})
	if err == nil || !strings.Contains(err.Error(), "the bot needs the level of m.room.power_levels") {
		t.Errorf("err = %v", err)
	}
}

func TestLookupExternalID(t *testing.T) {
	const route = "GET /_synapse/admin/v1/auth_providers/oidc-authentik/users/hash-1"
	for _, tc := range []struct {
		name    string
		status  int
		body    any
		want    id.UserID
		errPart string
		notAdm  bool
	}{
		{"linked", http.StatusOK, map[string]any{"user_id": "@alice:example.org"}, "@alice:example.org", "", false},
		{"nobody", http.StatusNotFound, matrixError("M_NOT_FOUND", "User not found"), "", "", false},
		{"not an admin", http.StatusForbidden, matrixError("M_FORBIDDEN", "You are not a server admin"), "", "make @sync:example.org a Synapse server admin", true},
		{"no admin API", 0, nil, "", "no Synapse admin API", false},
		{"odd answer", http.StatusOK, map[string]any{}, "", "without a user_id", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			if tc.status != 0 {
				f.reply(route, tc.status, tc.body)
			}
			m := newTestMatrix(t, f, false, "")
			got, err := m.LookupExternalID(t.Context(), "oidc-authentik", "hash-1")
			if got != tc.want {
				t.Errorf("user = %q, want %q", got, tc.want)
			}
			if tc.errPart == "" && err != nil || tc.errPart != "" && (err == nil || !strings.Contains(err.Error(), tc.errPart)) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.errPart)
			}
			if errors.Is(err, ErrNotServerAdmin) != tc.notAdm {
				t.Errorf("ErrNotServerAdmin = %v, want %v", errors.Is(err, ErrNotServerAdmin), tc.notAdm)
			}
			if tc.errPart != "" && tc.status != http.StatusOK && !IsPermanent(m.CheckExternalIDAccess(t.Context(), "oidc-authentik")) {
				t.Error("a refused access check should stop the start")
			}
		})
	}
}
