package health

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Role is what an instance is doing about the cycles.
type Role int

const (
	// RoleStarting is an instance still checking the homeserver and resolving rooms: it is
	// not ready until its checks pass like a leader's.
	RoleStarting Role = iota
	// RoleFollower waits for the leader lock; it runs no cycles and asks no upstream service.
	RoleFollower
	// RoleLeader runs the cycles.
	RoleLeader
)

// The details a check that does not apply shows in the /ready body.
const (
	NoteFollower = "follower: not running cycles"
	NotePaused   = "paused by an admin"
)

// Leadership records the instance's role and when it took it. The zero value is RoleStarting.
type Leadership struct {
	mu    sync.Mutex
	role  Role
	since time.Time
	now   func() time.Time
}

// NewLeadership returns a Leadership in RoleStarting; now is its clock (nil: time.Now).
func NewLeadership(now func() time.Time) *Leadership {
	if now == nil {
		now = time.Now
	}
	return &Leadership{now: now}
}

// Set records whether the instance leads now; the time counts from the change.
func (l *Leadership) Set(leading bool) {
	role := RoleFollower
	if leading {
		role = RoleLeader
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.role != role {
		l.role, l.since = role, l.now()
	}
}

// Tracking returns setLeader with the role recorded first, for the elector's callback.
func (l *Leadership) Tracking(setLeader func(bool)) func(bool) {
	return func(leading bool) {
		l.Set(leading)
		setLeader(leading)
	}
}

// Role returns the role and when it began (zero while starting).
func (l *Leadership) Role() (Role, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.role, l.since
}

// Excuse returns the Note of the checks that follow the cycles (cycle, Authentik, homeserver):
// a follower runs no cycles and asks nobody; a leader whose latest cycle found it paused by an
// admin reads nothing. A paused cycle older than maxAge is no excuse: the loop itself stalled.
func Excuse(lead *Leadership, cycles Cycles, maxAge time.Duration, now func() time.Time) func() string {
	return func() string {
		if role, _ := lead.Role(); role == RoleFollower {
			return NoteFollower
		}
		c := cycles.LastCycle()
		if c != nil && c.Paused && now().Sub(c.Started.Add(c.Duration)) <= maxAge {
			return NotePaused
		}
		return ""
	}
}

// RecentSinceLeading is Recent for a leader: the clock starts when it began leading, so a leader
// that just started or took over has maxAge for its first cycle (a follower asked nobody). While
// the instance is still starting, there is no such grace.
func RecentSinceLeading(what string, last func() time.Time, lead *Leadership, maxAge time.Duration, now func() time.Time) func(context.Context) error {
	return func(ctx context.Context) error {
		role, since := lead.Role()
		if at := last(); role == RoleLeader && (at.IsZero() || at.Before(since)) {
			if age := now().Sub(since); age > maxAge {
				return fmt.Errorf("no %s in the %s since this instance began leading, more than %s", what, age.Round(time.Second), maxAge)
			}
			return nil
		}
		return Recent(what, last, maxAge, now)(ctx)
	}
}
