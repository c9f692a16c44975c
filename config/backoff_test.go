package config

import (
	"strings"
	"testing"
	"time"
)

func TestMaxBackoff(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    time.Duration
		wantErr string
	}{
		{"default", nil, 5 * time.Minute, ""},
		{"from the environment", map[string]string{"SYNC_MAX_BACKOFF_SECONDS": "120"}, 2 * time.Minute, ""},
		{"zero disables", map[string]string{"SYNC_MAX_BACKOFF_SECONDS": "0"}, 0, ""},
		{"negative", map[string]string{"SYNC_MAX_BACKOFF_SECONDS": "-5"}, 0, "negative"},
		{"not a number", map[string]string{"SYNC_MAX_BACKOFF_SECONDS": "5m"}, 0, "not a whole number of seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("", envFunc(with(clientEnv(), tc.env)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "sync.max_backoff") {
					t.Fatalf("error %v, want one naming sync.max_backoff and containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Sync.MaxBackoff != tc.want {
				t.Errorf("max backoff %s, want %s", c.Sync.MaxBackoff, tc.want)
			}
		})
	}
}
