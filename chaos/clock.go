package chaos

import (
	"sync"
	"time"
)

// Clock is the virtual time of one run: the reconciler, the store, the fake homeserver and the
// model all read it, and only the schedule moves it, so that grace periods pass without sleeping
// and a run is the same on a slow machine as on a fast one.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	start time.Time
}

// NewClock starts the virtual time at start.
func NewClock(start time.Time) *Clock { return &Clock{now: start, start: start} }

// Now is the current virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the virtual time on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Since formats t as the time passed since the start of the run, as the step log shows it.
func (c *Clock) Since(t time.Time) string { return "+" + t.Sub(c.start).String() }
