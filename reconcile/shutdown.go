package reconcile

import (
	"context"
	"time"
)

// removalGrace is how long a kick or ban already sent may still take, with its record in the
// store, once shutdown began. It keeps the pair together (a kick whose answer is lost would be
// neither repeated nor recorded until the next cycle recognised it) while the whole shutdown
// stays well within the 10 s that container runtimes wait before SIGKILL.
const removalGrace = 5 * time.Second

// outlive returns a context that ends grace after ctx ends (or when the returned cancel is
// called), not at once: the work started under it finishes, within a bound.
func outlive(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	out, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-out.Done():
		}
	})
	return out, func() { stop(); cancel() }
}
