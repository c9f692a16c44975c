package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuditSettings(t *testing.T) {
	dir := t.TempDir()
	const day = 24 * time.Hour
	fileConfig := writeFile(t, dir, "config.yaml", "audit:\n  max_age: 720h\n  max_rows: 5000\n", 0o600)
	tests := []struct {
		name    string
		path    string
		env     map[string]string
		want    AuditConfig
		problem string // part of the expected problem; "" means valid
	}{
		{"defaults: 90 days, 100000 entries", "", nil, AuditConfig{MaxAge: 90 * day, MaxRows: 100000}, ""},
		{"from the file", fileConfig, nil, AuditConfig{MaxAge: 30 * day, MaxRows: 5000}, ""},
		{"the environment replaces the file", fileConfig, map[string]string{"AUDIT_MAX_AGE_DAYS": "365", "AUDIT_MAX_ROWS": "0"},
			AuditConfig{MaxAge: 365 * day}, ""},
		{"unbounded", "", map[string]string{"AUDIT_MAX_AGE_DAYS": "0", "AUDIT_MAX_ROWS": "0"}, AuditConfig{}, ""},
		{"age not a number of days", "", map[string]string{"AUDIT_MAX_AGE_DAYS": "90d"}, AuditConfig{}, "AUDIT_MAX_AGE_DAYS"},
		{"negative rows", "", map[string]string{"AUDIT_MAX_ROWS": "-1"}, AuditConfig{}, "AUDIT_MAX_ROWS"},
		{"minutes for days", writeFile(t, dir, "short.yaml", "audit:\n  max_age: 30m\n", 0o600), nil, AuditConfig{}, "at least 1h0m0s"},
		{"negative rows in the file", writeFile(t, dir, "neg.yaml", "audit:\n  max_rows: -5\n", 0o600), nil, AuditConfig{}, "use 0 to keep any number"},
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
			if c.Audit != tt.want {
				t.Errorf("audit = %+v, want %+v", c.Audit, tt.want)
			}
		})
	}
}
