package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLifecycleSettings(t *testing.T) {
	dir := t.TempDir()
	fileConfig := writeFile(t, dir, "config.yaml", `
deactivated:
  remove: after_grace
  lock_after: 720h
  logout: true
profile_sync:
  displayname: true
  avatar_attribute: avatar_mxc
`, 0o600)
	month := Duration(720 * time.Hour)
	zero := Duration(0)
	hour := Duration(time.Hour)
	tests := []struct {
		name        string
		path        string
		env         map[string]string
		deactivated DeactivatedConfig
		profile     ProfileSyncConfig
		problem     string // part of the expected problem; "" means valid
	}{
		{"defaults: removed at once, never locked, not logged out, no profile sync", "", nil,
			DeactivatedConfig{Remove: DeactivatedRemoveImmediately}, ProfileSyncConfig{}, ""},
		{"from the file", fileConfig, nil,
			DeactivatedConfig{Remove: DeactivatedRemoveAfterGrace, LockAfter: &month, Logout: true},
			ProfileSyncConfig{DisplayName: true, AvatarAttribute: "avatar_mxc"}, ""},
		{"from the environment", "", map[string]string{"DEACTIVATED_REMOVE": "after_grace", "DEACTIVATED_LOCK_AFTER": "1h",
			"DEACTIVATED_LOGOUT": "true", "PROFILE_SYNC_DISPLAYNAME": "1", "PROFILE_SYNC_AVATAR_ATTRIBUTE": "avatar"},
			DeactivatedConfig{Remove: DeactivatedRemoveAfterGrace, LockAfter: &hour, Logout: true},
			ProfileSyncConfig{DisplayName: true, AvatarAttribute: "avatar"}, ""},
		{"the environment overrides the file, never unsets the lock", fileConfig, map[string]string{"DEACTIVATED_REMOVE": "immediately",
			"DEACTIVATED_LOCK_AFTER": "never", "DEACTIVATED_LOGOUT": "false", "PROFILE_SYNC_DISPLAYNAME": "false"},
			DeactivatedConfig{Remove: DeactivatedRemoveImmediately}, ProfileSyncConfig{AvatarAttribute: "avatar_mxc"}, ""},
		{"lock at the next cycle", "", map[string]string{"DEACTIVATED_LOCK_AFTER": "0s"},
			DeactivatedConfig{Remove: DeactivatedRemoveImmediately, LockAfter: &zero}, ProfileSyncConfig{}, ""},
		{"an unknown removal", "", map[string]string{"DEACTIVATED_REMOVE": "now"}, DeactivatedConfig{}, ProfileSyncConfig{},
			`deactivated.remove / DEACTIVATED_REMOVE): "now" is not a choice; use immediately`},
		{"a lock delay that is no duration", "", map[string]string{"DEACTIVATED_LOCK_AFTER": "30 days"}, DeactivatedConfig{}, ProfileSyncConfig{},
			`"30 days" is not a duration; write it like 720h`},
		{"a negative lock delay", "", map[string]string{"DEACTIVATED_LOCK_AFTER": "-1h"}, DeactivatedConfig{}, ProfileSyncConfig{},
			"-1h0m0s is negative"},
		{"a logout flag that is no boolean", "", map[string]string{"DEACTIVATED_LOGOUT": "yes please"}, DeactivatedConfig{}, ProfileSyncConfig{},
			`DEACTIVATED_LOGOUT): "yes please" is not true or false`},
		{"an avatar attribute with a space", "", map[string]string{"PROFILE_SYNC_AVATAR_ATTRIBUTE": "avatar url"}, DeactivatedConfig{}, ProfileSyncConfig{},
			"is not an attribute name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, envFunc(with(clientEnv(), tt.env)))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tt.problem, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Deactivated, tt.deactivated) || c.ProfileSync != tt.profile {
				t.Errorf("deactivated %+v profile_sync %+v, want %+v %+v", c.Deactivated, c.ProfileSync, tt.deactivated, tt.profile)
			}
		})
	}
}
