package app

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
)

func TestWaitStopped(t *testing.T) {
	tests := []struct {
		name    string
		runs    time.Duration
		budget  time.Duration
		stopped bool
	}{
		{"parts stop in time", 10 * time.Millisecond, time.Second, true},
		{"a part hangs", time.Hour, 50 * time.Millisecond, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var group errgroup.Group
			release := make(chan struct{})
			defer close(release)
			group.Go(func() error {
				select {
				case <-time.After(tc.runs):
				case <-release:
				}
				return nil
			})
			start := time.Now()
			if got := waitStopped(group.Wait, tc.budget, zerolog.Nop()); got != tc.stopped {
				t.Errorf("stopped = %v, want %v", got, tc.stopped)
			}
			if took := time.Since(start); took > tc.budget+time.Second {
				t.Errorf("waited %s with a budget of %s", took, tc.budget)
			}
		})
	}
}
