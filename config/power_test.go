package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPowerAndExternalIDSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		yaml    string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		problem string // part of the expected problem; "" means valid
	}{
		{name: "a mapping's power level from the file", yaml: "sync:\n  mappings:\n    - {group: moderators, room: '!m:example.com', power_level: 50}\n",
			check: func(t *testing.T, c *Config) {
				if c.Sync.Mappings[0].PowerLevel != 50 || c.UsesExternalIDs() {
					t.Errorf("mapping %+v, external IDs %v", c.Sync.Mappings[0], c.UsesExternalIDs())
				}
			}},
		{name: "a mapping's power level from SYNC_MAPPINGS", env: map[string]string{"SYNC_MAPPINGS": `[{"group":"moderators","room":"!m:example.com","power_level":75}]`},
			check: func(t *testing.T, c *Config) {
				if c.Sync.Mappings[0].PowerLevel != 75 {
					t.Errorf("mapping %+v", c.Sync.Mappings[0])
				}
			}},
		{name: "a negative power level", yaml: "sync:\n  mappings:\n    - {group: m, room: '!m:example.com', power_level: -1}\n", problem: "power_level -1 is out of range"},
		{name: "a power level above 100", yaml: "sync:\n  mappings:\n    - {group: m, room: '!m:example.com', power_level: 101}\n", problem: "use 1 to 100"},
		{name: "external IDs with their defaults", yaml: "user_mapping:\n  source: synapse_external_id\n  external_id: {auth_provider: oidc-authentik}\n",
			check: func(t *testing.T, c *Config) {
				e := c.UserMapping.ExternalID
				if !c.UsesExternalIDs() || e.AuthProvider != "oidc-authentik" || e.Subject != "uid" || e.Refresh != time.Hour {
					t.Errorf("external ID settings %+v", e)
				}
			}},
		{name: "external IDs by attribute", yaml: "user_mapping:\n  source: synapse_external_id\n  external_id: {auth_provider: oidc-authentik, subject: 'attribute:sub', refresh: 15m}\n",
			check: func(t *testing.T, c *Config) {
				if e := c.UserMapping.ExternalID; e.Subject != "attribute:sub" || e.Refresh != 15*time.Minute {
					t.Errorf("external ID settings %+v", e)
				}
			}},
		{name: "an unknown source", yaml: "user_mapping:\n  source: ldap\n", problem: `"ldap" is not a source`},
		{name: "external IDs without a provider", yaml: "user_mapping:\n  source: synapse_external_id\n", problem: "auth_provider): is empty"},
		{name: "an unknown subject", yaml: "user_mapping:\n  source: synapse_external_id\n  external_id: {auth_provider: oidc-authentik, subject: email}\n", problem: `"email" is not a subject`},
		{name: "an empty attribute subject", yaml: "user_mapping:\n  source: synapse_external_id\n  external_id: {auth_provider: oidc-authentik, subject: 'attribute:'}\n", problem: "is not a subject"},
		{name: "a refresh that is too short", yaml: "user_mapping:\n  source: synapse_external_id\n  external_id: {auth_provider: oidc-authentik, refresh: 10s}\n", problem: "shorter than a minute"},
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
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tc.problem, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
