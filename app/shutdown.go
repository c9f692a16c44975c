package app

import (
	"time"

	"github.com/rs/zerolog"
)

// shutdownBudget is how long runBot waits for its parts to stop after SIGTERM. Docker and
// Kubernetes send SIGKILL 10 s after SIGTERM; stopping a little earlier on our own lets the store
// close and the exit code be ours. The reconciler needs at most its removal grace (5 s).
const shutdownBudget = 9 * time.Second

// waitStopped waits up to budget for wait (a group's Wait) to return. Past it, the parts still
// running are abandoned: the caller returns and the process exits, which ends them; anything
// they had not finished is redone by the next cycle after a restart.
func waitStopped(wait func() error, budget time.Duration, log zerolog.Logger) bool {
	done := make(chan struct{})
	go func() { _ = wait(); close(done) }()
	t := time.NewTimer(budget)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		log.Error().Float64("waited_seconds", budget.Seconds()).Msg("Shutdown: some parts did not stop in time; abandoning them")
		return false
	}
}
