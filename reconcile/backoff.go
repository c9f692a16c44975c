package reconcile

import (
	"errors"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// The back-off policy: a cycle in which a service the sync depends on failed as a whole (see
// outage) makes the next cycle wait twice as long as the one before, starting from the
// interval and capped at Options.MaxBackoff; the first cycle without such an outage resets the
// wait to the interval. A trigger (an admin's "now") still runs a cycle at once. A failure
// confined to one group, one room or one user does not slow the others down: the rest of the
// cycle made progress, and the broken part costs one request per interval.

// Outage names what failed as a whole in a cycle, for logs and the back-off.
const (
	OutageStore      = "the state store"
	OutageAuthentik  = "Authentik"
	OutageHomeserver = "the homeserver"
)

// IsSetupProblem reports whether err is one that a change of setup fixes rather than a wait: a
// mapped group Authentik does not have, a mapped room the bot is not in. Such a group or room is
// warned about on its own and does not count towards an outage, so that the fix shows at the
// next interval instead of after minutes of back-off. An error marks itself with a SetupProblem
// method.
func IsSetupProblem(err error) bool {
	var p interface{ SetupProblem() }
	return errors.As(err, &p)
}

// noteUnread records which mapped groups and rooms the cycle could not read, and how many of
// them for a setup problem.
func (c *CycleResult) noteUnread(obs plan.Observed) {
	for name, g := range obs.Groups {
		if !g.Known() {
			c.UnknownGroups = append(c.UnknownGroups, name)
			if IsSetupProblem(g.Err) {
				c.setupGroups++
			}
		}
	}
	slices.Sort(c.UnknownGroups)
	for room, ro := range obs.Rooms {
		if ro.Err != nil {
			c.UnreadableRooms = append(c.UnreadableRooms, room)
			if IsSetupProblem(ro.Err) {
				c.setupRooms = append(c.setupRooms, room)
			}
		}
	}
	slices.Sort(c.UnreadableRooms)
	slices.Sort(c.setupRooms)
}

// outage names the service that failed as a whole in the cycle, or "" when the cycle made
// progress: the store could not be read; no mapped group could be read; no mapped room could be
// read; or every room change the cycle tried failed. Groups and rooms unread for a setup problem
// (IsSetupProblem) count neither way: one mistyped group is no Authentik outage, and it does
// not hide one either.
func (c *CycleResult) outage(policy plan.Policy) string {
	if c.Paused {
		return ""
	}
	if c.Err != nil {
		return OutageStore
	}
	var groups []string
	var rooms []id.RoomID
	for _, m := range policy.Mappings {
		if !slices.Contains(groups, m.Group) {
			groups = append(groups, m.Group)
		}
		if !slices.Contains(rooms, m.Room) {
			rooms = append(rooms, m.Room)
		}
	}
	failingGroups, readableGroups := len(c.UnknownGroups)-c.setupGroups, len(groups)-c.setupGroups
	failingRooms, readableRooms := len(c.UnreadableRooms)-len(c.setupRooms), len(rooms)-len(c.setupRooms)
	switch {
	case failingGroups > 0 && failingGroups >= readableGroups:
		return OutageAuthentik
	case failingRooms > 0 && failingRooms >= readableRooms:
		return OutageHomeserver
	}
	failed, ok := 0, 0
	for _, w := range c.Writes {
		if w.Account {
			continue // a lock or profile write fails for reasons of its own (see IsAccountWrite)
		}
		switch w.Result {
		case ResultOK:
			ok++
		case ResultFailed:
			failed++
		}
	}
	if failed > 0 && ok == 0 {
		return OutageHomeserver
	}
	return ""
}

// BackoffDelay is the wait before the cycle after the streak-th failing cycle in a row: the
// interval doubled streak times, at most limit (and never less than the interval).
func BackoffDelay(interval, limit time.Duration, streak int) time.Duration {
	d := interval
	for i := 0; i < streak && d < limit; i++ {
		d *= 2
	}
	return max(interval, min(d, limit))
}

// scheduleNext decides when the next cycle runs after res, keeping the count of failing cycles
// in a row. It runs under the cycle lock.
func (r *Reconciler) scheduleNext(log zerolog.Logger, res *CycleResult) {
	res.Outage = res.outage(r.opts.Policy)
	if res.Outage == "" {
		if r.failStreak > 0 {
			log.Info().Int("failed_cycles", r.failStreak).Msg("Upstream answers again; cycles run every interval")
		}
		r.failStreak = 0
		res.NextIn = r.opts.Interval
		return
	}
	r.failStreak++
	res.NextIn = BackoffDelay(r.opts.Interval, r.opts.MaxBackoff, r.failStreak)
	log.Warn().Str("failing", res.Outage).Int("failed_cycles", r.failStreak).Float64("next_in_seconds", res.NextIn.Seconds()).
		Msg("Upstream failing; backing off before the next cycle")
}
