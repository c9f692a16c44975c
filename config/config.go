package config

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. Load fills it from a YAML file and the environment; the YAML
// keys are the snake_case names in the tags. The doc comments of its fields are what operators
// read: docs/configuration.md and config.example.yaml are generated from them.
type Config struct {
	// Homeserver is the Matrix homeserver.
	Homeserver HomeserverConfig `yaml:"homeserver"`
	// Matrix is the bot's Matrix account.
	Matrix MatrixConfig `yaml:"matrix"`
	// Appservice is application service mode, the recommended one. Setting
	// Appservice.Registration (or Appservice.ASToken) turns it on.
	Appservice AppserviceConfig `yaml:"appservice"`
	// Authentik is the source of group membership.
	Authentik AuthentikConfig `yaml:"authentik"`
	// Sync is what to keep in step, and how.
	Sync SyncConfig `yaml:"sync"`
	// UserMapping is how Authentik users become Matrix IDs.
	UserMapping UserMappingConfig `yaml:"user_mapping"`
	// Database is where the state is kept: pending removals, what the bot did and the audit log.
	Database DatabaseConfig `yaml:"database"`
	// Logging is how the program logs.
	Logging LoggingConfig `yaml:"logging"`
	Health  HealthConfig  `yaml:"health"`
	// Metrics is the one HTTP listener: /metrics (Prometheus), /health (liveness), /ready
	// (readiness) and, if enabled, /debug/pprof/.
	Metrics MetricsConfig `yaml:"metrics"`
	// Admin is the admin room: operators steer and watch the bot from Matrix ("!sync help" there
	// lists the commands). Invite the bot into it; it joins when a listed admin invites it.
	Admin AdminConfig `yaml:"admin"`
	// Audit is the audit log: every room change the cycles make and every admin command, kept in
	// the state store whether or not an admin room is configured ("!sync audit" shows it). A skip
	// that repeats (a user without a Matrix account, every cycle) is written once, until something
	// else happens to that user in that room. It is pruned at start and once a day.
	Audit AuditConfig `yaml:"audit"`
	// Webhook is event-driven sync: Authentik's notification webhooks trigger a cycle for the
	// changed group's rooms within seconds, and polling (Sync.Interval) stays as the safety net.
	// See docs/authentik.md, "Event-driven sync (webhooks)".
	Webhook WebhookConfig `yaml:"webhook"`
	// Directory says where group membership comes from: Authentik's API, or what its SCIM
	// provider pushed.
	Directory DirectoryConfig `yaml:"directory"`
	// SCIM is a SCIM 2.0 endpoint (RFC 7644) for Authentik's SCIM provider, whose URL is then
	// http://<bot>:<port>/scim/v2. It serves /Users, /Groups, /ServiceProviderConfig,
	// /ResourceTypes and /Schemas, and keeps what it receives in the state store. See docs/scim.md.
	SCIM SCIMConfig `yaml:"scim"`
	// MAS is Matrix Authentication Service, used when Matrix.Auth is mas: the bot reads users and
	// their upstream (Authentik) links there, and locks and logs out accounts through MAS's admin
	// API. See docs/mas.md.
	MAS MASConfig `yaml:"mas"`
	// ProtectedUsers are the users the bot never kicks, bans, demotes or locks, in any room,
	// whatever their groups say (the plan shows "protected (protected_users): not removed"
	// instead). An entry starting with @ is a Matrix ID; one written /…/ or re:… is a regular
	// expression (Go's RE2 syntax) that must match the whole ID, such as '/@ops-.*:example\.com/'.
	// A pattern holding a comma belongs in the file, not in the comma-separated variable. See
	// docs/protected-and-why.md, "Protected accounts".
	ProtectedUsers []string `yaml:"protected_users"`
	// Deactivated is what happens to managed users deactivated in Authentik (is_active false) or
	// deleted from it. A disabled account is a security event: by default such a user leaves every
	// managed room at the next cycle, without the grace period (still through the mass-removal
	// guard and the backup, with the reason "account deactivated in Authentik"). Nobody is treated
	// as deactivated when Authentik's listing of inactive users could not be read. See
	// docs/account-lifecycle.md, "Deactivated users".
	Deactivated DeactivatedConfig `yaml:"deactivated"`
	// ProfileSync is profile sync, off by default: the Matrix profile of managed users follows
	// Authentik. A profile is written only when it differs, once per change. See
	// docs/account-lifecycle.md, "Profile sync".
	ProfileSync ProfileSyncConfig `yaml:"profile_sync"`

	// Warnings are problems that do not stop the program (a secrets file others can read, a
	// setting that has no effect); main logs them once the logger exists.
	Warnings []string `yaml:"-"`
}

