package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAdminSettingsFromEnvironment(t *testing.T) {
	c := mustLoad(t, "", with(clientEnv(), map[string]string{
		"ADMIN_ROOM": "#ops:example.com", "ADMIN_USERS": " @a:example.com, @b:example.com ,",
		"ADMIN_MIN_POWER_LEVEL": "50", "COMMAND_PREFIX": "!am", "MAX_REMOVALS_PER_CYCLE": "3",
		"MAX_REMOVAL_FRACTION": "0.5",
	}))
	want := AdminConfig{Room: "#ops:example.com", Admins: []string{"@a:example.com", "@b:example.com"}, MinPowerLevel: 50, CommandPrefix: "!am"}
	if !reflect.DeepEqual(c.Admin, want) || c.Sync.MaxRemovalsPerCycle != 3 || c.Sync.MaxRemovalFraction != 0.5 {
		t.Errorf("admin %+v, guard %d/%v", c.Admin, c.Sync.MaxRemovalsPerCycle, c.Sync.MaxRemovalFraction)
	}
}

func TestAdminSettingsProblems(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"admin room without admins", map[string]string{"ADMIN_ROOM": "!r:example.com"}, "nobody could command the bot"},
		{"room that is neither ID nor alias", map[string]string{"ADMIN_ROOM": "ops", "ADMIN_USERS": "@a:example.com"}, "not a room ID"},
		{"admin that is not a user ID", map[string]string{"ADMIN_USERS": "alice"}, "not a Matrix user ID"},
		{"negative limit", map[string]string{"MAX_REMOVALS_PER_CYCLE": "-1"}, "not a whole number"},
		{"fraction above one", map[string]string{"MAX_REMOVAL_FRACTION": "1.5"}, "not between 0 and 1"},
		{"fraction not a number", map[string]string{"MAX_REMOVAL_FRACTION": "a lot"}, "not a number"},
		{"prefix with a space", map[string]string{"COMMAND_PREFIX": "! sync"}, "one word"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", envFunc(with(clientEnv(), tc.env)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
