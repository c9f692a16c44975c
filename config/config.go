package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. Load fills it from a YAML file and the environment; the YAML
// keys are the snake_case names in the tags.
type Config struct {
	Homeserver  HomeserverConfig  `yaml:"homeserver"`
	Matrix      MatrixConfig      `yaml:"matrix"`
	Appservice  AppserviceConfig  `yaml:"appservice"`
	Authentik   AuthentikConfig   `yaml:"authentik"`
	Sync        SyncConfig        `yaml:"sync"`
	UserMapping UserMappingConfig `yaml:"user_mapping"`
	Database    DatabaseConfig    `yaml:"database"`
	Logging     LoggingConfig     `yaml:"logging"`
	Health      HealthConfig      `yaml:"health"`
	Metrics     MetricsConfig     `yaml:"metrics"`
	Admin       AdminConfig       `yaml:"admin"`
	Audit       AuditConfig       `yaml:"audit"`
	Webhook     WebhookConfig     `yaml:"webhook"`
	// Directory says where group membership comes from: Authentik's API, or what its SCIM
	// provider pushed.
	Directory DirectoryConfig `yaml:"directory"`
	// SCIM is the SCIM 2.0 endpoint Authentik's SCIM provider pushes users and groups to.
	SCIM SCIMConfig `yaml:"scim"`
	// MAS is used when matrix.auth is mas: Synapse then delegates its accounts to the
	// account service at mas.url.
	MAS MASConfig `yaml:"mas"`
	// ProtectedUsers are never kicked, banned, demoted or locked by the bot, in any room
	// (PROTECTED_USERS, comma-separated): Matrix IDs, and patterns /…/ or re:… matched against
	// the whole ID (see docs/protected-and-why.md).
	ProtectedUsers []string `yaml:"protected_users"`
	// Deactivated is what happens to managed users deactivated in (or deleted from) Authentik.
	Deactivated DeactivatedConfig `yaml:"deactivated"`
	// ProfileSync says which parts of the Matrix profile of managed users follow Authentik.
	ProfileSync ProfileSyncConfig `yaml:"profile_sync"`

	// Warnings are problems that do not stop the program (a secrets file others can read, a
	// setting that has no effect); main logs them once the logger exists.
	Warnings []string `yaml:"-"`
}

// HomeserverConfig says where the homeserver is.
type HomeserverConfig struct {
	// Address is the client-server API base URL (MATRIX_HOMESERVER_URL).
	Address string `yaml:"address"`
	// Domain is the server name in user IDs; by default the server part of the bot's user ID.
	Domain string `yaml:"domain"`
}

// MatrixConfig is the bot's Matrix identity.
type MatrixConfig struct {
	// UserID is the bot's Matrix ID (MATRIX_USER_ID). In appservice mode it defaults to
	// @<appservice.bot_username>:<homeserver.domain>.
	UserID string `yaml:"user_id"`
	// AccessToken authenticates the bot in client mode (MATRIX_ACCESS_TOKEN).
	AccessToken string `yaml:"access_token"`
	// AccessTokenFile holds the access token instead (MATRIX_ACCESS_TOKEN_FILE).
	AccessTokenFile string `yaml:"access_token_file"`
	// ForceJoinVia is the route for force joins: ForceJoinAuto, ForceJoinAdminAPI or
	// ForceJoinAppservice (FORCE_JOIN_VIA).
	ForceJoinVia string `yaml:"force_join_via"`
	// Auth says who keeps the homeserver's accounts: AuthSynapse (the default) or AuthMAS when
	// Synapse delegates them to Matrix Authentication Service (MATRIX_AUTH); see MASConfig.
	Auth string `yaml:"auth"`
}