// HomeserverConfig says where the homeserver is.
type HomeserverConfig struct {
	// Address is the client-server API base URL, as clients use it.
	Address string `yaml:"address" example:"https://matrix.example.com"`
	// Domain is the server name, as it appears in user IDs (example.com for @alice:example.com).
	// In appservice mode it is required when matrix.user_id is unset.
	Domain string `yaml:"domain" example:"example.com"`
}

// MatrixConfig is the bot's Matrix identity.
type MatrixConfig struct {
	// UserID is the bot's user ID. It is required in client mode (without an appservice
	// registration); in appservice mode it must agree with appservice.bot_username and
	// homeserver.domain if set.
	UserID string `yaml:"user_id" example:"@authentik-sync:example.com"`
	// AccessToken is the access token of the bot's account: required in client mode, ignored in
	// appservice mode.
	AccessToken string `yaml:"access_token"`
	// AccessTokenFile is a file holding the access token instead (its trailing newline is
	// dropped). Set either this or AccessToken, not both.
	AccessTokenFile string `yaml:"access_token_file"`
	// ForceJoinVia is how "force" mappings put users into rooms:
	//   - ForceJoinAuto: ForceJoinAppservice in appservice mode, ForceJoinAdminAPI otherwise
	//   - ForceJoinAdminAPI: Synapse's admin join API; the bot must be a server admin
	//   - ForceJoinAppservice: the bot invites, then joins as the user through the appservice;
	//     needs appservice mode, works without an admin account
	ForceJoinVia string `yaml:"force_join_via"`
	// Auth says who keeps the homeserver's accounts:
	//   - AuthSynapse: Synapse itself
	//   - AuthMAS: Matrix Authentication Service, to which Synapse delegates its accounts
	//     (matrix_authentication_service in homeserver.yaml); fill in the mas section
	Auth string `yaml:"auth"`
}

// AppserviceConfig is the application service side. Setting Registration or ASToken selects
// appservice mode.
type AppserviceConfig struct {
	// Registration is the path of the registration file the homeserver loads
	// (app_service_config_files in homeserver.yaml). Generate it with "authentik-matrix-sync -c
	// config.yaml -g -r registration.yaml". When the file exists, id, address, bot_username,
	// as_token and hs_token are read from it, and values set here must agree.
	Registration string `yaml:"registration"`
	// ID is the application service's unique ID on the homeserver.
	ID string `yaml:"id"`
	// Address is the URL the homeserver uses to reach this program.
	Address string `yaml:"address"`
	// Hostname is where this program listens for the homeserver's transactions: 0.0.0.0 in a
	// container the homeserver reaches over a network.
	Hostname string `yaml:"hostname"`
	// Port is the port it listens on.
	Port int `yaml:"port"`
	// BotUsername is the localpart of the bot's user ID.
	BotUsername string `yaml:"bot_username"`
	// ASToken is the token the bot sends the homeserver, normally read from the registration
	// file. It can act as any local user, server admins included: guard it like a root password.
	ASToken string `yaml:"as_token"`
	// HSToken is the token the homeserver sends with its transactions, normally read from the
	// registration file.
	HSToken string `yaml:"hs_token"`
}

// AuthentikConfig says where Authentik is and how to read it.
type AuthentikConfig struct {
	// URL is the base URL, without /api/v3 (it is added) and without a trailing slash.
	URL string `yaml:"url" example:"https://auth.example.com"`
	// Token is an API token (intent "api") of a user that can read users and groups.
	Token string `yaml:"token"`
	// TokenFile is a file holding the token instead. Set either this or Token, not both.
	TokenFile string `yaml:"token_file"`
	// PageSize is the page_size asked for; newer Authentik releases cap it at 100.
	PageSize int `yaml:"page_size" doc:"tuning"`
	// Timeout is the time limit of each request to Authentik, its body included.
	Timeout time.Duration `yaml:"timeout"`
}

