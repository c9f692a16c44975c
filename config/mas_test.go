package config

import (
	"strings"
	"testing"
)

const (
	masSecret   = "mas-SECRET-3d9a7c1b"
	masProvider = "01H8PKNWKKRPCBW4YGH1RWV279"
	masClient   = "01J44RKQYM4G3TNVANTMTDYTX6"
)

func TestMASSettings(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "mas-secret", masSecret+"\n", 0o600)
	fileConfig := writeFile(t, dir, "config.yaml", "matrix:\n  auth: mas\nmas:\n  url: https://auth.example.com/\n  client_id: "+masClient+
		"\n  client_secret_file: "+secretFile+"\n  upstream_provider: "+masProvider+
		"\nuser_mapping:\n  source: synapse_external_id\n", 0o600)
	externalIDs := writeFile(t, dir, "external.yaml", "user_mapping:\n  source: synapse_external_id\n", 0o600)
	masEnv := map[string]string{"MATRIX_AUTH": "mas", "MAS_URL": "https://auth.example.com", "MAS_CLIENT_ID": masClient, "MAS_CLIENT_SECRET": masSecret}
	tests := []struct {
		name     string
		path     string
		env      map[string]string
		wantAuth string
		want     MASConfig
		problem  string // part of the expected problem; "" means valid
		warning  string // part of an expected warning
	}{
		{name: "defaults: Synapse keeps the accounts", wantAuth: AuthSynapse},
		{name: "from the environment", env: with(masEnv, map[string]string{"MATRIX_AUTH": " MAS ", "MAS_URL": "https://auth.example.com/",
			"MAS_USE_FOR_SYNAPSE_ADMIN": "true"}), wantAuth: AuthMAS,
			want: MASConfig{URL: "https://auth.example.com", ClientID: masClient, ClientSecret: masSecret, UseForSynapseAdmin: true}},
		{name: "secret from a file named in the environment", env: with(masEnv, map[string]string{"MAS_CLIENT_SECRET": unset, "MAS_CLIENT_SECRET_FILE": secretFile}),
			wantAuth: AuthMAS, want: MASConfig{URL: "https://auth.example.com", ClientID: masClient, ClientSecret: masSecret, ClientSecretFile: secretFile}},
		{name: "from the file, external IDs from MAS without a Synapse auth provider", path: fileConfig, wantAuth: AuthMAS,
			want: MASConfig{URL: "https://auth.example.com", ClientID: masClient, ClientSecret: masSecret, ClientSecretFile: secretFile, UpstreamProvider: masProvider}},
		{name: "the environment's secret replaces the file's", path: fileConfig, env: map[string]string{"MAS_CLIENT_SECRET": masSecret + "2"}, wantAuth: AuthMAS,
			want: MASConfig{URL: "https://auth.example.com", ClientID: masClient, ClientSecret: masSecret + "2", UpstreamProvider: masProvider}},
		{name: "a provider id in lower case is the same id", env: with(masEnv, map[string]string{"MAS_UPSTREAM_PROVIDER": strings.ToLower(masProvider)}),
			wantAuth: AuthMAS, want: MASConfig{URL: "https://auth.example.com", ClientID: masClient, ClientSecret: masSecret, UpstreamProvider: masProvider},
			warning: "has no effect unless user_mapping.source is synapse_external_id"},
		{name: "MAS settings while Synapse keeps the accounts", env: map[string]string{"MAS_URL": "https://auth.example.com"}, wantAuth: AuthSynapse,
			want: MASConfig{URL: "https://auth.example.com"}, warning: "the mas settings are ignored because matrix.auth / MATRIX_AUTH is synapse"},
		{name: "an unknown account service", env: map[string]string{"MATRIX_AUTH": "keycloak"},
			problem: `account service (matrix.auth / MATRIX_AUTH): "keycloak" is not an account service; use synapse (the default) or mas`},
		{name: "no URL", env: with(masEnv, map[string]string{"MAS_URL": unset}), problem: "MAS URL (mas.url / MAS_URL): is required"},
		{name: "a URL that is no URL", env: with(masEnv, map[string]string{"MAS_URL": "auth.example.com"}), problem: "MAS URL (mas.url / MAS_URL): \"auth.example.com\" must start with http://"},
		{name: "no client ID", env: with(masEnv, map[string]string{"MAS_CLIENT_ID": unset}),
			problem: "MAS client ID (mas.client_id / MAS_CLIENT_ID): is required with matrix.auth mas; set it to the client_id of a client in MAS's clients list"},
		{name: "no secret", env: with(masEnv, map[string]string{"MAS_CLIENT_SECRET": unset}),
			problem: "MAS client secret (mas.client_secret / MAS_CLIENT_SECRET): is required with matrix.auth mas; set MAS_CLIENT_SECRET or MAS_CLIENT_SECRET_FILE"},
		{name: "both secret and file", env: with(masEnv, map[string]string{"MAS_CLIENT_SECRET_FILE": secretFile}), problem: "keep one of them"},
		{name: "a secret file that is missing", env: with(masEnv, map[string]string{"MAS_CLIENT_SECRET": unset, "MAS_CLIENT_SECRET_FILE": dir + "/nothing"}),
			problem: "MAS client secret file (mas.client_secret_file / MAS_CLIENT_SECRET_FILE): cannot open"},
		{name: "external IDs from MAS need the provider", path: externalIDs, env: masEnv,
			problem: "MAS upstream provider (mas.upstream_provider / MAS_UPSTREAM_PROVIDER): is required with user_mapping.source synapse_external_id and matrix.auth mas"},
		{name: "a provider that is no MAS id", path: externalIDs, env: with(masEnv, map[string]string{"MAS_UPSTREAM_PROVIDER": "oidc-authentik"}),
			problem: `"OIDC-AUTHENTIK" is not a MAS provider id`},
		{name: "a flag that is no boolean", env: with(masEnv, map[string]string{"MAS_USE_FOR_SYNAPSE_ADMIN": "yes please"}),
			problem: `MAS token for Synapse's admin API (mas.use_for_synapse_admin / MAS_USE_FOR_SYNAPSE_ADMIN): "yes please" is not true or false`},
		{name: "with Synapse keeping the accounts, external IDs still need Synapse's provider", path: externalIDs,
			problem: "external ID auth provider (user_mapping.external_id.auth_provider): is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, envFunc(with(clientEnv(), tt.env)))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tt.problem, err)
				}
				if strings.Contains(err.Error(), masSecret) {
					t.Errorf("the problem shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Matrix.Auth != tt.wantAuth || c.MAS != tt.want || c.UsesMAS() != (tt.wantAuth == AuthMAS) {
				t.Errorf("auth %q, mas %+v; want %q, %+v", c.Matrix.Auth, c.MAS, tt.wantAuth, tt.want)
			}
			warned := strings.Join(c.Warnings, "\n")
			if tt.warning != "" && !strings.Contains(warned, tt.warning) {
				t.Errorf("warnings %q lack %q", c.Warnings, tt.warning)
			}
			if tt.warning == "" && strings.Contains(warned, "mas") {
				t.Errorf("unexpected warnings %q", c.Warnings)
			}
			if r := c.Redacted(); strings.Contains(r, masSecret) || (c.MAS.ClientSecret != "" && !strings.Contains(r, "client_secret: <redacted>")) {
				t.Errorf("Redacted does not hide the MAS client secret:\n%s", r)
			}
		})
	}
}

// TestMASSecretInAReadableConfigFile: a config file holding the MAS secret is private, like one
// holding any other secret.
func TestMASSecretInAReadableConfigFile(t *testing.T) {
	path := writeFile(t, t.TempDir(), "config.yaml", "matrix:\n  auth: mas\nmas:\n  url: https://auth.example.com\n  client_id: "+masClient+
		"\n  client_secret: "+masSecret+"\n", 0o644)
	c, err := Load(path, envFunc(clientEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(c.Warnings, "\n"); !strings.Contains(w, "holds secrets and is readable") {
		t.Errorf("warnings %q; want the readable-file warning", c.Warnings)
	}
}
