package appservice

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// rateGate holds back every request to the homeserver while it asked for a pause. Synapse's
// 429s mean "this client is too busy", so one answer speaks for all the bot's requests: letting
// the others go on would only earn more 429s and lengthen the pause.
type rateGate struct {
	mu    sync.Mutex
	until time.Time
	now   func() time.Time
}

func newRateGate() *rateGate { return &rateGate{now: time.Now} }

// closeFor keeps the gate shut for d from now, or longer if it already was.
func (g *rateGate) closeFor(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := g.now().Add(d); until.After(g.until) {
		g.until = until
	}
}

// wait returns once the gate is open, or with ctx's error when ctx ends first. A pause that
// grows while waiting (another request met a 429) is waited out too.
func (g *rateGate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		left := g.until.Sub(g.now())
		g.mu.Unlock()
		if left <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(left)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// logFor is the logger for a request: the caller's from ctx (a cycle's carries its id), else the
// client's own.
func (m *Matrix) logFor(ctx context.Context) *zerolog.Logger {
	if l := zerolog.Ctx(ctx); l.GetLevel() != zerolog.Disabled {
		withComponent := l.With().Str("component", "matrix").Logger()
		return &withComponent
	}
	return &m.log
}
