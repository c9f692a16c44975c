package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Setting names the setting as an operator knows it, with its YAML key and environment
	// variable: "join method (sync.join_method / JOIN_METHOD)".
	Setting string
	// Message says what is wrong and how to fix it. It never holds a secret.
	Message string
}

func (p Problem) String() string {
	if p.Setting == "" {
		return p.Message
	}
	return p.Setting + ": " + p.Message
}

// Error lists every problem found while loading, so an operator fixes them all in one go.
type Error struct {
	// Source is the config file, or "" when only the environment was read.
	Source   string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.Source != "" {
		fmt.Fprintf(&b, " (config file %s and environment)", e.Source)
	}
	if len(e.Problems) == 1 {
		b.WriteString(": ")
		b.WriteString(e.Problems[0].String())
		return b.String()
	}
	fmt.Fprintf(&b, ", %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// setting names a setting as an operator knows it, with its YAML key and environment variable.
type setting string

// The settings, named once so every message spells them the same way.
const (
	sHomeserverAddress setting = "homeserver URL (homeserver.address / MATRIX_HOMESERVER_URL)"
	sHomeserverDomain  setting = "homeserver domain (homeserver.domain)"
	sUserID            setting = "bot user ID (matrix.user_id / MATRIX_USER_ID)"
	sAccessToken       setting = "bot access token (matrix.access_token / MATRIX_ACCESS_TOKEN)"
	sAccessTokenFile   setting = "bot access token file (matrix.access_token_file / MATRIX_ACCESS_TOKEN_FILE)"
	sForceJoinVia      setting = "force join route (matrix.force_join_via / FORCE_JOIN_VIA)"
	sRegistration      setting = "appservice registration (appservice.registration / APPSERVICE_REGISTRATION)"
	sAppserviceID      setting = "appservice ID (appservice.id)"
	sAppserviceAddress setting = "appservice address (appservice.address)"
	sAppserviceHost    setting = "appservice listen host (appservice.hostname)"
	sAppservicePort    setting = "appservice listen port (appservice.port)"
	sBotUsername       setting = "appservice bot username (appservice.bot_username)"
	sASToken           setting = "appservice as_token (appservice.as_token / APPSERVICE_AS_TOKEN)"
	sASTokenFile       setting = "appservice as_token file (appservice.as_token / APPSERVICE_AS_TOKEN_FILE)"
	sHSToken           setting = "appservice hs_token (appservice.hs_token / APPSERVICE_HS_TOKEN)"
	sHSTokenFile       setting = "appservice hs_token file (appservice.hs_token / APPSERVICE_HS_TOKEN_FILE)"
	sAuthentikURL      setting = "Authentik URL (authentik.url / AUTHENTIK_URL)"
	sAuthentikToken    setting = "Authentik token (authentik.token / AUTHENTIK_TOKEN)"
	sAuthentikFile     setting = "Authentik token file (authentik.token_file / AUTHENTIK_TOKEN_FILE)"
	sPageSize          setting = "Authentik page size (authentik.page_size)"
	sTimeout           setting = "Authentik timeout (authentik.timeout)"
	sInterval          setting = "sync interval (sync.interval / SYNC_INTERVAL_SECONDS)"
	sJoinMethod        setting = "join method (sync.join_method / JOIN_METHOD)"
	sGracePeriod       setting = "grace period (sync.grace_period / CLEANUP_GRACE_PERIOD_MINUTES)"
	sRemoveAction      setting = "remove action (sync.remove_action / REMOVE_ACTION)"
	sMappings          setting = "sync mappings (sync.mappings / SYNC_MAPPINGS)"
	sTemplate          setting = "user mapping template (user_mapping.template)"
	sUserServer        setting = "user mapping server (user_mapping.server)"
	sDatabaseType      setting = "database type (database.type)"
	sDataDir           setting = "data directory (database.data_dir / DATA_DIR)"
	sBackupRetention   setting = "backup retention (database.backup_retention / DB_BACKUP_RETENTION_COUNT)"
	sDatabaseURI       setting = "database URL (database.uri / DATABASE_URL)"
	sDatabaseSchema    setting = "database schema (database.schema / DATABASE_SCHEMA)"
	sDatabasePool      setting = "connection pool (database.max_open_conns, database.max_idle_conns)"
	sLogLevel          setting = "log level (logging.level / LOG_LEVEL)"
	sLogFormat         setting = "log format (logging.format / LOG_FORMAT)"
	sHealthListen      setting = "HTTP listener (metrics.listen / METRICS_LISTEN, or health.listen / HEALTH_LISTEN)"
	sMetricsPprof      setting = "profiler (metrics.pprof / METRICS_PPROF)"
)

// mappingSetting names one entry of sync.mappings.
func mappingSetting(i int) setting {
	return setting(fmt.Sprintf("sync mapping #%d (sync.mappings[%d] / SYNC_MAPPINGS)", i+1, i))
}

// problems collects Problems; the zero value is ready to use.
type problems []Problem

func (ps *problems) add(s setting, format string, args ...any) {
	*ps = append(*ps, Problem{Setting: string(s), Message: fmt.Sprintf(format, args...)})
}

func (ps *problems) addPlain(format string, args ...any) {
	*ps = append(*ps, Problem{Message: fmt.Sprintf(format, args...)})
}

func (ps problems) err(source string) error {
	if len(ps) == 0 {
		return nil
	}
	return &Error{Source: source, Problems: ps}
}
