package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Distinctive secrets: no message may ever contain them.
const (
	authentikToken = "ak-SECRET-7f3a9c1e"
	matrixToken    = "syt-SECRET-b81d44e0"
	asToken        = "as-SECRET-0c9e7d21"
	hsToken        = "hs-SECRET-5a6b2f88"
)

var allSecrets = []string{authentikToken, matrixToken, asToken, hsToken}

func envFunc(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// seedEnv is the environment of the env-only Compose example, with distinctive
// tokens in place of its placeholders.
func seedEnv() map[string]string {
	return map[string]string{
		"AUTHENTIK_URL":         "https://auth.example.com",
		"AUTHENTIK_TOKEN":       authentikToken,
		"MATRIX_HOMESERVER_URL": "https://matrix.example.com",
		"MATRIX_USER_ID":        "@bot:example.com",
		"MATRIX_ACCESS_TOKEN":   matrixToken,
		"JOIN_METHOD":           "force",
		"SYNC_MAPPINGS":         `[{"group":"Admins","space":"!admins:example.com"}]`,
	}
}

// clientEnv is the smallest valid environment.
func clientEnv() map[string]string {
	return map[string]string{
		"AUTHENTIK_URL":         "https://auth.example.com",
		"AUTHENTIK_TOKEN":       authentikToken,
		"MATRIX_HOMESERVER_URL": "https://matrix.example.com",
		"MATRIX_USER_ID":        "@bot:example.com",
		"MATRIX_ACCESS_TOKEN":   matrixToken,
	}
}

func with(base map[string]string, changes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == unset {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// unset, as a value in with's changes, removes the variable.
const unset = "\x00unset"

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustLoad(t *testing.T, path string, env map[string]string) *Config {
	t.Helper()
	c, err := Load(path, envFunc(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func assertNoSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range allSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains the secret %q:\n%s", what, s, text)
		}
	}
}

func TestSeedComposeEnvironmentLoadsWithoutFile(t *testing.T) {
	c := mustLoad(t, "", seedEnv())
	checks := []struct {
		name      string
		got, want any
	}{
		{"authentik url", c.Authentik.URL, "https://auth.example.com"},
		{"authentik token", c.Authentik.Token, authentikToken},
		{"homeserver", c.Homeserver.Address, "https://matrix.example.com"},
		{"domain from user ID", c.Homeserver.Domain, "example.com"},
		{"user ID", c.Matrix.UserID, "@bot:example.com"},
		{"access token", c.Matrix.AccessToken, matrixToken},
		{"join method", c.Sync.JoinMethod, JoinForce},
		{"mappings", c.Sync.Mappings, []Mapping{{Group: "Admins", Room: "!admins:example.com"}}},
		{"appservice mode", c.AppserviceMode(), false},
		{"user mapping server", c.UserMapping.Server, "example.com"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings = %q, want none", c.Warnings)
	}
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, "", clientEnv())
	want := Config{
		Homeserver: HomeserverConfig{Address: "https://matrix.example.com", Domain: "example.com"},
		Matrix:     MatrixConfig{UserID: "@bot:example.com", AccessToken: matrixToken, ForceJoinVia: ForceJoinAuto, Auth: AuthSynapse},
		Appservice: AppserviceConfig{ID: "authentik-matrix-sync", Address: "http://127.0.0.1:29333",
			Hostname: "127.0.0.1", Port: 29333, BotUsername: "authentik-sync"},
		Authentik: AuthentikConfig{URL: "https://auth.example.com", Token: authentikToken, PageSize: 100, Timeout: 30 * time.Second},
		Sync: SyncConfig{Interval: 60 * time.Second, JoinMethod: JoinInvite, GracePeriod: 24 * time.Hour,
			RemoveAction: RemoveKick, MaxRemovalsPerCycle: 10, MaxRemovalFraction: 0.25, MaxBackoff: 5 * time.Minute,
			MaxConcurrentWrites: 8, FullResyncInterval: time.Hour},
		Admin:       AdminConfig{CommandPrefix: "!sync"},
		Audit:       AuditConfig{MaxAge: 90 * 24 * time.Hour, MaxRows: 100000},
		UserMapping: UserMappingConfig{Template: "@{username}:{server}", Attribute: "matrix_id", Server: "example.com", Source: SourceTemplate, ExternalID: ExternalIDConfig{Subject: "uid", Refresh: time.Hour}},
		Database:    DatabaseConfig{Type: DatabaseSQLite, DataDir: "./data", BackupRetention: 3, Schema: "authentik_matrix_sync", MaxOpenConns: 4, MaxIdleConns: 2, PgDump: "pg_dump"},
		Logging:     LoggingConfig{Level: "info", Format: LogFormatAuto},
		Health:      HealthConfig{Listen: "127.0.0.1:9100"},
		Metrics:     MetricsConfig{Listen: "127.0.0.1:9100"},
		Webhook:     WebhookConfig{Header: "Authorization", Debounce: 250 * time.Millisecond},
		Directory:   DirectoryConfig{Source: DirectorySourceAuthentik},
		SCIM:        SCIMConfig{Settle: 2 * time.Minute, Debounce: DefaultSCIMDebounce},
		Deactivated: DeactivatedConfig{Remove: DeactivatedRemoveImmediately},
		Warnings:    []string{"sync.mappings / SYNC_MAPPINGS is empty: no room will be managed; add mappings such as " + mappingsExample},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
}

// TestEachEnvironmentVariable sets one variable over a valid environment and checks that the
// whole configuration changed exactly as expected.
func TestEachEnvironmentVariable(t *testing.T) {
	dir := t.TempDir()
	secretFile := func(name, content string) string { return writeFile(t, dir, name, content, 0o600) }
	reg := writeFile(t, dir, "registration.yaml", "id: my-sync\nurl: http://bot:29333\nas_token: "+asToken+
		"\nhs_token: "+hsToken+"\nsender_localpart: syncbot\nrate_limited: false\nnamespaces:\n  users: [{exclusive: false, regex: '^@.*:example\\.com$'}]\n", 0o600)

	tests := []struct {
		name   string
		env    map[string]string
		change func(c *Config)
	}{
		{"MATRIX_HOMESERVER_URL", map[string]string{"MATRIX_HOMESERVER_URL": "http://synapse:8008/"},
			func(c *Config) { c.Homeserver.Address = "http://synapse:8008" }},
		{"MATRIX_USER_ID", map[string]string{"MATRIX_USER_ID": "@other:other.org"}, func(c *Config) {
			c.Matrix.UserID = "@other:other.org"
			c.Homeserver.Domain, c.UserMapping.Server = "other.org", "other.org"
		}},
		{"MATRIX_ACCESS_TOKEN", map[string]string{"MATRIX_ACCESS_TOKEN": "syt-SECRET-other"},
			func(c *Config) { c.Matrix.AccessToken = "syt-SECRET-other" }},
		{"MATRIX_ACCESS_TOKEN_FILE", map[string]string{"MATRIX_ACCESS_TOKEN": unset, "MATRIX_ACCESS_TOKEN_FILE": secretFile("mx", matrixToken+"-f\n")},
			func(c *Config) {
				c.Matrix.AccessToken = matrixToken + "-f"
				c.Matrix.AccessTokenFile = filepath.Join(dir, "mx")
			}},
		{"FORCE_JOIN_VIA", map[string]string{"FORCE_JOIN_VIA": "Admin_API"}, func(c *Config) { c.Matrix.ForceJoinVia = ForceJoinAdminAPI }},
		{"APPSERVICE_REGISTRATION", map[string]string{"APPSERVICE_REGISTRATION": reg, "MATRIX_USER_ID": "@syncbot:example.com", "MATRIX_ACCESS_TOKEN": unset}, func(c *Config) {
			c.Appservice = AppserviceConfig{Registration: reg, ID: "my-sync", Address: "http://bot:29333", Hostname: "127.0.0.1",
				Port: 29333, BotUsername: "syncbot", ASToken: asToken, HSToken: hsToken}
			c.Matrix.UserID, c.Matrix.AccessToken = "@syncbot:example.com", ""
		}},
		{"APPSERVICE_AS_TOKEN", map[string]string{"APPSERVICE_AS_TOKEN": asToken, "APPSERVICE_HS_TOKEN": hsToken, "MATRIX_ACCESS_TOKEN": unset, "MATRIX_USER_ID": "@authentik-sync:example.com"}, func(c *Config) {
			c.Appservice.ASToken, c.Appservice.HSToken = asToken, hsToken
			c.Matrix.AccessToken, c.Matrix.UserID = "", "@authentik-sync:example.com"
		}},
		{"APPSERVICE_AS_TOKEN_FILE", map[string]string{"APPSERVICE_AS_TOKEN_FILE": secretFile("as", asToken+"\r\n"), "APPSERVICE_HS_TOKEN_FILE": secretFile("hs", hsToken),
			"MATRIX_ACCESS_TOKEN": unset, "MATRIX_USER_ID": "@authentik-sync:example.com"}, func(c *Config) {
			c.Appservice.ASToken, c.Appservice.HSToken = asToken, hsToken
			c.Matrix.AccessToken, c.Matrix.UserID = "", "@authentik-sync:example.com"
		}},
		{"AUTHENTIK_URL", map[string]string{"AUTHENTIK_URL": "http://authentik:9000/"}, func(c *Config) { c.Authentik.URL = "http://authentik:9000" }},
		{"AUTHENTIK_TOKEN", map[string]string{"AUTHENTIK_TOKEN": "ak-SECRET-other"}, func(c *Config) { c.Authentik.Token = "ak-SECRET-other" }},
		{"AUTHENTIK_TOKEN_FILE", map[string]string{"AUTHENTIK_TOKEN": unset, "AUTHENTIK_TOKEN_FILE": secretFile("ak", authentikToken+"\n\n")},
			func(c *Config) { c.Authentik.Token = authentikToken; c.Authentik.TokenFile = filepath.Join(dir, "ak") }},
		{"SYNC_INTERVAL_SECONDS", map[string]string{"SYNC_INTERVAL_SECONDS": "300"}, func(c *Config) { c.Sync.Interval = 5 * time.Minute }},
		{"JOIN_METHOD", map[string]string{"JOIN_METHOD": "force"}, func(c *Config) { c.Sync.JoinMethod = JoinForce }},
		{"CLEANUP_GRACE_PERIOD_MINUTES", map[string]string{"CLEANUP_GRACE_PERIOD_MINUTES": "120"}, func(c *Config) { c.Sync.GracePeriod = 2 * time.Hour }},
		{"CLEANUP_GRACE_PERIOD_MINUTES zero", map[string]string{"CLEANUP_GRACE_PERIOD_MINUTES": "0"}, func(c *Config) { c.Sync.GracePeriod = 0 }},
		{"REMOVE_ACTION", map[string]string{"REMOVE_ACTION": "BAN"}, func(c *Config) { c.Sync.RemoveAction = RemoveBan }},
		{"SYNC_MAPPINGS", map[string]string{"SYNC_MAPPINGS": `[{"group":"Staff","room":"#staff:example.com","method":"force","rejoin":true}]`},
			func(c *Config) {
				c.Sync.Mappings = []Mapping{{Group: "Staff", Room: "#staff:example.com", Method: JoinForce, Rejoin: true}}
			}},
		{"DATA_DIR", map[string]string{"DATA_DIR": "/app/data"}, func(c *Config) { c.Database.DataDir = "/app/data" }},
		{"DB_BACKUP_RETENTION_COUNT", map[string]string{"DB_BACKUP_RETENTION_COUNT": "7"}, func(c *Config) { c.Database.BackupRetention = 7 }},
		{"LOG_LEVEL", map[string]string{"LOG_LEVEL": "WARNING"}, func(c *Config) { c.Logging.Level = "warn" }},
		{"LOG_LEVEL debug", map[string]string{"LOG_LEVEL": "Debug"}, func(c *Config) { c.Logging.Level = "debug" }},
		{"LOG_FORMAT", map[string]string{"LOG_FORMAT": "json"}, func(c *Config) { c.Logging.Format = LogFormatJSON }},
		{"HEALTH_LISTEN", map[string]string{"HEALTH_LISTEN": "0.0.0.0:9200"}, func(c *Config) { c.Health.Listen, c.Metrics.Listen = "0.0.0.0:9200", "0.0.0.0:9200" }},
		{"HEALTH_LISTEN empty disables", map[string]string{"HEALTH_LISTEN": ""}, func(c *Config) { c.Health.Listen, c.Metrics.Listen = "", "" }},
		{"METRICS_LISTEN wins over HEALTH_LISTEN", map[string]string{"METRICS_LISTEN": "[::1]:9300", "HEALTH_LISTEN": "0.0.0.0:9200"}, func(c *Config) { c.Health.Listen, c.Metrics.Listen = "[::1]:9300", "[::1]:9300" }},
		{"METRICS_PPROF", map[string]string{"METRICS_PPROF": "true"}, func(c *Config) { c.Metrics.Pprof = true }},
		{"empty value counts as unset", map[string]string{"JOIN_METHOD": "", "DATA_DIR": "  "}, func(*Config) {}},
	}
	base := mustLoad(t, "", clientEnv())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, "", with(clientEnv(), tt.env))
			want := *base
			want.Sync.Mappings = append([]Mapping(nil), base.Sync.Mappings...)
			tt.change(&want)
			got.Warnings, want.Warnings = nil, nil
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("config differs:\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestFileThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "ak-token", authentikToken+"\n", 0o600)
	path := writeFile(t, dir, "config.yaml", `
homeserver:
  address: https://matrix.example.org
  domain: example.org
matrix:
  user_id: "@sync:example.org"
  access_token_file: `+writeFile(t, dir, "mx-token", matrixToken, 0o600)+`
authentik:
  url: https://auth.example.org/
  token_file: `+tokenFile+`
  page_size: 50
sync:
  interval: 2m
  grace_period: 0s
  join_method: invite
  mappings:
    - group: Staff
      room: "#staff:example.org"
    - group: Admins
      space: "!admins:example.org"
      method: force
user_mapping:
  attribute: ""
health:
  listen: ""
`, 0o600)

	t.Run("file alone", func(t *testing.T) {
		c := mustLoad(t, path, nil)
		if c.Homeserver.Address != "https://matrix.example.org" || c.Authentik.URL != "https://auth.example.org" ||
			c.Authentik.Token != authentikToken || c.Matrix.AccessToken != matrixToken || c.Authentik.PageSize != 50 ||
			c.Sync.Interval != 2*time.Minute || c.Sync.GracePeriod != 0 || c.UserMapping.Attribute != "" ||
			c.Health.Listen != "" || c.UserMapping.Server != "example.org" {
			t.Errorf("file values not taken: %+v", c)
		}
		want := []Mapping{{Group: "Staff", Room: "#staff:example.org"}, {Group: "Admins", Room: "!admins:example.org", Method: JoinForce}}
		if !reflect.DeepEqual(c.Sync.Mappings, want) {
			t.Errorf("mappings = %+v, want %+v", c.Sync.Mappings, want)
		}
		if len(c.Warnings) != 0 {
			t.Errorf("warnings = %q", c.Warnings)
		}
	})
	t.Run("environment overrides field by field", func(t *testing.T) {
		c := mustLoad(t, path, map[string]string{
			"SYNC_INTERVAL_SECONDS": "30",
			"AUTHENTIK_TOKEN":       "ak-SECRET-from-env",
			"SYNC_MAPPINGS":         `[{"group":"Ops","space":"#ops:example.org"}]`,
			"HEALTH_LISTEN":         "127.0.0.1:9999",
		})
		if c.Sync.Interval != 30*time.Second || c.Authentik.Token != "ak-SECRET-from-env" || c.Authentik.TokenFile != "" ||
			c.Health.Listen != "127.0.0.1:9999" {
			t.Errorf("environment did not override: %+v", c)
		}
		// Untouched by the environment, so still from the file.
		if c.Authentik.PageSize != 50 || c.Sync.GracePeriod != 0 || c.Homeserver.Domain != "example.org" {
			t.Errorf("file values lost: %+v", c)
		}
		if want := []Mapping{{Group: "Ops", Room: "#ops:example.org"}}; !reflect.DeepEqual(c.Sync.Mappings, want) {
			t.Errorf("SYNC_MAPPINGS must replace the file's list: got %+v", c.Sync.Mappings)
		}
	})
}

func TestMissingExplicitFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), envFunc(clientEnv()))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("err = %v, want a not-exist error naming the file", err)
	}
}

