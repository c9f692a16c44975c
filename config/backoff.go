package config

import "time"

const sMaxBackoff setting = "back-off limit (sync.max_backoff / SYNC_MAX_BACKOFF_SECONDS)"

// DefaultMaxBackoff caps the wait between cycles while Authentik, the homeserver or the store
// fails as a whole: long enough to stop hammering a service that is down, short enough that
// the sync resumes within minutes of its recovery.
const DefaultMaxBackoff = 5 * time.Minute

// applyBackoffEnv reads SYNC_MAX_BACKOFF_SECONDS.
func (l *loader) applyBackoffEnv(c *Config) {
	if n, ok := l.envCount("SYNC_MAX_BACKOFF_SECONDS", sMaxBackoff, "seconds", "300", int64(time.Second)); ok {
		c.Sync.MaxBackoff = time.Duration(n) * time.Second
	}
}

// checkBackoff validates the back-off limit.
func (c *Config) checkBackoff(ps *problems) {
	if c.Sync.MaxBackoff < 0 {
		ps.add(sMaxBackoff, "%s is negative; use 0 to retry every interval, or a limit such as 5m (default)", c.Sync.MaxBackoff)
	}
}
