package harness

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// generatedConfig mimics what `--generate-config` writes, including the final comment without a
// newline that breaks naive appending.
const generatedConfig = `# Configuration file for Synapse.
server_name: "localhost"
listeners:
  - port: 8008
    bind_addresses: ['::1', '127.0.0.1']
    resources:
      - names: [client, federation]
    type: http
registration_shared_secret: "keep-me"
trusted_key_servers:
  - server_name: "matrix.org"
macaroon_secret_key: "m"


# vim:ft=yaml`

func TestRewriteConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, configName)
	if err := os.WriteFile(path, []byte(generatedConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := testSettings{Dir: dir, Port: 41234, AppserviceRegistrations: []string{"/x/registration.yaml"}}
	if err := rewriteConfig(path, "localhost", settings); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("rewritten config is not YAML: %v\n%s", err, data)
	}

	tests := []struct {
		key  string
		want any
	}{
		{"server_name", "localhost"},
		{"macaroon_secret_key", "m"},
		{"registration_shared_secret", "keep-me"},
		{"enable_registration", false},
		{"report_stats", false},
		{"trusted_key_servers", []any{}},
		{"suppress_key_server_warning", true},
		{"presence", map[string]any{"enabled": false}},
		{"app_service_config_files", []any{"/x/registration.yaml"}},
		{"log_config", filepath.Join(dir, logConfigName)},
		{"database", map[string]any{"name": "sqlite3", "args": map[string]any{"database": filepath.Join(dir, "homeserver.db")}}},
		{"listeners", []any{map[string]any{
			"port": 41234, "bind_addresses": []any{"127.0.0.1"}, "type": "http", "tls": false, "x_forwarded": false,
			"resources": []any{map[string]any{"names": []any{"client"}, "compress": false}},
		}}},
		{"rc_joins", map[string]any{
			"local":  map[string]any{"per_second": 10000, "burst_count": 100000},
			"remote": map[string]any{"per_second": 10000, "burst_count": 100000},
		}},
	}
	for _, tc := range tests {
		if got := cfg[tc.key]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
		}
	}
	for _, key := range []string{"rc_message", "rc_registration", "rc_room_creation", "rc_login", "rc_invites", "rc_joins_per_room"} {
		if cfg[key] == nil {
			t.Errorf("%s not set", key)
		}
	}

	logCfg, err := os.ReadFile(filepath.Join(dir, logConfigName))
	if err != nil {
		t.Fatal(err)
	}
	var logParsed struct {
		Root struct {
			Level string `yaml:"level"`
		} `yaml:"root"`
		Handlers map[string]struct {
			Filename string `yaml:"filename"`
		} `yaml:"handlers"`
	}
	if err := yaml.Unmarshal(logCfg, &logParsed); err != nil {
		t.Fatal(err)
	}
	if logParsed.Root.Level != "WARNING" || logParsed.Handlers["file"].Filename != filepath.Join(dir, logName) {
		t.Errorf("log config = %+v, want WARNING to %s", logParsed, filepath.Join(dir, logName))
	}
}

func TestRewriteConfigRejects(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		server  string
		wantErr string
	}{
		{"another server's dir", generatedConfig, "example.org", `is for server "localhost", not "example.org"`},
		{"empty file", "", "localhost", "is empty"},
		{"broken YAML", "server_name: [", "localhost", "parse synapse config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, configName)
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			err := rewriteConfig(path, tc.server, testSettings{Dir: dir, Port: 1})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestRewriteConfigSetsMissingSecret(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, configName)
	if err := os.WriteFile(path, []byte("server_name: localhost\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewriteConfig(path, "localhost", testSettings{Dir: dir, Port: 1}); err != nil {
		t.Fatal(err)
	}
	s := &Synapse{Dir: dir}
	secret, err := s.sharedSecret()
	if err != nil || len(secret) < 20 {
		t.Fatalf("secret = %q, %v; want a long random one", secret, err)
	}
}

func TestRegistrationMAC(t *testing.T) {
	// Expected values computed with Python's hmac module, the way Synapse checks them.
	tests := []struct {
		nonce, user, password string
		admin                 bool
		want                  string
	}{
		{"abc123", "alice", "hunter2", false, "8008ea45b631da310941c27dea3de54e2aac39b9"},
		{"abc123", "admin", "pw", true, "ef729a67f814dac477980aac750f250517617409"},
	}
	for _, tc := range tests {
		if got := registrationMAC("topsecret", tc.nonce, tc.user, tc.password, tc.admin); got != tc.want {
			t.Errorf("registrationMAC(%s, %s, admin=%t) = %s, want %s", tc.nonce, tc.user, tc.admin, got, tc.want)
		}
	}
}

func TestTailFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		n       int
		want    string
	}{
		{"fewer lines than asked", "a\nb\n", 5, "a\nb\n"},
		{"last lines only", "a\nb\nc\nd\n", 2, "c\nd\n"},
		{"no final newline", "a\nb\nc", 2, "b\nc\n"},
		{"empty file", "", 3, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := tailFile(path, tc.n); got != tc.want {
				t.Errorf("tailFile(%q, %d) = %q, want %q", tc.content, tc.n, got, tc.want)
			}
		})
	}
	if got := tailFile(filepath.Join(t.TempDir(), "missing"), 3); got != "" {
		t.Errorf("tail of a missing file = %q, want empty", got)
	}
}

func TestAPIPathEscapesSegments(t *testing.T) {
	tests := []struct {
		segments []string
		want     string
	}{
		{[]string{"!abc:localhost", "kick"}, "/p/%21abc:localhost/kick"},
		{[]string{"#team:localhost"}, "/p/%23team:localhost"},
		{[]string{"@a/b:localhost"}, "/p/@a%2Fb:localhost"},
		{[]string{"state", "m.room.power_levels", ""}, "/p/state/m.room.power_levels/"},
	}
	for _, tc := range tests {
		if got := apiPath("/p", tc.segments...); got != tc.want {
			t.Errorf("apiPath(%q) = %q, want %q", tc.segments, got, tc.want)
		}
	}
}

func TestMatrixError(t *testing.T) {
	tests := []struct {
		name                string
		body                string
		wantCode, wantInMsg string
	}{
		{"matrix error", `{"errcode":"M_FORBIDDEN","error":"You are not invited to this room."}`, "M_FORBIDDEN", "not invited"},
		{"plain text", "Bad Gateway", "", "Bad Gateway"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := matrixError("POST", "/x", 403, []byte(tc.body))
			if e.ErrCode != tc.wantCode || !strings.Contains(e.Message, tc.wantInMsg) {
				t.Errorf("matrixError(%q) = %+v", tc.body, e)
			}
			if IsErrCode(e, "M_FORBIDDEN") != (tc.wantCode == "M_FORBIDDEN") {
				t.Errorf("IsErrCode mismatch for %+v", e)
			}
		})
	}
}
