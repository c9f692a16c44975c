package config

import (
	"regexp"
	"strings"
)

// Values of matrix.auth: who keeps the homeserver's accounts.
const (
	// AuthSynapse: Synapse itself (the default).
	AuthSynapse = "synapse"
	// AuthMAS: Matrix Authentication Service, to which Synapse delegates its accounts.
	AuthMAS = "mas"
)

// MASConfig reaches Matrix Authentication Service's admin API (matrix.auth: mas).
type MASConfig struct {
	// URL is MAS's base URL, the issuer clients see; required with mas. The token endpoint is read
	// from <url>/.well-known/openid-configuration (else <url>/oauth2/token); the admin API is at
	// <url>/api/admin/v1/, so this listener needs MAS's adminapi resource.
	URL string `yaml:"url"`
	// ClientID is a client of MAS's clients list with client_auth_method: client_secret_basic,
	// named in MAS's policy.data.admin_clients (which grants it the urn:mas:admin scope); required
	// with mas.
	ClientID string `yaml:"client_id"`
	// ClientSecret is that client's client_secret. It is never logged.
	ClientSecret string `yaml:"client_secret"`
	// ClientSecretFile is a file holding the secret instead (one line).
	ClientSecretFile string `yaml:"client_secret_file"`
	// UpstreamProvider is, with user_mapping.source synapse_external_id, the id (a ULID such as
	// 01H8PKNWKKRPCBW4YGH1RWV279) of the Authentik provider in MAS's upstream_oauth2.providers.
	// Users are looked up by their upstream link at it (the subject is
	// user_mapping.external_id.subject); user_mapping.external_id.auth_provider is not used.
	UpstreamProvider string `yaml:"upstream_provider"`
	// UseForSynapseAdmin also sends every Synapse admin API call (admin joins, account and space
	// checks) with a MAS-issued token instead of the bot's own. Off by default: MAS's default
	// policy refuses the scopes Synapse needs (urn:matrix:client:api:* urn:synapse:admin:*) to a
	// client-credentials client, and Synapse only accepts admin tokens issued for a user.
	UseForSynapseAdmin bool `yaml:"use_for_synapse_admin"`
}

const (
	sMatrixAuth          setting = "account service (matrix.auth / MATRIX_AUTH)"
	sMASURL              setting = "MAS URL (mas.url / MAS_URL)"
	sMASClientID         setting = "MAS client ID (mas.client_id / MAS_CLIENT_ID)"
	sMASClientSecret     setting = "MAS client secret (mas.client_secret / MAS_CLIENT_SECRET)"
	sMASClientSecretFile setting = "MAS client secret file (mas.client_secret_file / MAS_CLIENT_SECRET_FILE)"
	sMASUpstreamProvider setting = "MAS upstream provider (mas.upstream_provider / MAS_UPSTREAM_PROVIDER)"
	sMASSynapseAdmin     setting = "MAS token for Synapse's admin API (mas.use_for_synapse_admin / MAS_USE_FOR_SYNAPSE_ADMIN)"
)

// masULID is the form of every MAS ID (its OpenAPI document's ULID pattern).
var masULID = regexp.MustCompile(`^[0123456789ABCDEFGHJKMNPQRSTVWXYZ]{26}$`)

// UsesMAS reports whether the homeserver's accounts live in Matrix Authentication Service.
func (c *Config) UsesMAS() bool { return c.Matrix.Auth == AuthMAS }

// applyMASEnv reads MATRIX_AUTH and the MAS_* variables and the secret file, wherever it was
// named, and normalises the values.
func (l *loader) applyMASEnv(c *Config) {
	m := &c.MAS
	for name, field := range map[string]*string{"MATRIX_AUTH": &c.Matrix.Auth, "MAS_URL": &m.URL,
		"MAS_CLIENT_ID": &m.ClientID, "MAS_UPSTREAM_PROVIDER": &m.UpstreamProvider} {
		if v, ok := l.lookup(name); ok {
			*field = v
		}
	}
	l.envBool("MAS_USE_FOR_SYNAPSE_ADMIN", sMASSynapseAdmin, &m.UseForSynapseAdmin)
	l.envSecret("MAS_CLIENT_SECRET", sMASClientSecret, sMASClientSecretFile, &m.ClientSecret, &m.ClientSecretFile)
	l.resolveSecretFile("secret", &m.ClientSecret, &m.ClientSecretFile, sMASClientSecret, sMASClientSecretFile)
	c.Matrix.Auth = strings.ToLower(strings.TrimSpace(c.Matrix.Auth))
	if c.Matrix.Auth == "" {
		c.Matrix.Auth = AuthSynapse
	}
	m.URL = strings.TrimRight(strings.TrimSpace(m.URL), "/")
	m.ClientID = strings.TrimSpace(m.ClientID)
	// MAS prints ULIDs in upper case; one pasted in lower case is the same ID.
	m.UpstreamProvider = strings.ToUpper(strings.TrimSpace(m.UpstreamProvider))
	if c.Matrix.Auth == AuthSynapse && (m.URL != "" || m.ClientID != "" || m.ClientSecret != "" || m.UpstreamProvider != "" || m.UseForSynapseAdmin) {
		l.warnings = append(l.warnings, "the mas settings are ignored because matrix.auth / MATRIX_AUTH is synapse; set it to mas to use Matrix Authentication Service")
	}
	if c.Matrix.Auth == AuthMAS && m.UpstreamProvider != "" && c.UserMapping.Source != SourceSynapseExternalID {
		l.warnings = append(l.warnings, "mas.upstream_provider / MAS_UPSTREAM_PROVIDER has no effect unless user_mapping.source is synapse_external_id")
	}
}

// checkMAS validates matrix.auth and, with mas, the settings MAS needs.
func (c *Config) checkMAS(ps *problems) {
	switch c.Matrix.Auth {
	case AuthSynapse:
		return
	case AuthMAS:
	default:
		ps.add(sMatrixAuth, "%s is not an account service; use synapse (the default) or mas (Synapse delegates its accounts to Matrix Authentication Service)", quote(c.Matrix.Auth))
		return
	}
	m := c.MAS
	checkHTTPURL(ps, sMASURL, m.URL, "https://auth.example.com")
	if m.ClientID == "" {
		ps.add(sMASClientID, "is required with matrix.auth mas; set it to the client_id of a client in MAS's clients list (client_auth_method: client_secret_basic) that policy.data.admin_clients names")
	}
	if m.ClientSecret == "" && m.ClientSecretFile == "" {
		ps.add(sMASClientSecret, "is required with matrix.auth mas; set MAS_CLIENT_SECRET or MAS_CLIENT_SECRET_FILE to the client's client_secret")
	}
	switch p := m.UpstreamProvider; {
	case p == "" && c.UsesExternalIDs():
		ps.add(sMASUpstreamProvider, "is required with user_mapping.source synapse_external_id and matrix.auth mas; set it to the id of the Authentik provider in MAS's upstream_oauth2.providers, such as 01H8PKNWKKRPCBW4YGH1RWV279")
	case p != "" && !masULID.MatchString(p):
		ps.add(sMASUpstreamProvider, "%s is not a MAS provider id (26 characters such as 01H8PKNWKKRPCBW4YGH1RWV279); copy the id of the Authentik provider from MAS's upstream_oauth2.providers", quote(p))
	}
}
