package config

import (
	"strings"
	"time"
)

// DirectoryConfig says where the desired group membership comes from.
type DirectoryConfig struct {
	// Source is one of:
	//   - DirectorySourceAuthentik: every cycle reads Authentik's API
	//   - DirectorySourceSCIM: Authentik's SCIM provider pushes users and groups to the bot's SCIM
	//     endpoint (the scim section; needs scim.token), and the cycles read what it pushed
	//
	// With authentik, an enabled SCIM endpoint still triggers a cycle for the groups each push
	// changes, like the webhook. See docs/scim.md.
	Source string `yaml:"source"`
}

// SCIMConfig is the SCIM 2.0 receiver that Authentik's SCIM provider pushes users and groups
// to: the directory with directory.source scim, else a trigger of cycles like the webhook.
type SCIMConfig struct {
	// Listen is host:port of a listener of the SCIM endpoint's own; empty serves it on
	// webhook.listen, beside the webhook. It must be reachable from Authentik's worker.
	Listen string `yaml:"listen"`
	// Token is the bearer token Authentik's SCIM provider sends (the provider's token), at least 16
	// characters (openssl rand -hex 32). Setting one turns the endpoint on. It is never logged.
	Token string `yaml:"token"`
	// TokenFile is a file holding the token instead (one line).
	TokenFile string `yaml:"token_file"`
	// Settle is how long the pushed state must first have been quiet, and a group must have
	// existed, before the group's membership counts as complete and removals follow from it (0 to
	// 1h). SCIM never says "that was everything", and Authentik adds a new group's members right
	// after creating it. Removals then still wait for the grace period.
	Settle time.Duration `yaml:"settle"`
	// Debounce gathers the changes of this window into one cycle (SCIM_DEBOUNCE_MS).
	Debounce time.Duration `yaml:"debounce" doc:"tuning"`
}

// Spellings of directory.source.
const (
	DirectorySourceAuthentik = "authentik"
	DirectorySourceSCIM      = "scim"
)

const (
	sDirectorySource setting = "directory source (directory.source / DIRECTORY_SOURCE)"
	sSCIMListen      setting = "SCIM listener (scim.listen / SCIM_LISTEN)"
	sSCIMToken       setting = "SCIM token (scim.token / SCIM_TOKEN)"
	sSCIMTokenFile   setting = "SCIM token file (scim.token_file / SCIM_TOKEN_FILE)"
	sSCIMSettle      setting = "SCIM settle time (scim.settle / SCIM_SETTLE_SECONDS)"
	sSCIMDebounce    setting = "SCIM debounce (scim.debounce / SCIM_DEBOUNCE_MS)"
)

const (
	DefaultDirectorySource = DirectorySourceAuthentik
	DefaultSCIMSettle      = 2 * time.Minute
	DefaultSCIMDebounce    = 250 * time.Millisecond
	// MaxSCIMSettle keeps removals from waiting on a typo for days; the grace period is the
	// place for long waits.
	MaxSCIMSettle      = time.Hour
	MaxSCIMDebounce    = 5 * time.Minute
	MinSCIMTokenLength = 16
)

// SCIMEnabled reports whether the SCIM endpoint runs: a token is set.
func (c *Config) SCIMEnabled() bool { return c.SCIM.Token != "" }

// scimDefaults presets the SCIM settings whose zero value means something.
func scimDefaults(c *Config) {
	c.Directory.Source = DefaultDirectorySource
	c.SCIM.Settle = DefaultSCIMSettle
	c.SCIM.Debounce = DefaultSCIMDebounce
}

// applySCIMEnv reads DIRECTORY_SOURCE, the SCIM_* variables and the token file, wherever it was
// named.
func (l *loader) applySCIMEnv(c *Config) {
	s := &c.SCIM
	if v, ok := l.lookup("DIRECTORY_SOURCE"); ok {
		c.Directory.Source = v
	}
	if v, ok := l.lookup("SCIM_LISTEN"); ok {
		s.Listen = v
	}
	if n, ok := l.envCount("SCIM_SETTLE_SECONDS", sSCIMSettle, "seconds", "120", int64(time.Second)); ok {
		s.Settle = time.Duration(n) * time.Second
	}
	if n, ok := l.envCount("SCIM_DEBOUNCE_MS", sSCIMDebounce, "milliseconds", "250", int64(time.Millisecond)); ok {
		s.Debounce = time.Duration(n) * time.Millisecond
	}
	l.envSecret("SCIM_TOKEN", sSCIMToken, sSCIMTokenFile, &s.Token, &s.TokenFile)
	l.resolveSecretFile("token", &s.Token, &s.TokenFile, sSCIMToken, sSCIMTokenFile)
	if s.Listen != "" && s.Token == "" {
		l.warnings = append(l.warnings, "scim.listen / SCIM_LISTEN is set but no SCIM token is: the SCIM endpoint is off until scim.token / SCIM_TOKEN is set")
	}
}

