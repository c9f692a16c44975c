package config

import (
	"net"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// listenFault says what is wrong with a listener's host:port address.
type listenFault int

const (
	listenOK          listenFault = iota
	listenNotHostPort             // no host:port form, or an empty port
	listenBadPort                 // the port is not a number from 1 to 65535
)

// parseListen checks a listener's host:port address. Port 0 (any free port) is refused: the
// address must be one Authentik or a scraper can be pointed at.
func parseListen(addr string) listenFault {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return listenNotHostPort
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return listenBadPort
	}
	return listenOK
}

// checkListen adds a problem when addr, the non-empty value of s, is not host:port with a port
// from 1 to 65535; port is the one shown in the example.
func checkListen(ps *problems, s setting, addr, port string) {
	switch parseListen(addr) {
	case listenNotHostPort:
		ps.add(s, "%s is not host:port; write it as 0.0.0.0:%s (all interfaces) or 10.0.0.5:%s", quote(addr), port, port)
	case listenBadPort:
		ps.add(s, "%s has no valid port; use 1 to 65535", quote(addr))
	}
}

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
