package config

import "time"

const (
	sMaxConcurrentWrites setting = "write concurrency (sync.max_concurrent_writes / SYNC_MAX_CONCURRENT_WRITES)"
	sFullResyncInterval  setting = "full re-read interval (sync.full_resync_interval / SYNC_FULL_RESYNC_INTERVAL_SECONDS)"
)

const (
	// DefaultMaxConcurrentWrites matches what Synapse lets one appservice do at once: about ten
	// membership changes before it answers 429, minus room for the bot's other requests.
	DefaultMaxConcurrentWrites = 8
	// MaxConcurrentWrites is the upper limit: beyond it the homeserver only rate-limits more.
	MaxConcurrentWrites = 64
	// DefaultFullResyncInterval bounds how long a room's cached state is trusted in appservice
	// mode, in case the homeserver failed to push one of its changes.
	DefaultFullResyncInterval = time.Hour
	// MinFullResyncInterval keeps the setting meaningful: a shorter one is a re-read every cycle.
	MinFullResyncInterval = time.Minute
)

// applyScaleEnv reads SYNC_MAX_CONCURRENT_WRITES and SYNC_FULL_RESYNC_INTERVAL_SECONDS.
func (l *loader) applyScaleEnv(c *Config) {
	if n, ok := l.envCount("SYNC_MAX_CONCURRENT_WRITES", sMaxConcurrentWrites, "writes", "8", 1); ok {
		c.Sync.MaxConcurrentWrites = int(n)
	}
	if n, ok := l.envCount("SYNC_FULL_RESYNC_INTERVAL_SECONDS", sFullResyncInterval, "seconds", "3600", int64(time.Second)); ok {
		c.Sync.FullResyncInterval = time.Duration(n) * time.Second
	}
}

// checkScale validates the write concurrency and the full re-read interval.
func (c *Config) checkScale(ps *problems) {
	s := c.Sync
	if s.MaxConcurrentWrites < 1 || s.MaxConcurrentWrites > MaxConcurrentWrites {
		ps.add(sMaxConcurrentWrites, "%d is out of range; use 1 to %d (default %d)", s.MaxConcurrentWrites, MaxConcurrentWrites, DefaultMaxConcurrentWrites)
	}
	if s.FullResyncInterval < MinFullResyncInterval {
		ps.add(sFullResyncInterval, "%s is shorter than the minimum %s; use at least %d seconds (default %d)",
			s.FullResyncInterval, MinFullResyncInterval, int(MinFullResyncInterval.Seconds()), int(DefaultFullResyncInterval.Seconds()))
	}
}
