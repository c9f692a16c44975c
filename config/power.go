package config

import (
	"strings"
	"time"
)

const (
	sUserMappingSource setting = "user mapping source (user_mapping.source)"
	sExternalProvider  setting = "external ID auth provider (user_mapping.external_id.auth_provider)"
	sExternalSubject   setting = "external ID subject (user_mapping.external_id.subject)"
	sExternalRefresh   setting = "external ID refresh (user_mapping.external_id.refresh)"
)

// User mapping sources.
const (
	// SourceTemplate builds Matrix IDs from the template (and the attribute override).
	SourceTemplate = "template"
	// SourceSynapseExternalID asks Synapse's admin API which account is linked to the user at an
	// auth provider (SSO), so that renamed users keep their Matrix ID.
	SourceSynapseExternalID = "synapse_external_id"
)

const (
	// DefaultExternalSubject is Authentik's default OIDC subject: the user's hashed uid.
	DefaultExternalSubject = "uid"
	// DefaultExternalRefresh is how long a looked-up Matrix ID is trusted.
	DefaultExternalRefresh = time.Hour
	// MaxPowerLevel bounds a mapping's power_level: 100 is a room's usual top (admins).
	MaxPowerLevel = 100
)

// ExternalIDConfig says how user_mapping.source synapse_external_id finds a user's account.
type ExternalIDConfig struct {
	// AuthProvider is Synapse's idp_id of the Authentik provider (oidc_providers: idp_id in
	// homeserver.yaml; Synapse stores it with an oidc- prefix, such as oidc-authentik).
	AuthProvider string `yaml:"auth_provider"`
	// Subject is what Synapse stored as the external ID: uid (Authentik's default OIDC sub, the
	// hashed user ID), pk, username or attribute:NAME.
	Subject string `yaml:"subject"`
	// Refresh is how long a looked-up Matrix ID is used before asking again (users without an
	// account are asked again after at most 10m).
	Refresh time.Duration `yaml:"refresh"`
}

// UsesExternalIDs reports whether users are mapped through Synapse's external IDs.
func (c *Config) UsesExternalIDs() bool { return c.UserMapping.Source == SourceSynapseExternalID }

// checkExternalIDs validates user_mapping.source and its external_id settings.
func (c *Config) checkExternalIDs(ps *problems) {
	u := c.UserMapping
	switch u.Source {
	case SourceTemplate:
		return
	case SourceSynapseExternalID:
	default:
		ps.add(sUserMappingSource, "%s is not a source; use template or synapse_external_id", quote(u.Source))
		return
	}
	e := u.ExternalID
	switch {
	case c.UsesMAS():
		// Synapse keeps no external IDs of MAS's users: mas.upstream_provider says where to look.
	case strings.TrimSpace(e.AuthProvider) == "":
		ps.add(sExternalProvider, "is empty; set it to the idp_id of Synapse's Authentik provider (oidc_providers: idp_id in homeserver.yaml, oidc-<idp_id> in the database, e.g. oidc-authentik)")
	case strings.Contains(e.AuthProvider, "/"):
		ps.add(sExternalProvider, "%s contains /, which no Synapse auth provider ID does", quote(e.AuthProvider))
	}
	switch {
	case e.Subject == "uid", e.Subject == "pk", e.Subject == "username":
	case strings.HasPrefix(e.Subject, "attribute:") && len(e.Subject) > len("attribute:"):
	default:
		ps.add(sExternalSubject, "%s is not a subject; use uid, pk, username or attribute:NAME", quote(e.Subject))
	}
	if e.Refresh < time.Minute {
		ps.add(sExternalRefresh, "%s is shorter than a minute; use e.g. 1h (every refresh asks Synapse once per user)", e.Refresh)
	}
}

// checkPowerLevel validates mapping i's power_level.
func checkPowerLevel(ps *problems, i int, m Mapping) {
	if m.PowerLevel < 0 || m.PowerLevel > MaxPowerLevel {
		ps.add(mappingSetting(i), "power_level %d is out of range; use 1 to %d (e.g. 50 for moderators), or leave it out to give no level", m.PowerLevel, MaxPowerLevel)
	}
}
