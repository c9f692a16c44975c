package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitFor polls cond every 100 ms until it returns true, the timeout passes or ctx ends. An error
// from cond does not stop the polling: it describes what was seen ("@bob is invite, want join")
// and is what the timeout error reports, so a failing test says how far things got.
func WaitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	polls := 0
	for {
		polls++
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			if last == nil {
				last = errors.New("condition false, no detail given")
			}
			return fmt.Errorf("gave up after %s (%d polls): %w; last seen: %w", timeout, polls, ctx.Err(), last)
		case <-tick.C:
		}
	}
}