func TestInvalidSettings(t *testing.T) {
	dir := t.TempDir()
	reg := writeFile(t, dir, "registration.yaml", "id: my-sync\nurl: http://bot:29333\nas_token: "+asToken+
		"\nhs_token: "+hsToken+"\nsender_localpart: syncbot\n", 0o600)
	empty := writeFile(t, dir, "empty-token", "\n", 0o600)
	twoLines := writeFile(t, dir, "two-lines", matrixToken+"\nsecond\n", 0o600)

	tests := []struct {
		name string
		env  map[string]string
		file string   // YAML; "" for none
		want []string // all must appear in the error
	}{
		{"unknown join method", map[string]string{"JOIN_METHOD": "sometimes"}, "", []string{"JOIN_METHOD", `"sometimes"`, "invite or force"}},
		{"negative interval", map[string]string{"SYNC_INTERVAL_SECONDS": "-5"}, "", []string{"SYNC_INTERVAL_SECONDS", "negative"}},
		{"non-integer interval", map[string]string{"SYNC_INTERVAL_SECONDS": "1.5"}, "", []string{"SYNC_INTERVAL_SECONDS", "not a whole number"}},
		{"interval with unit", map[string]string{"SYNC_INTERVAL_SECONDS": "60s"}, "", []string{"SYNC_INTERVAL_SECONDS", "digits only"}},
		{"interval below minimum", map[string]string{"SYNC_INTERVAL_SECONDS": "0"}, "", []string{"SYNC_INTERVAL_SECONDS", "minimum 1s"}},
		{"interval overflow", map[string]string{"SYNC_INTERVAL_SECONDS": "9223372036854775807"}, "", []string{"SYNC_INTERVAL_SECONDS", "too large"}},
		{"negative grace", map[string]string{"CLEANUP_GRACE_PERIOD_MINUTES": "-1"}, "", []string{"CLEANUP_GRACE_PERIOD_MINUTES", "negative"}},
		{"grace not a number", map[string]string{"CLEANUP_GRACE_PERIOD_MINUTES": "24h"}, "", []string{"CLEANUP_GRACE_PERIOD_MINUTES", "minutes"}},
		{"unknown remove action", map[string]string{"REMOVE_ACTION": "delete"}, "", []string{"REMOVE_ACTION", "kick or ban"}},
		{"retention zero", map[string]string{"DB_BACKUP_RETENTION_COUNT": "0"}, "", []string{"DB_BACKUP_RETENTION_COUNT", "at least 1"}},
		{"retention text", map[string]string{"DB_BACKUP_RETENTION_COUNT": "three"}, "", []string{"DB_BACKUP_RETENTION_COUNT", "whole number"}},
		{"log level", map[string]string{"LOG_LEVEL": "verbose"}, "", []string{"LOG_LEVEL", "DEBUG, INFO, WARNING or ERROR"}},
		{"log format", map[string]string{"LOG_FORMAT": "xml"}, "", []string{"LOG_FORMAT", "auto, json or console"}},
		{"health listen", map[string]string{"HEALTH_LISTEN": "9100"}, "", []string{"HEALTH_LISTEN", "host:port"}},
		{"metrics listen", map[string]string{"METRICS_LISTEN": "localhost"}, "", []string{"METRICS_LISTEN", "host:port"}},
		{"metrics listen on port 0", map[string]string{"METRICS_LISTEN": "127.0.0.1:0"}, "", []string{"METRICS_LISTEN", "host:port"}},
		{"metrics pprof", map[string]string{"METRICS_PPROF": "sometimes"}, "", []string{"METRICS_PPROF", "true or false"}},
		{"both listen names in the file", nil, "health: {listen: '127.0.0.1:1'}\nmetrics: {listen: '127.0.0.1:2'}\n", []string{"health.listen", "keep metrics.listen only"}},
		{"mappings truncated JSON", map[string]string{"SYNC_MAPPINGS": `[{"group":"Admins","space":"!a:example.com"`}, "", []string{"SYNC_MAPPINGS", "malformed JSON at byte 43"}},
		{"mappings syntax error", map[string]string{"SYNC_MAPPINGS": `[{"group":"Admins",}]`}, "", []string{"SYNC_MAPPINGS", "malformed JSON at byte 20"}},
		{"mappings not an array", map[string]string{"SYNC_MAPPINGS": `{"group":"Admins","space":"!a:example.com"}`}, "", []string{"SYNC_MAPPINGS", "at byte"}},
		{"mappings wrong field type", map[string]string{"SYNC_MAPPINGS": `[{"group":7,"space":"!a:example.com"}]`}, "", []string{"SYNC_MAPPINGS", `"group"`, "at byte"}},
		{"mappings trailing text", map[string]string{"SYNC_MAPPINGS": `[] []`}, "", []string{"SYNC_MAPPINGS", "after the JSON array"}},
		{"mappings unknown key", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com","metod":"force"}]`}, "", []string{"SYNC_MAPPINGS", "metod"}},
		{"mapping without group", map[string]string{"SYNC_MAPPINGS": `[{"space":"!a:example.com"}]`}, "", []string{"sync mapping #1", "SYNC_MAPPINGS", "no group"}},
		{"mapping without room", map[string]string{"SYNC_MAPPINGS": `[{"group":"A"}]`}, "", []string{"sync mapping #1", "SYNC_MAPPINGS", "no room"}},
		{"room neither ID nor alias", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"admins"}]`}, "", []string{"SYNC_MAPPINGS", `"admins"`, "neither a room ID nor an alias"}},
		{"room without server", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!admins"}]`}, "", []string{"SYNC_MAPPINGS", "no server name"}},
		{"room with bad server", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"#a:exa mple.com"}]`}, "", []string{"SYNC_MAPPINGS", "invalid server name"}},
		{"room and space differ", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com","room":"!b:example.com"}]`}, "", []string{"SYNC_MAPPINGS", "both room", "keep one"}},
		{"mapping method", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com","method":"push"}]`}, "", []string{"SYNC_MAPPINGS", `"push"`}},
		{"duplicate mapping", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com"},{"group":"A","room":"!a:example.com","method":"force"}]`}, "", []string{"sync mapping #2", "of mapping #1"}},
		{"bad user ID", map[string]string{"MATRIX_USER_ID": "bot"}, "", []string{"MATRIX_USER_ID", `"bot"`, "@localpart:server"}},
		{"user ID of another server", nil, "homeserver: {domain: example.org}\n", []string{"MATRIX_USER_ID", "differs from homeserver.domain"}},
		{"homeserver URL without scheme", map[string]string{"MATRIX_HOMESERVER_URL": "matrix.example.com"}, "", []string{"MATRIX_HOMESERVER_URL", "http://"}},
		{"homeserver URL credentials not echoed", map[string]string{"MATRIX_HOMESERVER_URL": "ftp://user:" + matrixToken + "@matrix.example.com"}, "", []string{"MATRIX_HOMESERVER_URL", "xxxxx"}},
		{"authentik URL not http", map[string]string{"AUTHENTIK_URL": "ftp://auth.example.com"}, "", []string{"AUTHENTIK_URL", "http://"}},
		{"missing authentik URL", map[string]string{"AUTHENTIK_URL": unset}, "", []string{"AUTHENTIK_URL", "required"}},
		{"missing authentik token", map[string]string{"AUTHENTIK_TOKEN": unset}, "", []string{"AUTHENTIK_TOKEN", "required"}},
		{"missing access token", map[string]string{"MATRIX_ACCESS_TOKEN": unset}, "", []string{"MATRIX_ACCESS_TOKEN", "APPSERVICE_REGISTRATION"}},
		{"missing user ID", map[string]string{"MATRIX_USER_ID": unset}, "", []string{"MATRIX_USER_ID", "required"}},
		{"missing homeserver", map[string]string{"MATRIX_HOMESERVER_URL": unset}, "", []string{"MATRIX_HOMESERVER_URL", "required"}},
		{"token and token file", map[string]string{"AUTHENTIK_TOKEN_FILE": empty}, "", []string{"AUTHENTIK_TOKEN", "AUTHENTIK_TOKEN_FILE", "keep one"}},
		{"token and token file in YAML", map[string]string{"AUTHENTIK_TOKEN": unset}, "authentik: {token: x, token_file: /x}\n", []string{"authentik.token", "keep one"}},
		{"empty token file", map[string]string{"AUTHENTIK_TOKEN": unset, "AUTHENTIK_TOKEN_FILE": empty}, "", []string{"AUTHENTIK_TOKEN_FILE", "empty"}},
		{"missing token file", map[string]string{"MATRIX_ACCESS_TOKEN": unset, "MATRIX_ACCESS_TOKEN_FILE": filepath.Join(dir, "absent")}, "", []string{"MATRIX_ACCESS_TOKEN_FILE", "absent", "cannot open"}},
		{"token file of two lines", map[string]string{"MATRIX_ACCESS_TOKEN": unset, "MATRIX_ACCESS_TOKEN_FILE": twoLines}, "", []string{"MATRIX_ACCESS_TOKEN_FILE", "more than one line"}},
		{"force via appservice in client mode", map[string]string{"FORCE_JOIN_VIA": "appservice"}, "", []string{"FORCE_JOIN_VIA", "needs appservice mode"}},
		{"unknown force route", map[string]string{"FORCE_JOIN_VIA": "teleport"}, "", []string{"FORCE_JOIN_VIA", "auto, admin_api or appservice"}},
		{"postgres without a URL", nil, "database: {type: postgres}\n", []string{"database.uri", "DATABASE_URL", "postgres://"}},
		{"postgres schema", map[string]string{"DATABASE_URL": "postgres://bot@db/matrix", "DATABASE_SCHEMA": "Bot-State"}, "", []string{"DATABASE_SCHEMA", "lower-case identifier"}},
		{"postgres pool", map[string]string{"DATABASE_URL": "postgres://bot@db/matrix"}, "database: {max_open_conns: 2, max_idle_conns: 3}\n", []string{"database.max_open_conns", "max_idle_conns <= max_open_conns"}},
		{"unknown database", nil, "database: {type: mysql}\n", []string{"database.type", "sqlite or postgres"}},
		{"page size", nil, "authentik: {page_size: 0}\n", []string{"authentik.page_size", "1 to 1000"}},
		{"timeout", nil, "authentik: {timeout: 0s}\n", []string{"authentik.timeout", "positive"}},
		{"template without @", nil, "user_mapping: {template: '{username}:example.com'}\n", []string{"user_mapping.template", "must start with @"}},
		{"template placeholder", nil, "user_mapping: {template: '@{name}:{server}'}\n", []string{"user_mapping.template", "unknown placeholder {name}"}},
		{"template without server", nil, "user_mapping: {template: '@{username}'}\n", []string{"user_mapping.template", "no ':'"}},
		{"unknown YAML key", nil, "sync:\n  interval: 60s\n  intervall: 30s\n", []string{"line 3", `"intervall"`, "under sync", `did you mean "interval"`}},
		{"unknown YAML key in a mapping", nil, "sync:\n  mappings:\n    - group: A\n      roomm: '!a:example.com'\n", []string{"line 4", `"roomm"`, "sync.mappings[]"}},
		{"unknown top-level key", nil, "matrixx: {}\n", []string{"line 1", `"matrixx"`, "top level"}},
		{"YAML list for a section", nil, "logging: [debug]\n", []string{"line 1", "a list cannot be used here"}},
		{"YAML interval as a number", nil, "sync: {interval: 60}\n", []string{"line 1", "duration such as"}},
		{"registration missing", map[string]string{"APPSERVICE_REGISTRATION": filepath.Join(dir, "missing.yaml")}, "", []string{"APPSERVICE_REGISTRATION", "does not exist", "-g"}},
		{"registration tokens disagree", map[string]string{"APPSERVICE_REGISTRATION": reg, "APPSERVICE_AS_TOKEN": "as-SECRET-other", "MATRIX_USER_ID": unset}, "", []string{"APPSERVICE_AS_TOKEN", "differs from the one in the registration"}},
		{"registration ID disagrees", map[string]string{"APPSERVICE_REGISTRATION": reg, "MATRIX_USER_ID": unset}, "appservice: {id: other}\n", []string{"appservice.id", `"other"`, `"my-sync"`}},
		{"appservice user ID disagrees", map[string]string{"APPSERVICE_REGISTRATION": reg}, "", []string{"MATRIX_USER_ID", "@syncbot:example.com"}},
		{"appservice without hs_token", map[string]string{"APPSERVICE_AS_TOKEN": asToken, "MATRIX_USER_ID": unset}, "homeserver: {domain: example.com}\n", []string{"APPSERVICE_HS_TOKEN", "missing"}},
		{"appservice without domain", map[string]string{"APPSERVICE_REGISTRATION": reg, "MATRIX_USER_ID": unset}, "", []string{"homeserver.domain", "required"}},
		{"appservice port", map[string]string{"APPSERVICE_REGISTRATION": reg, "MATRIX_USER_ID": unset}, "homeserver: {domain: example.com}\nappservice: {port: 70000}\n", []string{"appservice.port", "1 to 65535"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, t.TempDir(), "config.yaml", tt.file, 0o600)
			}
			_, err := Load(path, envFunc(with(clientEnv(), tt.env)))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Errorf("error is %T, want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			assertNoSecrets(t, "error", err.Error())
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	_, err := Load("", envFunc(with(clientEnv(), map[string]string{
		"JOIN_METHOD":           "sometimes",
		"SYNC_INTERVAL_SECONDS": "-1",
		"REMOVE_ACTION":         "delete",
		"SYNC_MAPPINGS":         `[{"group":"","space":"nowhere"}]`,
		"AUTHENTIK_TOKEN":       unset,
	})))
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if len(cfgErr.Problems) != 6 {
		t.Errorf("got %d problems, want 6:\n%v", len(cfgErr.Problems), err)
	}
	for _, p := range cfgErr.Problems {
		if p.Setting == "" || p.Message == "" {
			t.Errorf("problem without setting or message: %+v", p)
		}
	}
}

func TestAppserviceRegistration(t *testing.T) {
	dir := t.TempDir()
	reg := writeFile(t, dir, "registration.yaml", "id: my-sync\nurl: http://bot:29333/\nas_token: "+asToken+
		"\nhs_token: "+hsToken+"\nsender_localpart: syncbot\n", 0o644)
	env := with(seedEnv(), map[string]string{"APPSERVICE_REGISTRATION": reg, "MATRIX_USER_ID": unset, "MATRIX_ACCESS_TOKEN": unset})
	cfgFile := writeFile(t, dir, "config.yaml", "homeserver: {domain: example.com}\nappservice: {id: my-sync, bot_username: syncbot}\n", 0o644)

	c := mustLoad(t, cfgFile, env)
	if !c.AppserviceMode() {
		t.Error("AppserviceMode() = false with a registration")
	}
	if c.Appservice.ASToken != asToken || c.Appservice.HSToken != hsToken || c.Appservice.Address != "http://bot:29333" {
		t.Errorf("registration not merged: %+v", c.Appservice)
	}
	if c.Matrix.UserID != "@syncbot:example.com" {
		t.Errorf("user ID = %q, want @syncbot:example.com", c.Matrix.UserID)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "chmod 600 "+reg) {
		t.Errorf("warnings = %q, want one about the registration's mode (the config file holds no secret)", c.Warnings)
	}
	if c.Matrix.ForceJoinVia != ForceJoinAuto {
		t.Errorf("force_join_via = %q", c.Matrix.ForceJoinVia)
	}
	if _, err := Load(cfgFile, envFunc(with(env, map[string]string{"FORCE_JOIN_VIA": "appservice"}))); err != nil {
		t.Errorf("FORCE_JOIN_VIA=appservice in appservice mode: %v", err)
	}
}

func TestGenerateNeedsNoRegistrationFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "registration.yaml")
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr string
	}{
		{"fresh setup", "homeserver: {domain: corp.test}\nappservice: {registration: " + missing + "}\n", nil, ""},
		{"domain from user ID", "", map[string]string{"MATRIX_USER_ID": "@sync:corp.test"}, ""},
		{"example domain refused", "homeserver: {domain: example.com}\n", nil, "still example.com"},
		{"no domain", "", nil, "homeserver.domain"},
		{"bad bot username", "homeserver: {domain: corp.test}\nappservice: {bot_username: Sync Bot}\n", nil, "appservice.bot_username"},
		{"bad address", "homeserver: {domain: corp.test}\nappservice: {address: 'bot:29333'}\n", nil, "appservice.address"},
		{"id with pipe", "homeserver: {domain: corp.test}\nappservice: {id: 'a|b'}\n", nil, "'|'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, t.TempDir(), "config.yaml", tt.file, 0o600)
			}
			c, err := LoadForGenerate(path, envFunc(tt.env))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadForGenerate: %v", err)
				}
				if c.Homeserver.Domain != "corp.test" || c.Appservice.ID != DefaultAppserviceID || c.Appservice.BotUsername == "" {
					t.Errorf("generate settings: domain %q id %q bot %q", c.Homeserver.Domain, c.Appservice.ID, c.Appservice.BotUsername)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
	// The same fresh setup cannot run the bot.
	path := writeFile(t, t.TempDir(), "config.yaml", tests[0].file, 0o600)
	if _, err := Load(path, envFunc(clientEnv())); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Load with a missing registration: err = %v, want 'does not exist'", err)
	}
}

