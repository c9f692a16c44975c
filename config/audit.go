package config

import "time"

// AuditConfig bounds the audit log: what the cycles did in rooms and what admins ordered. The
// log is kept whether or not an admin room is configured, and pruned at start and once a day.
type AuditConfig struct {
	// MaxAge is the age after which entries are deleted (at least 1h); 0s keeps them whatever
	// their age.
	MaxAge time.Duration `yaml:"max_age"`
	// MaxRows is how many entries are kept at most, the newest; 0 keeps any number.
	MaxRows int `yaml:"max_rows"`
}

const (
	sAuditMaxAge  setting = "audit log age limit (audit.max_age / AUDIT_MAX_AGE_DAYS)"
	sAuditMaxRows setting = "audit log size limit (audit.max_rows / AUDIT_MAX_ROWS)"
)

const (
	DefaultAuditMaxAge  = 90 * 24 * time.Hour
	DefaultAuditMaxRows = 100_000
	// MinAuditMaxAge catches a slip of the unit (30m meant as 30 days) before it empties the
	// log: an hour's entries are the least worth keeping.
	MinAuditMaxAge = time.Hour
)

// applyAuditEnv reads the AUDIT_* variables.
func (l *loader) applyAuditEnv(c *Config) {
	const day = 24 * time.Hour
	if n, ok := l.envCount("AUDIT_MAX_AGE_DAYS", sAuditMaxAge, "days", "90", int64(day)); ok {
		c.Audit.MaxAge = time.Duration(n) * day
	}
	if n, ok := l.envCount("AUDIT_MAX_ROWS", sAuditMaxRows, "entries", "100000", 1); ok {
		c.Audit.MaxRows = int(n)
	}
}

// checkAudit validates the audit log's bounds.
func (c *Config) checkAudit(ps *problems) {
	a := c.Audit
	if a.MaxAge < 0 || (a.MaxAge > 0 && a.MaxAge < MinAuditMaxAge) {
		ps.add(sAuditMaxAge, "%s is out of range; use 0s to keep entries whatever their age, or at least %s, such as 2160h (90 days, the default)", a.MaxAge, MinAuditMaxAge)
	}
	if a.MaxRows < 0 {
		ps.add(sAuditMaxRows, "%d is negative; use 0 to keep any number of entries, or a limit such as %d (the default)", a.MaxRows, DefaultAuditMaxRows)
	}
}