// AppserviceConfig is the application service side. Setting Registration or ASToken selects
// appservice mode.
type AppserviceConfig struct {
	// Registration is the path of the registration file the homeserver loads
	// (APPSERVICE_REGISTRATION). Its id, url, tokens and sender_localpart fill the fields below.
	Registration string `yaml:"registration"`
	// ID names the application service in its registration (id).
	ID string `yaml:"id"`
	// Address is the URL the homeserver uses to reach this program.
	Address string `yaml:"address"`
	// Hostname and Port are where this program listens for the homeserver's transactions.
	Hostname string `yaml:"hostname"`
	Port     int    `yaml:"port"`
	// BotUsername is the localpart of the bot's user (the registration's sender_localpart).
	BotUsername string `yaml:"bot_username"`
	// ASToken lets the bot act as any local user: a root-equivalent secret (APPSERVICE_AS_TOKEN).
	ASToken string `yaml:"as_token"`
	// HSToken authenticates the homeserver's transactions (APPSERVICE_HS_TOKEN).
	HSToken string `yaml:"hs_token"`
}

// AuthentikConfig says where Authentik is and how to read it.
type AuthentikConfig struct {
	// URL is the base URL without /api/v3 and without a trailing slash (AUTHENTIK_URL).
	URL string `yaml:"url"`
	// Token is an API token of intent "api" (AUTHENTIK_TOKEN).
	Token string `yaml:"token"`
	// TokenFile holds the token instead (AUTHENTIK_TOKEN_FILE).
	TokenFile string `yaml:"token_file"`
	// PageSize is the page_size asked for; newer Authentik releases cap it at 100.
	PageSize int `yaml:"page_size" doc:"tuning"`
	// Timeout bounds each request to Authentik, its body included.
	Timeout time.Duration `yaml:"timeout"`
}

// SyncConfig is what to keep in step and how.
type SyncConfig struct {
	// Interval is the polling period (SYNC_INTERVAL_SECONDS).
	Interval time.Duration `yaml:"interval"`
	// JoinMethod is JoinInvite or JoinForce (JOIN_METHOD); a mapping's Method overrides it.
	JoinMethod string `yaml:"join_method"`
	// GracePeriod is how long someone who left a group keeps their rooms
	// (CLEANUP_GRACE_PERIOD_MINUTES); zero removes them at the next cycle.
	GracePeriod time.Duration `yaml:"grace_period"`
	// RemoveAction is RemoveKick or RemoveBan (REMOVE_ACTION).
	RemoveAction string `yaml:"remove_action"`
	// Mappings pair groups with rooms (SYNC_MAPPINGS, which replaces the file's list).
	Mappings []Mapping `yaml:"mappings"`
	// MaxRemovalsPerCycle and MaxRemovalFraction are the mass-removal guard's thresholds
	// (MAX_REMOVALS_PER_CYCLE, MAX_REMOVAL_FRACTION); zero disables each.
	MaxRemovalsPerCycle int     `yaml:"max_removals_per_cycle"`
	MaxRemovalFraction  float64 `yaml:"max_removal_fraction"`
	// MaxBackoff caps the growing wait between cycles while an upstream service fails as a
	// whole (SYNC_MAX_BACKOFF_SECONDS); zero retries every Interval.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxConcurrentWrites bounds the room writes in flight at once (SYNC_MAX_CONCURRENT_WRITES).
	MaxConcurrentWrites int `yaml:"max_concurrent_writes"`
	// FullResyncInterval is how long a room's cached state is trusted in appservice mode before
	// it is read again anyway (SYNC_FULL_RESYNC_INTERVAL_SECONDS).
	FullResyncInterval time.Duration `yaml:"full_resync_interval"`
}

// AdminConfig is the admin room, from which operators steer the bot.
type AdminConfig struct {
	// Room is the admin room's ID or alias (ADMIN_ROOM); empty disables the admin room.
	Room string `yaml:"room"`
	// Admins may command the bot (ADMIN_USERS, comma-separated).
	Admins []string `yaml:"admins"`
	// MinPowerLevel, when above 0, also lets anyone with at least this power level in the admin
	// room command the bot (ADMIN_MIN_POWER_LEVEL).
	MinPowerLevel int `yaml:"min_power_level"`
	// CommandPrefix starts every command (COMMAND_PREFIX).
	CommandPrefix string `yaml:"command_prefix"`
}

