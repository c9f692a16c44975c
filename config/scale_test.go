package config

import (
	"strings"
	"testing"
	"time"
)

func TestScaleSettings(t *testing.T) {
	for _, tc := range []struct {
		name       string
		env        map[string]string
		wantWrites int
		wantResync time.Duration
		problem    string // part of the expected problem; "" means valid
	}{
		{"defaults", nil, 8, time.Hour, ""},
		{"from the environment", map[string]string{"SYNC_MAX_CONCURRENT_WRITES": "16", "SYNC_FULL_RESYNC_INTERVAL_SECONDS": "600"}, 16, 10 * time.Minute, ""},
		{"one writer", map[string]string{"SYNC_MAX_CONCURRENT_WRITES": "1"}, 1, time.Hour, ""},
		{"zero writers", map[string]string{"SYNC_MAX_CONCURRENT_WRITES": "0"}, 0, 0, "use 1 to 64"},
		{"too many writers", map[string]string{"SYNC_MAX_CONCURRENT_WRITES": "65"}, 0, 0, "use 1 to 64"},
		{"writers not a number", map[string]string{"SYNC_MAX_CONCURRENT_WRITES": "eight"}, 0, 0, "SYNC_MAX_CONCURRENT_WRITES"},
		{"resync too short", map[string]string{"SYNC_FULL_RESYNC_INTERVAL_SECONDS": "30"}, 0, 0, "shorter than the minimum 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"AUTHENTIK_URL": "https://auth.example.com", "AUTHENTIK_TOKEN": "tok",
				"MATRIX_HOMESERVER_URL": "https://matrix.example.com", "MATRIX_USER_ID": "@bot:example.com",
				"MATRIX_ACCESS_TOKEN": "tok",
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := Load("", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tc.problem, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Sync.MaxConcurrentWrites != tc.wantWrites || c.Sync.FullResyncInterval != tc.wantResync {
				t.Fatalf("got %d writers and %s, want %d and %s", c.Sync.MaxConcurrentWrites, c.Sync.FullResyncInterval, tc.wantWrites, tc.wantResync)
			}
		})
	}
}
