package appservice

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const (
	aliceAccount   = "/_synapse/admin/v2/users/" + string(alice)
	aliceDevices   = "GET /_synapse/admin/v2/users/" + string(alice) + "/devices"
	deleteDevices  = "POST /_synapse/admin/v2/users/" + string(alice) + "/delete_devices"
	aliceName      = "/_matrix/client/v3/profile/" + string(alice) + "/displayname"
	aliceAvatar    = "/_matrix/client/v3/profile/" + string(alice) + "/avatar_url"
	notAdminAnswer = "You are not a server admin"
)

func TestSetLocked(t *testing.T) {
	tests := []struct {
		name      string
		locked    bool // the account's state before
		lock      bool
		missing   bool
		notAdmin  bool
		wantCalls []string
		wantErr   string
	}{
		{name: "locks an unlocked account", lock: true, wantCalls: []string{"GET " + aliceAccount, "PUT " + aliceAccount}},
		{name: "unlocks a locked account", locked: true, wantCalls: []string{"GET " + aliceAccount, "PUT " + aliceAccount}},
		{name: "an account already locked is not written", locked: true, lock: true, wantCalls: []string{"GET " + aliceAccount}},
		{name: "a missing account is never created", lock: true, missing: true, wantCalls: []string{"GET " + aliceAccount}},
		{name: "a bot that is no server admin is told so", lock: true, notAdmin: true, wantCalls: []string{"GET " + aliceAccount},
			wantErr: "is not a server admin: make it one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			switch {
			case tc.missing:
				f.reply("GET "+aliceAccount, 404, matrixError("M_NOT_FOUND", "User not found"))
			case tc.notAdmin:
				f.reply("GET "+aliceAccount, 403, matrixError("M_FORBIDDEN", notAdminAnswer))
			default:
				f.reply("GET "+aliceAccount, 200, map[string]any{"name": alice, "locked": tc.locked})
			}
			f.reply("PUT "+aliceAccount, 200, map[string]any{"name": alice})
			m := newTestMatrix(t, f, false, "")
			err := m.SetLocked(context.Background(), alice, tc.lock)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("SetLocked = %v, want error %q", err, tc.wantErr)
			}
			if got := f.routesCalled(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("requests %v, want %v", got, tc.wantCalls)
			}
			if slices.Contains(tc.wantCalls, "PUT "+aliceAccount) {
				if body := f.lastCall().Body; len(body) != 1 || body["locked"] != tc.lock {
					t.Errorf("PUT body %v, want only locked: %v", body, tc.lock)
				}
			}
		})
	}
}

func TestLogoutDeletesEveryDevice(t *testing.T) {
	f := newFakeHS(t)
	f.reply(aliceDevices, 200, map[string]any{"devices": []map[string]any{{"device_id": "PHONE"}, {"device_id": "LAPTOP"}}, "total": 2})
	f.reply(deleteDevices, 200, map[string]any{})
	m := newTestMatrix(t, f, true, "")
	if err := m.Logout(context.Background(), alice); err != nil {
		t.Fatal(err)
	}
	want := []string{aliceDevices + "?user_id=" + string(testBot), deleteDevices + "?user_id=" + string(testBot)}
	if got := f.routesCalled(); !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	if devs, _ := f.lastCall().Body["devices"].([]any); len(devs) != 2 || devs[0] != "PHONE" || devs[1] != "LAPTOP" {
		t.Errorf("delete_devices body %v", f.lastCall().Body)
	}

	// Nothing to delete: one request. A missing account: nothing to end, no error.
	f = newFakeHS(t)
	f.reply(aliceDevices, 200, map[string]any{"devices": []any{}, "total": 0})
	if err := newTestMatrix(t, f, false, "").Logout(context.Background(), alice); err != nil || len(f.routesCalled()) != 1 {
		t.Errorf("no devices: %v, requests %v", err, f.routesCalled())
	}
	f = newFakeHS(t)
	f.reply(aliceDevices, 404, matrixError("M_NOT_FOUND", "Unknown user"))
	if err := newTestMatrix(t, f, false, "").Logout(context.Background(), alice); err != nil {
		t.Errorf("missing account: %v", err)
	}
	f = newFakeHS(t)
	f.reply(aliceDevices, 403, matrixError("M_FORBIDDEN", notAdminAnswer))
	if err := newTestMatrix(t, f, false, "").Logout(context.Background(), alice); err == nil || !strings.Contains(err.Error(), "ending sessions (deactivated.logout) uses the Synapse admin API") {
		t.Errorf("not an admin: %v", err)
	}
}