// Mapping keeps the members of one Authentik group in one room or space.
type Mapping struct {
	// Group is the Authentik group's name; names are case-sensitive.
	Group string `yaml:"group" json:"group"`
	// Room is a room ID (!id:server) or an alias (#alias:server) of a room or a space.
	Room string `yaml:"room" json:"room"`
	// Space is an older name for Room, kept for existing setups. Load moves it into Room, so after
	// loading it is always empty.
	Space string `yaml:"space,omitempty" json:"space"`
	// Method overrides sync.join_method for this mapping; empty means the global one.
	Method string `yaml:"method" json:"method"`
	// Rejoin force-joins again someone who left the room on their own; only used with force.
	Rejoin bool `yaml:"rejoin" json:"rejoin"`
	// RemoveAction and GracePeriod override sync.remove_action and sync.grace_period for this
	// mapping's rooms; Remove: false makes the mapping invite-only (it never removes anyone).
	RemoveAction string    `yaml:"remove_action,omitempty" json:"remove_action"`
	GracePeriod  *Duration `yaml:"grace_period,omitempty" json:"grace_period"`
	Remove       *bool     `yaml:"remove,omitempty" json:"remove"`
	// IncludeChildren syncs a space's child rooms too; Recursive follows child spaces;
	// ExcludeRooms lists child room IDs to leave alone.
	IncludeChildren bool     `yaml:"include_children,omitempty" json:"include_children"`
	Recursive       bool     `yaml:"recursive,omitempty" json:"recursive"`
	ExcludeRooms    []string `yaml:"exclude_rooms,omitempty" json:"exclude_rooms"`
	// CreateIfMissing creates the room when its alias does not exist; nil never creates.
	CreateIfMissing *CreateRoom `yaml:"create_if_missing,omitempty" json:"create_if_missing"`
	// PowerLevel is the level the group's members get in the mapping's rooms; 0 gives none.
	PowerLevel int `yaml:"power_level,omitempty" json:"power_level"`
}

// UserMappingConfig turns Authentik users into Matrix IDs.
type UserMappingConfig struct {
	// Template builds the Matrix ID; placeholders {username} {email_localpart} {uid} {pk}
	// {server} {attr:NAME}.
	Template string `yaml:"template"`
	// Attribute names an Authentik user attribute holding a full Matrix ID that overrides the
	// template; empty disables the override.
	Attribute string `yaml:"attribute"`
	// Server fills {server}; by default the homeserver domain.
	Server string `yaml:"server"`
	// Source is template (the default) or synapse_external_id; ExternalID configures the latter.
	Source     string           `yaml:"source"`
	ExternalID ExternalIDConfig `yaml:"external_id"`
}

// DatabaseConfig is where state (grace periods) lives.
type DatabaseConfig struct {
	// Type is sqlite or postgres; a postgres:// URI selects postgres when Type is unset.
	Type string `yaml:"type"`
	// URI is the postgres:// URL of the Postgres store (DATABASE_URL).
	URI string `yaml:"uri"`
	// Schema holds the Postgres store's tables (DATABASE_SCHEMA).
	Schema string `yaml:"schema"`
	// MaxOpenConns and MaxIdleConns bound the Postgres connection pool; the leader lock takes
	// one more connection of its own.
	MaxOpenConns int `yaml:"max_open_conns" doc:"tuning"`
	MaxIdleConns int `yaml:"max_idle_conns" doc:"tuning"`
	// PgDump is the pg_dump binary used for Postgres backups (PG_DUMP); pg_restore is expected
	// beside it.
	PgDump string `yaml:"pg_dump"`
	// DataDir holds the SQLite file and its backups, or the Postgres backups (DATA_DIR).
	DataDir string `yaml:"data_dir"`
	// BackupRetention is the number of automatic backups (those before removals) kept
	// (DB_BACKUP_RETENTION_COUNT); manual and pre-restore backups are kept until deleted.
	BackupRetention int `yaml:"backup_retention"`
}

// LoggingConfig is how the program logs.
type LoggingConfig struct {
	// Level is a zerolog level name: debug, info, warn or error (LOG_LEVEL).
	Level string `yaml:"level"`
	// Format is auto, json or console (LOG_FORMAT).
	Format string `yaml:"format"`
}

