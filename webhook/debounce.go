package webhook

import (
	"maps"
	"slices"
	gosync "sync"
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

// debouncer gathers calls for one window and then fires once with everything they named. The
// window starts at the first call and is not extended by later ones, so that a steady stream of
// calls still fires every window instead of never.
type debouncer struct {
	clock Clock
	wait  time.Duration
	fire  func(groups []string)

	mu     gosync.Mutex
	timer  Timer
	all    bool
	groups map[string]bool
	closed bool
}

// add records a call: a group name, or "" for "anything may have changed".
func (d *debouncer) add(group string) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if group == "" {
		d.all = true
	} else {
		if d.groups == nil {
			d.groups = map[string]bool{}
		}
		d.groups[group] = true
	}
	if d.wait <= 0 {
		d.mu.Unlock()
		d.flush()
		return
	}
	if d.timer == nil {
		d.timer = d.clock.AfterFunc(d.wait, d.flush)
	}
	d.mu.Unlock()
}

// flush fires with what the window gathered: nil when any call named no group.
func (d *debouncer) flush() {
	d.mu.Lock()
	all, groups := d.all, d.groups
	d.all, d.groups, d.timer = false, nil, nil
	closed := d.closed
	d.mu.Unlock()
	if closed || (!all && len(groups) == 0) {
		return
	}
	if all {
		d.fire(nil)
		return
	}
	d.fire(slices.Sorted(maps.Keys(groups)))
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
