package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPathEnv: the variable named after a key's path sets it, its value written as in the file.
func TestPathEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(c *Config) bool
	}{
		{"a duration", map[string]string{"AMS_SYNC_GRACE_PERIOD": "90m"}, func(c *Config) bool { return c.Sync.GracePeriod == 90*time.Minute }},
		{"a word", map[string]string{"AMS_SYNC_JOIN_METHOD": "force"}, func(c *Config) bool { return c.Sync.JoinMethod == "force" }},
		{"true or false", map[string]string{"AMS_METRICS_PPROF": "true"}, func(c *Config) bool { return c.Metrics.Pprof }},
		{"a whole number", map[string]string{"AMS_DATABASE_MAX_OPEN_CONNS": "7"}, func(c *Config) bool { return c.Database.MaxOpenConns == 7 }},
		{"a fraction", map[string]string{"AMS_SYNC_MAX_REMOVAL_FRACTION": "0.5"}, func(c *Config) bool { return c.Sync.MaxRemovalFraction == 0.5 }},
		{"a list of names", map[string]string{"AMS_PROTECTED_USERS": "@root:example.com, /@ops-.*:example\\.com/"},
			func(c *Config) bool {
				return slices.Equal(c.ProtectedUsers, []string{"@root:example.com", `/@ops-.*:example\.com/`})
			}},
		{"a key two sections down", map[string]string{"AMS_USER_MAPPING_EXTERNAL_ID_SUBJECT": "sub"},
			func(c *Config) bool { return c.UserMapping.ExternalID.Subject == "sub" }},
		{"a duration of this package's own type", map[string]string{"AMS_AUDIT_MAX_AGE": "720h"}, func(c *Config) bool { return c.Audit.MaxAge == 720*time.Hour }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := clientEnv()
			maps.Copy(env, tc.env)
			c, err := Load("", envFunc(env))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("%v did not set its key: %+v", tc.env, c)
			}
		})
	}
}

// TestPathEnvRefusals: a value the key cannot take, or the same setting given under both of its
// names, is a problem naming the variable.
func TestPathEnvRefusals(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"AMS_SYNC_GRACE_PERIOD": "a day"}, `sync.grace_period / AMS_SYNC_GRACE_PERIOD: "a day" cannot be used here; write a duration such as 90s, 5m or 24h`},
		{map[string]string{"AMS_METRICS_PPROF": "maybe"}, "AMS_METRICS_PPROF: \"maybe\" cannot be used here; write true or false"},
		{map[string]string{"AMS_DATABASE_MAX_OPEN_CONNS": "many"}, "AMS_DATABASE_MAX_OPEN_CONNS: \"many\" cannot be used here; write a whole number"},
		{map[string]string{"AMS_SYNC_GRACE_PERIOD": "2h", "CLEANUP_GRACE_PERIOD_MINUTES": "120"},
			"sync.grace_period / AMS_SYNC_GRACE_PERIOD: CLEANUP_GRACE_PERIOD_MINUTES is set as well, for the same setting; keep one of them"},
	}
	for _, tc := range tests {
		env := clientEnv()
		maps.Copy(env, tc.env)
		_, err := Load("", envFunc(env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one with %q", tc.env, err, tc.want)
		}
	}
}

// TestEveryKeyHasAPathVariable: every key of the file, but those inside lists and maps and the
// older health.listen, has its path-named variable, and setting that variable alone changes that
// key (and the keys that follow it: a default taken from it, an older name of it) and no other.
func TestEveryKeyHasAPathVariable(t *testing.T) {
	rows := referenceRows()
	env, err := probeEnvironment(PathEnvNames(), rows)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string][]string{}
	for key, vars := range env {
		for _, v := range vars {
			byName[v.name] = append(byName[v.name], key)
		}
	}
	follows := map[string]string{"homeserver.domain": "user_mapping.server", "metrics.listen": "health.listen"}
	checked := 0
	for _, r := range rows {
		if r.isGroup || r.list != "" || strings.Contains(r.key, "<name>") || r.key == "health.listen" {
			continue
		}
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(r.key, ".", "_"))
		got := slices.Sorted(slices.Values(byName[name]))
		want := []string{r.key}
		if f, ok := follows[r.key]; ok { // a key whose default, or older name, follows this one
			want = slices.Sorted(slices.Values([]string{r.key, f}))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s sets %v, want %v", name, got, want)
		}
		checked++
	}
	if checked < 70 {
		t.Errorf("checked %d keys; the Config struct has more", checked)
	}
	t.Logf("%d keys, each set by its path-named variable alone", checked)
}

// TestEnvAliases: the table of variables with names of their own says which key each sets, as
// setting each one alone shows.
func TestEnvAliases(t *testing.T) {
	src, err := parseSource(".")
	if err != nil {
		t.Fatal(err)
	}
	env, err := probeEnvironment(src.envNames, referenceRows())
	if err != nil {
		t.Fatal(err)
	}
	var probed, table []string
	for key, vars := range env {
		for _, v := range vars {
			if key != "health.listen" {
				probed = append(probed, v.name+" → "+key)
			}
		}
	}
	for _, a := range envAliases {
		table = append(table, a.name+" → "+a.key)
	}
	slices.Sort(probed)
	slices.Sort(table)
	if !slices.Equal(probed, table) {
		t.Errorf("the variables set:\n%s\nthe table says:\n%s", strings.Join(probed, "\n"), strings.Join(table, "\n"))
	}
	for _, a := range envAliases {
		if strings.HasPrefix(a.name, EnvPrefix) {
			t.Errorf("%s: a name of its own must not look like a path-named variable", a.name)
		}
	}
}