// checkSCIM validates the directory source and the SCIM receiver.
func (c *Config) checkSCIM(ps *problems) {
	s := c.SCIM
	switch c.Directory.Source {
	case DirectorySourceAuthentik:
	case DirectorySourceSCIM:
		if s.Token == "" {
			ps.add(sDirectorySource, "scim needs the SCIM endpoint: set scim.token / SCIM_TOKEN (or scim.token_file), and scim.listen or webhook.listen")
		}
		if c.Authentik.URL == "" || c.Authentik.Token == "" {
			// Authentik's SCIM provider pushes direct members only; without the tree, members of
			// subgroups would look gone.
			ps.add(sDirectorySource, "scim needs Authentik's API too, to read the group tree (the SCIM provider pushes direct group members only): set authentik.url / AUTHENTIK_URL and authentik.token / AUTHENTIK_TOKEN (or authentik.token_file)")
		}
		c.checkSCIMMapping(ps)
	default:
		ps.add(sDirectorySource, "%s is not a directory source; use authentik (read Authentik's API) or scim (Authentik's SCIM provider pushes to the bot)", quote(c.Directory.Source))
	}
	if s.Token != "" && len(s.Token) < MinSCIMTokenLength {
		ps.add(sSCIMToken, "is %d characters long; use at least %d random ones (for example: openssl rand -hex 32)", len(s.Token), MinSCIMTokenLength)
	}
	if s.Token != "" && s.Listen == "" && c.Webhook.Listen == "" {
		ps.add(sSCIMListen, "is empty and so is webhook.listen / WEBHOOK_LISTEN: set one of them to a host:port Authentik can reach, such as 0.0.0.0:9201")
	}
	if s.Listen != "" {
		checkListen(ps, sSCIMListen, s.Listen, "9201")
		switch s.Listen {
		case c.Metrics.Listen:
			ps.add(sSCIMListen, "%s is also metrics.listen / METRICS_LISTEN; give the SCIM endpoint its own address", quote(s.Listen))
		case c.Webhook.Listen:
			ps.add(sSCIMListen, "%s is also webhook.listen / WEBHOOK_LISTEN; leave scim.listen empty to serve SCIM on the webhook's listener", quote(s.Listen))
		}
	}
	if s.Settle < 0 || s.Settle > MaxSCIMSettle {
		ps.add(sSCIMSettle, "%s is out of range; use 0 to %s (default %s)", s.Settle, MaxSCIMSettle, DefaultSCIMSettle)
	}
	if s.Debounce < 0 || s.Debounce > MaxSCIMDebounce {
		ps.add(sSCIMDebounce, "%s is out of range; use 0 to %s (default %s)", s.Debounce, MaxSCIMDebounce, DefaultSCIMDebounce)
	}
}

// checkSCIMMapping refuses user mappings that need what SCIM does not carry: Authentik's pk and
// its user attributes. (userName, externalId — Authentik's uid — and the e-mail are there.)
func (c *Config) checkSCIMMapping(ps *problems) {
	m := c.UserMapping
	if strings.Contains(m.Template, "{pk}") || strings.Contains(m.Template, "{attr:") {
		ps.add(sTemplate, "%s uses {pk} or {attr:…}, which Authentik's SCIM provider does not send; with directory.source scim use {username}, {uid}, {email_localpart} and {server}", quote(m.Template))
	}
	if m.Source == SourceSynapseExternalID && (m.ExternalID.Subject == "pk" || strings.HasPrefix(m.ExternalID.Subject, "attribute:")) {
		ps.add(sExternalSubject, "%s is not sent by Authentik's SCIM provider; with directory.source scim use uid (its externalId) or username", quote(m.ExternalID.Subject))
	}
}