// HealthConfig is the older name of the HTTP listener's settings.
type HealthConfig struct {
	// Listen is the older name of metrics.listen (HEALTH_LISTEN). After loading it always equals
	// Metrics.Listen.
	Listen string `yaml:"listen" doc:"tuning"`
}

// MetricsConfig is the one HTTP listener: /metrics, /health, /ready and, if enabled,
// /debug/pprof/.
type MetricsConfig struct {
	// Listen is host:port (METRICS_LISTEN, or the older health.listen / HEALTH_LISTEN); empty
	// disables the listener.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler on the listener (METRICS_PPROF).
	Pprof bool `yaml:"pprof"`
}

// Spellings of the enumerated settings, as they appear in the file and the environment.
const (
	JoinInvite = "invite"
	JoinForce  = "force"

	RemoveKick = "kick"
	RemoveBan  = "ban"

	ForceJoinAuto       = "auto"
	ForceJoinAdminAPI   = "admin_api"
	ForceJoinAppservice = "appservice"

	DatabaseSQLite   = "sqlite"
	DatabasePostgres = "postgres"

	LogFormatAuto    = "auto"
	LogFormatJSON    = "json"
	LogFormatConsole = "console"
)

// Defaults for the settings that have one.
const (
	DefaultAppserviceID       = "authentik-matrix-sync"
	DefaultAppserviceAddress  = "http://127.0.0.1:29333"
	DefaultAppserviceHostname = "127.0.0.1"
	DefaultAppservicePort     = 29333
	DefaultBotUsername        = "authentik-sync"
	DefaultPageSize           = 100
	DefaultAuthentikTimeout   = 30 * time.Second
	DefaultInterval           = 60 * time.Second
	DefaultGracePeriod        = 24 * time.Hour
	DefaultTemplate           = "@{username}:{server}"
	DefaultUserAttribute      = "matrix_id"
	DefaultDataDir            = "./data"
	DefaultBackupRetention    = 3
	DefaultDatabaseSchema     = "authentik_matrix_sync"
	DefaultMaxOpenConns       = 4
	DefaultMaxIdleConns       = 2
	DefaultPgDump             = "pg_dump"
	DefaultLogLevel           = "info"
	DefaultHealthListen       = "127.0.0.1:9100"
	DefaultMetricsListen      = DefaultHealthListen
	DefaultMaxRemovals        = 10
	DefaultMaxRemovalFraction = 0.25
	DefaultCommandPrefix      = "!sync"

	// MinInterval keeps a typo such as "0.01s" from hammering Authentik and the homeserver; one
	// second is still fine for a small test or demo setup.
	MinInterval = time.Second
	MaxPageSize = 1000
)

// redactedValue stands in for a secret in Redacted's output.
const redactedValue = "<redacted>"

// AppserviceMode reports whether the bot runs as an application service rather than as an
// ordinary user with an access token.
func (c *Config) AppserviceMode() bool {
	return c.Appservice.Registration != "" || c.Appservice.ASToken != ""
}

// secrets points at every secret the configuration holds: Redacted hides them, and a config
// file holding any of them must be private. A new secret field belongs here.
func (c *Config) secrets() []*string {
	return []*string{&c.Matrix.AccessToken, &c.Appservice.ASToken, &c.Appservice.HSToken, &c.Authentik.Token, &c.Webhook.Secret, &c.MAS.ClientSecret, &c.SCIM.Token}
}

// Redacted is the configuration as YAML with every secret replaced by "<redacted>", for
// printing and debug logs. Paths of secret files are kept: they are not secrets and help find
// the file.
func (c *Config) Redacted() string {
	cp := *c
	cp.Sync.Mappings = append([]Mapping(nil), c.Sync.Mappings...)
	for _, secret := range cp.secrets() {
		if *secret != "" {
			*secret = redactedValue
		}
	}
	out, err := yaml.Marshal(&cp)
	if err != nil {
		// Only plain strings, numbers and durations are marshalled; this cannot happen.
		return fmt.Sprintf("# cannot print the configuration: %v\n", err)
	}
	return string(out)
}