func TestProfilesAppserviceModeActAsThePuppet(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET "+aliceName, 200, map[string]any{"displayname": "Alice"})
	f.reply("PUT "+aliceName, 200, map[string]any{})
	f.reply("GET "+aliceAvatar, 200, map[string]any{})
	m := newTestMatrix(t, f, true, "")
	ctx := context.Background()
	if name, err := m.DisplayName(ctx, alice); err != nil || name != "Alice" {
		t.Fatalf("DisplayName = %q, %v", name, err)
	}
	if url, err := m.AvatarURL(ctx, alice); err != nil || url != "" {
		t.Fatalf("AvatarURL of a user without one = %q, %v", url, err)
	}
	if err := m.SetDisplayName(ctx, alice, "Alice A"); err != nil {
		t.Fatal(err)
	}
	c := f.lastCall()
	if c.Route != "PUT "+aliceName || c.UserID != string(alice) || c.Auth != "Bearer "+testASToken || c.Body["displayname"] != "Alice A" {
		t.Errorf("set as %+v, want the puppet's PUT with the as_token", c)
	}
	for _, r := range f.routesCalled() {
		if strings.Contains(r, "/_synapse/admin") {
			t.Errorf("appservice mode used the admin API: %s", r)
		}
	}
	// A user the appservice may not act as is told apart from a missing one.
	f.reply("PUT "+aliceName, http.StatusForbidden, matrixError("M_FORBIDDEN", "Application service has not registered this user (@alice:example.org)"))
	if err := m.SetDisplayName(ctx, alice, "x"); !IsNoAccount(err) {
		t.Errorf("unregistered user: %v, want ErrNoAccount", err)
	}
	f.reply("PUT "+aliceName, 400, matrixError("M_FORBIDDEN", "Changing display name is disabled on this server"))
	if err := m.SetDisplayName(ctx, alice, "x"); err == nil || !strings.Contains(err.Error(), "enable_set_displayname") {
		t.Errorf("disabled display names: %v", err)
	}
}

func TestProfilesClientModeUseTheAdminAPIOnExistingAccountsOnly(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET "+aliceAccount, 200, map[string]any{"name": alice})
	f.reply("PUT "+aliceAccount, 200, map[string]any{"name": alice})
	m := newTestMatrix(t, f, false, "")
	if err := m.SetDisplayName(context.Background(), alice, "Alice A"); err != nil {
		t.Fatal(err)
	}
	if got, want := f.routesCalled(), []string{"GET " + aliceAccount, "PUT " + aliceAccount}; !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	if body := f.lastCall().Body; len(body) != 1 || body["displayname"] != "Alice A" {
		t.Errorf("PUT body %v", body)
	}
	f = newFakeHS(t)
	f.reply("GET "+aliceAccount, 404, matrixError("M_NOT_FOUND", "User not found"))
	m = newTestMatrix(t, f, false, "")
	if err := m.SetAvatarURL(context.Background(), alice, "mxc://example.org/a"); !IsNoAccount(err) {
		t.Errorf("missing account: %v, want ErrNoAccount", err)
	}
	if got := f.routesCalled(); slices.Contains(got, "PUT "+aliceAccount) {
		t.Errorf("a PUT was sent for a missing account, which would create it: %v", got)
	}
}
