package config

import (
	"strings"
	"testing"
	"time"
)

const scimToken = "scim-SECRET-8d2f6a0b4c1e"

func TestSCIMSettings(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "scim-token", scimToken+"\n", 0o600)
	fileConfig := writeFile(t, dir, "config.yaml", "directory:\n  source: scim\nscim:\n  listen: 0.0.0.0:9201\n  token_file: "+tokenFile+
		"\n  settle: 30s\n  debounce: 0s\n", 0o600)
	defaults := SCIMConfig{Settle: DefaultSCIMSettle, Debounce: DefaultSCIMDebounce}
	tests := []struct {
		name    string
		path    string
		env     map[string]string
		source  string
		want    SCIMConfig
		problem string // part of the expected problem; "" means valid
		warning string // part of an expected warning
	}{
		{"defaults: the API, no endpoint", "", nil, DirectorySourceAuthentik, defaults, "", ""},
		{"from the environment, on the webhook's listener", "", map[string]string{"DIRECTORY_SOURCE": "scim", "SCIM_TOKEN": scimToken,
			"WEBHOOK_LISTEN": "0.0.0.0:9200", "SCIM_SETTLE_SECONDS": "0", "SCIM_DEBOUNCE_MS": "250"},
			DirectorySourceSCIM, SCIMConfig{Token: scimToken, Debounce: 250 * time.Millisecond}, "", ""},
		{"a trigger only, on its own listener, token from a file", "", map[string]string{"SCIM_LISTEN": "0.0.0.0:9201", "SCIM_TOKEN_FILE": tokenFile},
			DirectorySourceAuthentik, SCIMConfig{Listen: "0.0.0.0:9201", Token: scimToken, TokenFile: tokenFile, Settle: DefaultSCIMSettle, Debounce: DefaultSCIMDebounce}, "", ""},
		{"from the file", fileConfig, nil, DirectorySourceSCIM,
			SCIMConfig{Listen: "0.0.0.0:9201", Token: scimToken, TokenFile: tokenFile, Settle: 30 * time.Second}, "", ""},
		{"a listener without a token is off", "", map[string]string{"SCIM_LISTEN": "0.0.0.0:9201"}, DirectorySourceAuthentik,
			SCIMConfig{Listen: "0.0.0.0:9201", Settle: DefaultSCIMSettle, Debounce: DefaultSCIMDebounce}, "", "SCIM endpoint is off"},
		{"an unknown source", "", map[string]string{"DIRECTORY_SOURCE": "ldap"}, "", SCIMConfig{}, "not a directory source", ""},
		{"scim without a token", "", map[string]string{"DIRECTORY_SOURCE": "scim", "SCIM_LISTEN": ":9201"}, "", SCIMConfig{}, "scim needs the SCIM endpoint", ""},
		{"scim without Authentik's API", "", map[string]string{"DIRECTORY_SOURCE": "scim", "SCIM_TOKEN": scimToken, "SCIM_LISTEN": ":9201",
			"AUTHENTIK_URL": unset, "AUTHENTIK_TOKEN": unset}, "", SCIMConfig{}, "scim needs Authentik's API too, to read the group tree", ""},
		{"a token and nowhere to listen", "", map[string]string{"SCIM_TOKEN": scimToken}, "", SCIMConfig{}, "set one of them", ""},
		{"a short token", "", map[string]string{"SCIM_TOKEN": "short", "SCIM_LISTEN": ":9201"}, "", SCIMConfig{}, "at least 16", ""},
		{"both token and file", "", map[string]string{"SCIM_TOKEN": scimToken, "SCIM_TOKEN_FILE": tokenFile, "SCIM_LISTEN": ":9201"}, "", SCIMConfig{}, "keep one of them", ""},
		{"listen without a port", "", map[string]string{"SCIM_TOKEN": scimToken, "SCIM_LISTEN": "0.0.0.0"}, "", SCIMConfig{}, "not host:port", ""},
		{"listen on port 0", "", map[string]string{"SCIM_TOKEN": scimToken, "SCIM_LISTEN": ":0"}, "", SCIMConfig{}, "no valid port", ""},
		{"listen shared with the webhook", "", map[string]string{"SCIM_TOKEN": scimToken, "SCIM_LISTEN": ":9200", "WEBHOOK_LISTEN": ":9200"}, "", SCIMConfig{}, "leave scim.listen empty", ""},
		{"listen shared with metrics", "", map[string]string{"SCIM_TOKEN": scimToken, "SCIM_LISTEN": "127.0.0.1:9100"}, "", SCIMConfig{}, "its own address", ""},
		{"settle too long", "", map[string]string{"SCIM_SETTLE_SECONDS": "7200"}, "", SCIMConfig{}, "use 0 to 1h0m0s", ""},
		{"debounce not a number", "", map[string]string{"SCIM_DEBOUNCE_MS": "1s"}, "", SCIMConfig{}, "SCIM_DEBOUNCE_MS", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, envFunc(with(clientEnv(), tt.env)))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tt.problem, err)
				}
				if strings.Contains(err.Error(), scimToken) || strings.Contains(err.Error(), "short\"") {
					t.Errorf("the problem shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.source == "" {
				return
			}
			if c.SCIM != tt.want || c.Directory.Source != tt.source {
				t.Errorf("scim = %+v, source %q; want %+v, %q", c.SCIM, c.Directory.Source, tt.want, tt.source)
			}
			if c.SCIMEnabled() != (tt.want.Token != "") {
				t.Errorf("SCIMEnabled = %v", c.SCIMEnabled())
			}
			warned := strings.Join(c.Warnings, "\n")
			if tt.warning != "" && !strings.Contains(warned, tt.warning) {
				t.Errorf("warnings %q lack %q", c.Warnings, tt.warning)
			}
			if strings.Contains(c.Redacted(), scimToken) {
				t.Error("Redacted shows the SCIM token")
			}
		})
	}
}

// With directory.source scim, a user mapping that needs what SCIM does not carry (Authentik's
// pk, its attributes) is refused at start rather than mapping everyone wrong.
func TestSCIMUserMapping(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"DIRECTORY_SOURCE": "scim", "SCIM_TOKEN": scimToken, "SCIM_LISTEN": ":9201"}
	for _, tc := range []struct{ yaml, problem string }{
		{"user_mapping:\n  template: '@{username}:{server}'\n", ""},
		{"user_mapping:\n  template: '@{uid}:{server}'\n", ""},
		{"user_mapping:\n  template: '@u{pk}:{server}'\n", "does not send"},
		{"user_mapping:\n  template: '@{attr:matrix_name}:{server}'\n", "does not send"},
		{"user_mapping:\n  source: synapse_external_id\n  external_id:\n    auth_provider: oidc-authentik\n    subject: pk\n", "not sent by Authentik's SCIM provider"},
	} {
		path := writeFile(t, dir, "config.yaml", tc.yaml, 0o600)
		_, err := Load(path, envFunc(with(clientEnv(), env)))
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("%q: %v", tc.yaml, err)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("%q: got %v, want a problem mentioning %q", tc.yaml, err, tc.problem)
		}
	}
}