// SyncConfig is what to keep in step and how.
type SyncConfig struct {
	// Interval is how often groups and rooms are compared (at least 1s).
	Interval time.Duration `yaml:"interval"`
	// JoinMethod is how users are added: JoinInvite (they accept or not) or JoinForce (they are
	// joined). A mapping's method overrides it.
	JoinMethod string `yaml:"join_method"`
	// GracePeriod is how long someone who left a group keeps their rooms before being removed;
	// 0s removes them at the next cycle.
	GracePeriod time.Duration `yaml:"grace_period"`
	// RemoveAction is how users are removed: RemoveKick or RemoveBan.
	RemoveAction string `yaml:"remove_action"`
	// Mappings are which group goes to which room or space. Its variable, a JSON array such as
	// [{"group":"Admins","room":"!admins:example.com","method":"force"}], replaces the whole list;
	// durations in it are strings ("72h"). A room with several mappings takes the longest grace
	// period, kick over ban, and one remove: false among them keeps everybody in that room.
	//
	//	# More examples, one form each:
	//	- group: Admins
	//	  space: "!admins:example.com"
	//	  method: force
	//	  rejoin: true
	//	- group: Employees
	//	  space: "#company:example.com"
	//	  include_children: true
	//	  recursive: true
	//	  exclude_rooms: ["!board:example.com"]
	//	  grace_period: 72h
	//	  remove_action: kick
	//	- group: Moderators
	//	  space: "#company:example.com"
	//	  include_children: true
	//	  power_level: 50
	//	- group: Guests
	//	  room: "#lobby:example.com"
	//	  remove: false
	//	  create_if_missing:
	//	      name: Lobby
	//	      topic: Where guests meet the team
	//	      preset: private_chat
	//	      parent_space: "#company:example.com"
	Mappings []Mapping `yaml:"mappings"`
	// MaxRemovalsPerCycle is the mass-removal guard: a cycle that would remove more users than
	// this holds every removal until an admin says "confirm <id>" in the admin room (invites and
	// joins go on). 0 disables it.
	MaxRemovalsPerCycle int `yaml:"max_removals_per_cycle"`
	// MaxRemovalFraction is the same guard per room, for more than this share of the room's
	// managed members. A room may always lose one member per cycle: the rule is "removals >
	// max(1, fraction × managed)", so one of three leaving passes, two of three trip it, two of
	// eight pass at 0.25, three trip it. 0 disables it.
	MaxRemovalFraction float64 `yaml:"max_removal_fraction"`
	// MaxBackoff is the longest wait between cycles while Authentik, the homeserver or the store
	// fails as a whole: the wait doubles from Interval up to this limit, and drops back to
	// Interval after a good cycle. 0s retries every Interval.
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// MaxConcurrentWrites is how many room writes (invites, joins, kicks…) run at once, 1 to 64.
	// Writes to one room run one after another; rooms take turns, so one large room does not hold
	// up the others. Synapse lets an appservice make about ten membership changes at once.
	MaxConcurrentWrites int `yaml:"max_concurrent_writes"`
	// FullResyncInterval is how long a room's cached state is trusted in appservice mode (at
	// least 1m): a room is read again only after the homeserver pushed a change in it, after the
	// bot wrote to it, and at the latest after this long.
	FullResyncInterval time.Duration `yaml:"full_resync_interval"`
}

// AdminConfig is the admin room, from which operators steer the bot.
type AdminConfig struct {
	// Room is the admin room's ID or alias, such as "#sync-admin:example.com"; empty disables
	// the admin room.
	Room string `yaml:"room"`
	// Admins are who may give commands, such as ["@ops:example.com"].
	Admins []string `yaml:"admins"`
	// MinPowerLevel, when above 0, also lets anyone with at least this power level in the admin
	// room give commands, as the homeserver reports it.
	MinPowerLevel int `yaml:"min_power_level"`
	// CommandPrefix is the word every command starts with.
	CommandPrefix string `yaml:"command_prefix"`
}

// Mapping keeps the members of one Authentik group in one room or space.
type Mapping struct {
	// Group is the Authentik group's name (case-sensitive); members of its child groups count too.
	Group string `yaml:"group" json:"group" example:"Staff"`
	// Room is a room ID (!abc:example.com) or an alias (#team:example.com), of a room or a space.
	Room string `yaml:"room" json:"room" example:"#staff:example.com"`
	// Space is the same as Room, the name the original environment variable uses; set one. Load
	// moves it into Room, so after loading it is always empty.
	Space string `yaml:"space,omitempty" json:"space"`
	// Method is JoinInvite or JoinForce for this mapping, over sync.join_method.
	Method string `yaml:"method" json:"method"`
	// Rejoin, with force, joins again someone who left the room on their own.
	Rejoin bool `yaml:"rejoin" json:"rejoin"`
	// RemoveAction is RemoveKick or RemoveBan in this mapping's rooms, over sync.remove_action.
	RemoveAction string `yaml:"remove_action,omitempty" json:"remove_action"`
	// GracePeriod is the grace period in this mapping's rooms, such as 72h, over
	// sync.grace_period.
	GracePeriod *Duration `yaml:"grace_period,omitempty" json:"grace_period"`
	// Remove, when false, makes the mapping invite-only: it adds members and never removes anyone.
	Remove *bool `yaml:"remove,omitempty" json:"remove"`
	// IncludeChildren, with a space, also syncs every room the space lists as a child
	// (m.space.child), picked up and released as the space changes.
	IncludeChildren bool `yaml:"include_children,omitempty" json:"include_children"`
	// Recursive, with IncludeChildren, follows child spaces too (up to 5 levels).
	Recursive bool `yaml:"recursive,omitempty" json:"recursive"`
	// ExcludeRooms are child room IDs that IncludeChildren leaves alone.
	ExcludeRooms []string `yaml:"exclude_rooms,omitempty" json:"exclude_rooms"`
	// CreateIfMissing creates the room when its alias does not exist yet, with the bot as
	// creator.
	CreateIfMissing *CreateRoom `yaml:"create_if_missing,omitempty" json:"create_if_missing"`
	// PowerLevel gives the group's members this power level (1-100) in the mapping's rooms (and,
	// with IncludeChildren, in every child room). The highest level of a user's mappings wins;
	// nobody is lowered by it. Users who leave the group go back to the room's users_default after
	// the grace period; levels the bot did not set are left alone.
	PowerLevel int `yaml:"power_level,omitempty" json:"power_level"`
}

