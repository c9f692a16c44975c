package config

import "testing"

func TestListenFromFile(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"default", "", DefaultMetricsListen},
		{"metrics.listen", "metrics: {listen: '0.0.0.0:9200'}\n", "0.0.0.0:9200"},
		{"health.listen is the older name", "health: {listen: '0.0.0.0:9201'}\n", "0.0.0.0:9201"},
		{"health.listen empty disables", "health: {listen: ''}\n", ""},
		{"both, equal", "health: {listen: ':9202'}\nmetrics: {listen: ':9202'}\n", ":9202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tt.yaml, 0o600)
			c := mustLoad(t, path, clientEnv())
			if c.Metrics.Listen != tt.want || c.Health.Listen != tt.want {
				t.Errorf("metrics.listen %q, health.listen %q, want both %q", c.Metrics.Listen, c.Health.Listen, tt.want)
			}
		})
	}
}
