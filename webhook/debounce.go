package webhook

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Clock starts timers; tests plug in one they fire by hand.
type Clock interface {
	// AfterFunc calls f in its own goroutine once d has passed, unless stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer a Clock started.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// debouncer turns calls into triggers, fast and without losing a change:
//
//   - The first call after a quiet spell fires at once, so a single change reaches Matrix in one
//     cycle's time, and opens a window of wait.
//   - Calls during the window are gathered; when it ends, the window fires once with what it
//     gathered and with what opened it. Authentik logs its event a moment before the change is
//     written, so a cycle started at once may still read the old membership: firing the opening
//     call's groups again a window later reads them once the change is surely there.
//   - If the window gathered anything, the next window opens at its end, so that those calls are
//     checked again a window later in turn; a window that gathered nothing leaves quiet behind.
//
// Every call is thus fired at most wait after it arrived and again at least wait after it, and a
// burst of calls over a time D costs about D/wait + 2 triggers, which the reconciler merges
// further while a cycle runs.
type debouncer struct {
	clock Clock
	wait  time.Duration
	fire  func(groups []string)

	mu       sync.Mutex
	timer    Timer // the open window; nil when quiet
	opened   scope // what opened the window, already fired once
	gathered scope // the window's calls, not fired yet
	closed   bool
}

// scope is what calls named: all means some call named no group ("anything may have changed").
type scope struct {
	all    bool
	groups map[string]bool
}

func (s *scope) add(group string) {
	if group == "" {
		s.all = true
		return
	}
	if s.groups == nil {
		s.groups = map[string]bool{}
	}
	s.groups[group] = true
}

func (s scope) empty() bool { return !s.all && len(s.groups) == 0 }

func (s scope) union(o scope) scope {
	u := scope{all: s.all || o.all}
	for _, part := range []scope{s, o} {
		for g := range part.groups {
			u.add(g)
		}
	}
	return u
}

// addAll records one call that named several groups ("" among them: anything may have changed).
func (d *debouncer) addAll(names []string) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	var now scope
	for _, g := range names {
		now.add(g)
	}
	switch {
	case d.wait <= 0:
	case d.timer == nil: // quiet: fire at once, check again when the window ends
		d.opened, d.gathered = now, scope{}
		d.timer = d.clock.AfterFunc(d.wait, d.windowEnd)
	default:
		d.gathered = d.gathered.union(now)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.send(now)
}

// windowEnd fires what opened the window and what it gathered, then opens the next window for
// the gathered calls, or leaves quiet behind.
func (d *debouncer) windowEnd() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	out := d.opened.union(d.gathered)
	if d.gathered.empty() {
		d.opened, d.timer = scope{}, nil
	} else {
		d.opened, d.gathered = d.gathered, scope{}
		d.timer = d.clock.AfterFunc(d.wait, d.windowEnd)
	}
	d.mu.Unlock()
	d.send(out)
}

// send fires: nil when any call named no group.
func (d *debouncer) send(s scope) {
	switch {
	case s.all:
		d.fire(nil)
	case len(s.groups) > 0:
		d.fire(slices.Sorted(maps.Keys(s.groups)))
	}
}

// close drops what is waiting and ignores later calls.
func (d *debouncer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