// UserMappingConfig turns Authentik users into Matrix IDs.
type UserMappingConfig struct {
	// Template is the template of the Matrix ID. Placeholders: {username} {email_localpart}
	// {uid} {pk} {server} {attr:NAME} (an Authentik user attribute). Values in the localpart are
	// lower-cased and escaped the way Synapse names SSO users.
	Template string `yaml:"template"`
	// Attribute is an Authentik user attribute holding a full Matrix ID that overrides the
	// template for that user; empty disables the override.
	Attribute string `yaml:"attribute"`
	// Server is what {server} stands for. Leave it unset unless your users' Matrix IDs are on another server
	// than the homeserver's own domain.
	Server string `yaml:"server" example:"example.com" doc:"unset"`
	// Source is how the Matrix ID is found:
	//   - SourceTemplate: built from the template above
	//   - SourceSynapseExternalID: Synapse's admin API says which account is linked to each
	//     Authentik user at an SSO provider, so a user renamed in Authentik keeps their Matrix ID;
	//     the bot must be a Synapse server admin
	Source string `yaml:"source"`
	// ExternalID is how SourceSynapseExternalID finds the accounts linked to Authentik users.
	ExternalID ExternalIDConfig `yaml:"external_id"`
}

// DatabaseConfig is where state (grace periods) lives.
type DatabaseConfig struct {
	// Type is the store:
	//   - DatabaseSQLite: one file in DataDir; one process
	//   - DatabasePostgres: a shared server; several replicas may run, and one of them leads
	Type string `yaml:"type"`
	// URI is the Postgres connection URL, such as
	// postgres://bot:password@db:5432/matrix?sslmode=require.
	URI string `yaml:"uri"`
	// Schema is the Postgres schema holding the bot's tables (created if missing), so the bot can
	// share a database with other software; only this schema is backed up.
	Schema string `yaml:"schema"`
	// MaxOpenConns and MaxIdleConns bound the Postgres connection pool; the leader lock takes
	// one more connection of its own.
	MaxOpenConns int `yaml:"max_open_conns" doc:"tuning"`
	MaxIdleConns int `yaml:"max_idle_conns" doc:"tuning"`
	// PgDump is pg_dump for Postgres backups, a path or a name on PATH; pg_restore must sit
	// beside it. It must be at least as new as the server.
	PgDump string `yaml:"pg_dump"`
	// DataDir is the directory of the SQLite file and its backups, or of the Postgres backups;
	// created if missing.
	DataDir string `yaml:"data_dir"`
	// BackupRetention is how many automatic backups are kept (at least 1); one is made before the
	// removals of a cycle. Manual backups (the backup subcommand, "!sync backup") and those a
	// restore makes of the state it replaces are not counted and are kept until you delete them.
	BackupRetention int `yaml:"backup_retention"`
}

// LoggingConfig is how the program logs.
type LoggingConfig struct {
	// Level is the lowest level logged: debug, info, warning (or warn) or error, in any case.
	Level string `yaml:"level"`
	// Format is LogFormatAuto (console on a terminal, json otherwise), LogFormatJSON or
	// LogFormatConsole.
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
	// Listen is host:port of the listener; empty disables it. Bind 0.0.0.0 only where Prometheus
	// needs it: the endpoints carry no secrets but show room IDs and group names. Its older names
	// are health.listen and HEALTH_LISTEN.
	Listen string `yaml:"listen"`
	// Pprof serves Go's profiler under /debug/pprof/ on the same listener.
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
