package config

import "gopkg.in/yaml.v3"

// listenAlias lets health.listen, the listener's older name, stand in for metrics.listen. The
// file is read a second time for this, because only there can "not set" be told from "set to
// empty" (which disables the listener).
func (l *loader) listenAlias(c *Config, data []byte, path string) {
	var seen struct {
		Health struct {
			Listen *string `yaml:"listen"`
		} `yaml:"health"`
		Metrics struct {
			Listen *string `yaml:"listen"`
		} `yaml:"metrics"`
	}
	if yaml.Unmarshal(data, &seen) != nil || seen.Health.Listen == nil {
		return
	}
	switch m := seen.Metrics.Listen; {
	case m == nil:
		c.Metrics.Listen = *seen.Health.Listen
	case *m != *seen.Health.Listen:
		l.problems.add(sHealthListen, "config file %s sets both metrics.listen (%s) and its older name health.listen (%s); keep metrics.listen only",
			path, quote(*m), quote(*seen.Health.Listen))
	}
}
