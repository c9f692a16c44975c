package config

import (
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the environment variable of every key of the file: the key's path in capitals,
// its dots and the rest joined by "_", after the prefix (sync.grace_period is
// AMS_SYNC_GRACE_PERIOD, user_mapping.external_id.subject is
// AMS_USER_MAPPING_EXTERNAL_ID_SUBJECT). The value is written as in the file: a duration such as
// "24h", true or false, a number, or a comma-separated list for a list of names. The prefix keeps
// these names apart from variables other software sets in the same environment.
const EnvPrefix = "AMS_"

// pathSetting is one key of the file that a path-named variable sets.
type pathSetting struct {
	key   string // the YAML path, e.g. "sync.grace_period"
	env   string // its variable, e.g. "AMS_SYNC_GRACE_PERIOD"
	index []int  // the field's index path from Config
	typ   reflect.Type
}

// pathSettings lists every key of the file a path-named variable can set: every value of a
// section, down the nested sections. Lists of sections (sync.mappings) and maps are left out:
// their variable of their own (SYNC_MAPPINGS) takes JSON.
func pathSettings() []pathSetting {
	var out []pathSetting
	var walk func(t reflect.Type, path string, index []int)
	walk = func(t reflect.Type, path string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := name
			if path != "" {
				key = path + "." + name
			}
			if key == "health.listen" {
				continue // the older name of metrics.listen, which has the variable
			}
			idx := append(slices.Clone(index), i)
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath():
				walk(ft, key, idx)
			case ft.Kind() == reflect.Map, ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String:
			default:
				out = append(out, pathSetting{key: key, env: EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")), index: idx, typ: ft})
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// PathEnvNames lists the path-named variables, in the order of the file's keys.
func PathEnvNames() []string {
	var out []string
	for _, s := range pathSettings() {
		out = append(out, s.env)
	}
	return out
}

// applyPathEnv sets every key whose path-named variable is set, parsing the value as the file's
// value would be. It runs before the variables with names of their own (envAliases), and a key
// given by both is a problem, since only one of them can be meant.
func (l *loader) applyPathEnv(c *Config) {
	root := reflect.ValueOf(c).Elem()
	for _, s := range pathSettings() {
		v, ok := l.lookup(s.env)
		if !ok {
			continue
		}
		where := setting(s.key + " / " + s.env)
		for _, a := range envAliases {
			if a.key == s.key {
				if _, set := l.lookup(a.name); set {
					l.problems.add(where, "%s is set as well, for the same setting; keep one of them", a.name)
				}
			}
		}
		field := root.FieldByIndex(s.index)
		switch {
		case s.typ.Kind() == reflect.String:
			field.SetString(v)
		case s.typ.Kind() == reflect.Slice: // a list of names
			var items []string
			for _, item := range strings.Split(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					items = append(items, item)
				}
			}
			field.Set(reflect.ValueOf(items))
		default:
			ptr := reflect.New(s.typ)
			node := yaml.Node{Kind: yaml.ScalarNode, Value: v}
			if err := node.Decode(ptr.Interface()); err != nil {
				t := s.typ
				for t.Kind() == reflect.Pointer {
					t = t.Elem()
				}
				want := expectedValue[t.String()] // the words the file's own type errors use
				if want == "" {
					want = "a value of the key's type"
				}
				l.problems.add(where, "%s cannot be used here; write %s, as the config file would (see docs/configuration.md)", quote(v), want)
				continue
			}
			field.Set(ptr.Elem())
		}
	}
}

// envAlias is an environment variable with a name of its own, for one key of the file: the names
// seed-config.md and the documentation give, which keep working, with the units their names say
// (CLEANUP_GRACE_PERIOD_MINUTES in whole minutes). The code that reads each is in applyEnv and
// the apply*Env functions; this table says which key each sets, and TestEnvAliases checks it
// against what setting each variable does.
type envAlias struct{ name, key string }

// envAliases lists every variable with a name of its own and the key it sets.
var envAliases = []envAlias{
	{"ADMIN_MIN_POWER_LEVEL", "admin.min_power_level"},
	{"ADMIN_ROOM", "admin.room"},
	{"ADMIN_USERS", "admin.admins"},
	{"APPSERVICE_AS_TOKEN", "appservice.as_token"},
	{"APPSERVICE_AS_TOKEN_FILE", "appservice.as_token"},
	{"APPSERVICE_HS_TOKEN", "appservice.hs_token"},
	{"APPSERVICE_HS_TOKEN_FILE", "appservice.hs_token"},
	{"APPSERVICE_REGISTRATION", "appservice.registration"},
	{"AUDIT_MAX_AGE_DAYS", "audit.max_age"},
	{"AUDIT_MAX_ROWS", "audit.max_rows"},
	{"AUTHENTIK_TOKEN", "authentik.token"},
	{"AUTHENTIK_TOKEN_FILE", "authentik.token_file"},
	{"AUTHENTIK_URL", "authentik.url"},
	{"CLEANUP_GRACE_PERIOD_MINUTES", "sync.grace_period"},
	{"COMMAND_PREFIX", "admin.command_prefix"},
	{"DATABASE_SCHEMA", "database.schema"},
	{"DATABASE_URL", "database.uri"},
	{"DATA_DIR", "database.data_dir"},
	{"DB_BACKUP_RETENTION_COUNT", "database.backup_retention"},
	{"DEACTIVATED_LOCK_AFTER", "deactivated.lock_after"},
	{"DEACTIVATED_LOGOUT", "deactivated.logout"},
	{"DEACTIVATED_REMOVE", "deactivated.remove"},
	{"DIRECTORY_SOURCE", "directory.source"},
	{"FORCE_JOIN_VIA", "matrix.force_join_via"},
	{"HEALTH_LISTEN", "metrics.listen"},
	{"JOIN_METHOD", "sync.join_method"},
	{"LOG_FORMAT", "logging.format"},
	{"LOG_LEVEL", "logging.level"},
	{"MAS_CLIENT_ID", "mas.client_id"},
	{"MAS_CLIENT_SECRET", "mas.client_secret"},
	{"MAS_CLIENT_SECRET_FILE", "mas.client_secret_file"},
	{"MAS_UPSTREAM_PROVIDER", "mas.upstream_provider"},
	{"MAS_URL", "mas.url"},
	{"MAS_USE_FOR_SYNAPSE_ADMIN", "mas.use_for_synapse_admin"},
	{"MATRIX_ACCESS_TOKEN", "matrix.access_token"},
	{"MATRIX_ACCESS_TOKEN_FILE", "matrix.access_token_file"},
	{"MATRIX_AUTH", "matrix.auth"},
	{"MATRIX_HOMESERVER_URL", "homeserver.address"},
	{"MATRIX_USER_ID", "matrix.user_id"},
	{"MAX_REMOVALS_PER_CYCLE", "sync.max_removals_per_cycle"},
	{"MAX_REMOVAL_FRACTION", "sync.max_removal_fraction"},
	{"METRICS_LISTEN", "metrics.listen"},
	{"METRICS_PPROF", "metrics.pprof"},
	{"PG_DUMP", "database.pg_dump"},
	{"PROFILE_SYNC_AVATAR_ATTRIBUTE", "profile_sync.avatar_attribute"},
	{"PROFILE_SYNC_DISPLAYNAME", "profile_sync.displayname"},
	{"PROTECTED_USERS", "protected_users"},
	{"REMOVE_ACTION", "sync.remove_action"},
	{"SCIM_DEBOUNCE_MS", "scim.debounce"},
	{"SCIM_LISTEN", "scim.listen"},
	{"SCIM_SETTLE_SECONDS", "scim.settle"},
	{"SCIM_TOKEN", "scim.token"},
	{"SCIM_TOKEN_FILE", "scim.token_file"},
	{"SYNC_FULL_RESYNC_INTERVAL_SECONDS", "sync.full_resync_interval"},
	{"SYNC_INTERVAL_SECONDS", "sync.interval"},
	{"SYNC_MAPPINGS", "sync.mappings"},
	{"SYNC_MAX_BACKOFF_SECONDS", "sync.max_backoff"},
	{"SYNC_MAX_CONCURRENT_WRITES", "sync.max_concurrent_writes"},
	{"WEBHOOK_DEBOUNCE_MS", "webhook.debounce"},
	{"WEBHOOK_HEADER", "webhook.header"},
	{"WEBHOOK_LISTEN", "webhook.listen"},
	{"WEBHOOK_SECRET", "webhook.secret"},
	{"WEBHOOK_SECRET_FILE", "webhook.secret_file"},
}
