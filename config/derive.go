package config

import (
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"
)

// fillDerived fills the defaults that depend on other settings, and those for which an empty
// value means "not set".
func (l *loader) fillDerived(c *Config) {
	bot := id.UserID(c.Matrix.UserID)
	botLocalpart, botServer, botErr := bot.ParseAndValidateRelaxed()
	if c.Appservice.BotUsername == "" {
		c.Appservice.BotUsername = DefaultBotUsername
		if c.AppserviceMode() && c.Matrix.UserID != "" && botErr == nil {
			c.Appservice.BotUsername = botLocalpart
		}
	}
	if c.Homeserver.Domain == "" && c.Matrix.UserID != "" && botErr == nil {
		c.Homeserver.Domain = botServer
	}
	if c.AppserviceMode() && c.Matrix.UserID == "" && c.Homeserver.Domain != "" {
		c.Matrix.UserID = id.NewUserID(c.Appservice.BotUsername, c.Homeserver.Domain).String()
	}
	if c.UserMapping.Server == "" {
		c.UserMapping.Server = c.Homeserver.Domain
	}
	fill := func(field *string, value string) {
		if *field == "" {
			*field = value
		}
	}
	fill(&c.Matrix.ForceJoinVia, ForceJoinAuto)
	fill(&c.Appservice.ID, DefaultAppserviceID)
	fill(&c.Appservice.Address, DefaultAppserviceAddress)
	fill(&c.Sync.JoinMethod, JoinInvite)
	fill(&c.Sync.RemoveAction, RemoveKick)
	fill(&c.UserMapping.Template, DefaultTemplate)
	if c.Database.Type == "" && (strings.HasPrefix(c.Database.URI, "postgres://") || strings.HasPrefix(c.Database.URI, "postgresql://")) {
		c.Database.Type = DatabasePostgres
	}
	fill(&c.Database.Type, DatabaseSQLite)
	fill(&c.Database.Schema, DefaultDatabaseSchema)
	fill(&c.Database.PgDump, DefaultPgDump)
	fill(&c.Database.DataDir, DefaultDataDir)
	fill(&c.Logging.Level, DefaultLogLevel)
	fill(&c.Logging.Format, LogFormatAuto)
}

// normalise puts values in the one spelling the rest of the program compares against.
func (l *loader) normalise(c *Config) {
	c.Homeserver.Address = strings.TrimRight(c.Homeserver.Address, "/")
	c.Appservice.Address = strings.TrimRight(c.Appservice.Address, "/")
	c.Authentik.URL = strings.TrimRight(c.Authentik.URL, "/")
	// The client adds /api/v3 itself; a pasted API URL would otherwise become /api/v3/api/v3.
	if base, ok := strings.CutSuffix(c.Authentik.URL, "/api/v3"); ok && base != "" {
		l.warnings = append(l.warnings, fmt.Sprintf("authentik.url / AUTHENTIK_URL ends in /api/v3; using %s (set the base URL to silence this)", base))
		c.Authentik.URL = base
	}
	for _, field := range []*string{&c.Matrix.ForceJoinVia, &c.Sync.JoinMethod, &c.Sync.RemoveAction, &c.Database.Type, &c.Logging.Format} {
		*field = strings.ToLower(strings.TrimSpace(*field))
	}
	c.Logging.Level = strings.ToLower(strings.TrimSpace(c.Logging.Level))
	if c.Logging.Level == "warning" {
		c.Logging.Level = "warn"
	}
	for i := range c.Sync.Mappings {
		m := &c.Sync.Mappings[i]
		m.Room = strings.TrimSpace(m.Room)
		m.Space = strings.TrimSpace(m.Space)
		m.Method = strings.ToLower(strings.TrimSpace(m.Method))
		m.RemoveAction = strings.ToLower(strings.TrimSpace(m.RemoveAction))
		// A conflicting pair is left as it is for validation to report.
		if m.Space != "" && (m.Room == "" || m.Room == m.Space) {
			m.Room, m.Space = m.Space, ""
		}
	}
}

// warn records settings that work but are probably not what the operator meant.
func (l *loader) warn(c *Config) {
	if c.AppserviceMode() && c.Matrix.AccessToken != "" {
		l.warnings = append(l.warnings, "matrix.access_token / MATRIX_ACCESS_TOKEN is ignored in appservice mode (the as_token is used); remove it")
	}
	if len(c.Sync.Mappings) == 0 {
		l.warnings = append(l.warnings, "sync.mappings / SYNC_MAPPINGS is empty: no room will be managed; add mappings such as "+mappingsExample)
	}
	for i, m := range c.Sync.Mappings {
		method := m.Method
		if method == "" {
			method = c.Sync.JoinMethod
		}
		if m.Rejoin && method != JoinForce {
			l.warnings = append(l.warnings, fmt.Sprintf("sync mapping #%d (group %q): rejoin has no effect with join method %q; it only applies to force", i+1, m.Group, method))
		}
	}
}
