package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoadYAML feeds arbitrary config files through Load, with no environment. Whatever the
// file holds, Load must not panic, must never echo a configured secret in its error, and must
// return either an *Error with problems or a configuration the rest of the program can rely on.
func FuzzLoadYAML(f *testing.F) {
	f.Add([]byte("homeserver: {address: https://matrix.example.com}\nmatrix: {user_id: \"@bot:example.com\", access_token: " + matrixToken + "}\n" +
		"authentik: {url: https://auth.example.com, token: " + authentikToken + "}\n" +
		"sync: {interval: 60s, grace_period: 24h, mappings: [{group: Admins, room: \"!a:example.com\"}]}\n"))
	f.Add([]byte("authentik: {token: " + authentikToken + "}\nsync: {interval: -5s}\n"))
	f.Add([]byte("sync:\n  mappings:\n    - {group: A, room: \"#a:example.com\", method: force, rejoin: true}\n    - group: B\n"))
	f.Add([]byte("homeserver: &a {address: *a}\n"))
	f.Add([]byte("\t- not yaml: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, envFunc(map[string]string{}))
		if err != nil {
			var cfgErr *Error
			if errors.As(err, &cfgErr) && len(cfgErr.Problems) == 0 {
				t.Fatalf("an *Error without problems: %v", err)
			}
			for _, secret := range configuredSecrets(data) {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error echoes the configured secret %q: %v", secret, err)
				}
			}
			return
		}
		if c.Sync.Interval < MinInterval || c.Sync.GracePeriod < 0 {
			t.Fatalf("accepted interval %s, grace %s", c.Sync.Interval, c.Sync.GracePeriod)
		}
		if c.Authentik.Token == "" || c.Homeserver.Address == "" {
			t.Fatalf("accepted a config without an Authentik token or homeserver: %+v", c)
		}
		for i, m := range c.Sync.Mappings {
			if m.Group == "" || m.Room == "" || m.Space != "" || roomProblem(m.Room) != "" {
				t.Fatalf("accepted mapping #%d %+v", i+1, m)
			}
			if m.Method != "" && m.Method != JoinInvite && m.Method != JoinForce {
				t.Fatalf("accepted method %q", m.Method)
			}
		}
	})
}

// configuredSecrets returns the token values (the tests' tokens all hold "SECRET") the file sets
// in their places, or, for a file that does not parse (where any fragment could be a token),
// every secret the tests use.
func configuredSecrets(data []byte) []string {
	var doc any
	if yaml.Unmarshal(data, &doc) != nil {
		return allSecrets
	}
	top, _ := doc.(map[string]any)
	var out []string
	for section, keys := range map[string][]string{"authentik": {"token"}, "matrix": {"access_token"}, "appservice": {"as_token", "hs_token"}} {
		sec, _ := top[section].(map[string]any)
		for _, k := range keys {
			// Only token-like values count: a mutated short value ("mple.com") also occurs in the
			// fixed help text of the messages.
			// A value also written as a key is left out: unknown keys are named by design.
			if v, ok := sec[k].(string); ok && len(v) >= 12 && strings.Contains(v, "SECRET") && !hasKey(doc, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// hasKey reports whether key is part of a mapping key anywhere in the decoded document.
func hasKey(doc any, key string) bool {
	switch d := doc.(type) {
	case map[string]any:
		for k, v := range d {
			if strings.Contains(k, key) || hasKey(v, key) {
				return true
			}
		}
	case []any:
		for _, v := range d {
			if hasKey(v, key) {
				return true
			}
		}
	}
	return false
}
