package config

import (
	"strings"
	"testing"
)

// TestYAMLTypeErrorsNameTheKey: a value of the wrong type is reported with its line, its key path
// and what to write instead, each one, and loading goes on to report the rest.
func TestYAMLTypeErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // problems, each in full after "config file PATH, "
	}{
		{name: "a list for a duration", file: "sync:\n  interval: [1]\n",
			want: []string{"line 2: sync.interval: a list cannot be used here; write a duration such as 90s, 5m or 24h"}},
		{name: "a block list for a duration", file: "sync:\n  interval:\n    - 1\n",
			want: []string{"line 3: sync.interval: a list cannot be used here; write a duration such as 90s, 5m or 24h"}},
		{name: "a word for a duration", file: "sync:\n  grace_period: yes\n",
			want: []string{"line 2: sync.grace_period: `yes` cannot be used here; write a duration such as 90s, 5m or 24h"}},
		{name: "two on one line", file: "authentik: {page_size: many, timeout: yes}\n",
			want: []string{"line 1: authentik.page_size: `many` cannot be used here; write a whole number",
				"line 1: authentik.timeout: `yes` cannot be used here; write a duration such as 90s, 5m or 24h"}},
		{name: "a list for a section", file: "logging: [debug]\n",
			want: []string{"line 1: logging: a list cannot be used here; write a section of keys (see config.example.yaml)"}},
		{name: "a word for a boolean", file: "metrics:\n  pprof: maybe\n",
			want: []string{"line 2: metrics.pprof: `maybe` cannot be used here; write true or false"}},
		{name: "in the second mapping", file: "sync:\n  mappings:\n    - group: a\n      room: '!a:example.com'\n    - group: [b]\n      room: '!b:example.com'\n",
			want: []string{"line 5: sync.mappings[1].group: a list cannot be used here; write a single value (quote it)"}},
		{name: "a mapping's grace period, and the next problem too",
			file: "sync:\n  mappings:\n    - group: a\n      room: '!a:example.com'\n      grace_period: two days\n      remove: [no]\n",
			want: []string{"line 5: sync.mappings[0].grace_period: `two days` cannot be used here; write a duration such as 48h, 90m or 0s",
				"line 6: sync.mappings[0].remove: a list cannot be used here; write true or false"}},
		{name: "a long value is cut", file: "sync:\n  mappings:\n    - group: a\n      room: '!a:example.com'\n      grace_period: a fortnight or so\n",
			want: []string{"line 5: sync.mappings[0].grace_period: `a fortn...` cannot be used here; write a duration such as 48h, 90m or 0s"}},
		{name: "a word for a list", file: "protected_users: '@admin:example.com'\n",
			want: []string{"line 1: protected_users: `@admin:...` cannot be used here; write a list of values (- value)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tc.file, 0o600)
			_, err := Load(path, envFunc(clientEnv()))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), "config file "+path+", "+want+"\n") && !strings.HasSuffix(err.Error(), "config file "+path+", "+want) {
					t.Errorf("no problem reads %q:\n%v", want, err)
				}
			}
		})
	}
}