func TestSecretFileWarnings(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		mode     os.FileMode
		wantWarn bool
	}{
		{"private", 0o600, false},
		{"owner read-only", 0o400, false},
		{"group readable", 0o640, true},
		{"world readable", 0o644, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, tt.name, authentikToken+"\n", tt.mode)
			c := mustLoad(t, "", with(seedEnv(), map[string]string{"AUTHENTIK_TOKEN": unset, "AUTHENTIK_TOKEN_FILE": path}))
			if c.Authentik.Token != authentikToken {
				t.Errorf("token = %q", c.Authentik.Token)
			}
			warned := strings.Contains(strings.Join(c.Warnings, "\n"), "chmod 600 "+path)
			if warned != tt.wantWarn {
				t.Errorf("warned = %v, want %v (warnings %q)", warned, tt.wantWarn, c.Warnings)
			}
		})
	}
	t.Run("config file holding a secret", func(t *testing.T) {
		path := writeFile(t, dir, "config.yaml", "authentik: {token: "+authentikToken+"}\n", 0o644)
		c := mustLoad(t, path, with(seedEnv(), map[string]string{"AUTHENTIK_TOKEN": unset}))
		if !strings.Contains(strings.Join(c.Warnings, "\n"), "chmod 600 "+path) {
			t.Errorf("no warning about %s: %q", path, c.Warnings)
		}
	})
	// Every secret counts, not only the first ones added: the list is Config.secrets.
	for name, file := range map[string]string{
		"scim.token":     "scim: {token: " + scimToken + ", listen: \"0.0.0.0:9201\"}\n",
		"webhook.secret": "webhook: {secret: " + webhookSecret + "}\n",
	} {
		t.Run("config file holding "+name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", file, 0o644)
			c := mustLoad(t, path, seedEnv())
			if !strings.Contains(strings.Join(c.Warnings, "\n"), "chmod 600 "+path) {
				t.Errorf("no warning about %s: %q", path, c.Warnings)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // "" for no warning
	}{
		{"seed setup", nil, ""},
		{"rejoin without force", map[string]string{"JOIN_METHOD": "invite", "SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com","rejoin":true}]`}, "rejoin has no effect"},
		{"API path in Authentik URL", map[string]string{"AUTHENTIK_URL": "https://auth.example.com/api/v3/"}, "ends in /api/v3"},
		{"no mappings", map[string]string{"SYNC_MAPPINGS": "[]"}, "no room will be managed"},
		{"same room, two methods", map[string]string{"SYNC_MAPPINGS": `[{"group":"A","space":"!a:example.com","method":"invite"},{"group":"B","space":"!a:example.com","method":"force"}]`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, "", with(seedEnv(), tt.env))
			got := strings.Join(c.Warnings, "\n")
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("warnings = %q, want %q", got, tt.want)
			}
		})
	}
	c := mustLoad(t, "", with(seedEnv(), map[string]string{"AUTHENTIK_URL": "https://auth.example.com/api/v3"}))
	if c.Authentik.URL != "https://auth.example.com" {
		t.Errorf("Authentik URL = %q, want the base URL", c.Authentik.URL)
	}
}

func TestRedacted(t *testing.T) {
	env := with(seedEnv(), map[string]string{"APPSERVICE_AS_TOKEN": asToken, "APPSERVICE_HS_TOKEN": hsToken, "MATRIX_USER_ID": "@authentik-sync:example.com"})
	c := mustLoad(t, "", env)
	out := c.Redacted()
	assertNoSecrets(t, "Redacted()", out)
	var back Config
	if err := yaml.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("Redacted() is not YAML: %v\n%s", err, out)
	}
	for name, got := range map[string]string{"authentik.token": back.Authentik.Token, "matrix.access_token": back.Matrix.AccessToken,
		"appservice.as_token": back.Appservice.ASToken, "appservice.hs_token": back.Appservice.HSToken} {
		if got != "<redacted>" {
			t.Errorf("%s = %q, want <redacted>", name, got)
		}
	}
	if back.Sync.Interval != c.Sync.Interval || back.Sync.Mappings[0].Room != "!admins:example.com" {
		t.Errorf("non-secret values changed: %+v", back.Sync)
	}
	if c.Authentik.Token != authentikToken {
		t.Error("Redacted() changed the config itself")
	}
}

func TestRoomProblem(t *testing.T) {
	tests := []struct {
		room string
		ok   bool
	}{
		{"!admins:example.com", true},
		{"#team:example.com", true},
		{"#team:matrix.example.com:8448", true},
		{"!abc:[::1]:8448", true},
		{"!" + strings.Repeat("Ab9_-", 8) + "xyz", true}, // room version 12: no server name
		{"!" + strings.Repeat("A", 42), false},
		{"!admins", false},
		{"#team", false},
		{"@alice:example.com", false},
		{"team:example.com", false},
		{"!:example.com", false},
		{"#team:", false},
		{"#team:bad_server!", false},
	}
	for _, tt := range tests {
		if msg := roomProblem(tt.room); (msg == "") != tt.ok {
			t.Errorf("roomProblem(%q) = %q, want ok=%v", tt.room, msg, tt.ok)
		}
	}
}

func TestTemplateProblem(t *testing.T) {
	tests := []struct {
		template string
		want     string // "" for valid
	}{
		{"@{username}:{server}", ""},
		{"@{email_localpart}:example.com", ""},
		{"@ak.{pk}:example.com:8448", ""},
		{"@{attr:matrix_localpart}:{server}", ""},
		{"@u{uid}:{server}", ""},
		{"{username}:{server}", "must start with @"},
		{"@{username}", "no ':'"},
		{"@:example.com", "empty localpart"},
		{"@{username}:", "empty server"},
		{"@{user}:{server}", "unknown placeholder {user}"},
		{"@{attr:}:{server}", "unknown placeholder {attr:}"},
		{"@{username:{server}", "unknown placeholder"},
		{"@{username}:{server", "without a matching }"},
		{"@Bot_{username}:{server}", "not allowed in a Matrix localpart"},
	}
	for _, tt := range tests {
		got := templateProblem(tt.template)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("templateProblem(%q) = %q, want %q", tt.template, got, tt.want)
		}
	}
}

func TestDatabaseTypeFollowsTheURL(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		file     string
		wantType string
	}{
		{"no URL", nil, "", DatabaseSQLite},
		{"postgres URL in the environment", map[string]string{"DATABASE_URL": "postgres://bot:pw@db:5432/matrix"}, "", DatabasePostgres},
		{"postgresql URL in the file", nil, "database: {uri: 'postgresql://bot@db/matrix'}\n", DatabasePostgres},
		{"explicit sqlite wins over a URL", map[string]string{"DATABASE_URL": "postgres://bot@db/matrix"}, "database: {type: sqlite}\n", DatabaseSQLite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, t.TempDir(), "config.yaml", tc.file, 0o600)
			}
			c := mustLoad(t, path, with(clientEnv(), tc.env))
			if c.Database.Type != tc.wantType {
				t.Errorf("database type %q, want %q", c.Database.Type, tc.wantType)
			}
		})
	}
}
