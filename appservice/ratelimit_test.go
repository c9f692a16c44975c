package appservice

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const kickRoute = "POST /_matrix/client/v3/rooms/" + string(room) + "/kick"

// gateClosedUntil reads the shared gate's deadline.
func gateClosedUntil(m *Matrix) time.Time {
	m.gate.mu.Lock()
	defer m.gate.mu.Unlock()
	return m.gate.until
}

func TestRateLimitPausesEveryRequest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		pause  time.Duration
	}{
		{"retry_after_ms in the body", func(w http.ResponseWriter) {
			writeJSON(w, 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 300})
		}, 300 * time.Millisecond},
		{"Retry-After header", func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, matrixError("M_LIMIT_EXCEEDED", "Too Many Requests"))
		}, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			var mu sync.Mutex
			var limitedAt time.Time
			arrivals := map[string][]time.Time{}
			f.on(inviteRoute, func(w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				arrivals["invite"] = append(arrivals["invite"], time.Now())
				if len(arrivals["invite"]) == 1 {
					limitedAt = time.Now()
					tc.answer(w)
					return
				}
				writeJSON(w, 200, map[string]any{})
			})
			f.on(kickRoute, func(w http.ResponseWriter, _ *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				arrivals["kick"] = append(arrivals["kick"], time.Now())
				writeJSON(w, 200, map[string]any{})
			})
			m := newTestMatrix(t, f, true, "")
			m.maxRateLimitWait = 2 * time.Second

			invited := make(chan error, 1)
			go func() { invited <- m.Invite(context.Background(), room, alice, "") }()
			deadline := time.Now().Add(5 * time.Second)
			for gateClosedUntil(m).IsZero() {
				if time.Now().After(deadline) {
					t.Fatal("the 429 did not close the gate")
				}
				time.Sleep(time.Millisecond)
			}
			// A different request, from the same client, waits for the same pause.
			if err := m.Kick(context.Background(), room, bob, ""); err != nil {
				t.Fatalf("Kick: %v", err)
			}
			if err := <-invited; err != nil {
				t.Fatalf("Invite after the pause: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(arrivals["invite"]) != 2 || len(arrivals["kick"]) != 1 {
				t.Fatalf("requests: %d invites, %d kicks; want 2 and 1", len(arrivals["invite"]), len(arrivals["kick"]))
			}
			// The client closes the gate after the server answered, so both must come later
			// than the answer plus the pause.
			for what, at := range map[string]time.Time{"kick": arrivals["kick"][0], "invite retry": arrivals["invite"][1]} {
				if waited := at.Sub(limitedAt); waited < tc.pause {
					t.Errorf("%s reached the homeserver %v after the 429, want at least %v", what, waited, tc.pause)
				}
			}
		})
	}
}

func TestRateLimitGateHonoursContext(t *testing.T) {
	f := newFakeHS(t)
	f.reply(kickRoute, 200, map[string]any{})
	m := newTestMatrix(t, f, false, "")
	m.gate.closeFor(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := m.Kick(ctx, room, bob, "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Kick behind a closed gate = %v, want the deadline", err)
	}
	if calls := f.routesCalled(); len(calls) != 0 {
		t.Fatalf("requests made while the gate was closed: %v", calls)
	}
}

func TestRateLimitLogCarriesTheCycle(t *testing.T) {
	f := newFakeHS(t)
	f.reply(inviteRoute, 429, map[string]any{"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 3_600_000})
	m := newTestMatrix(t, f, false, "")
	var buf bytes.Buffer
	ctx := zerolog.New(&buf).With().Str("cycle", "c0ffee").Logger().WithContext(context.Background())
	if _, limited := IsRateLimited(m.Invite(ctx, room, alice, "")); !limited {
		t.Fatal("Invite did not report the rate limit")
	}
	line := buf.String()
	if !strings.Contains(line, `"cycle":"c0ffee"`) || !strings.Contains(line, "Rate-limited") {
		t.Fatalf("warning %q lacks the cycle id", line)
	}
	// The pause the homeserver asked for is capped for the other requests.
	if left := time.Until(gateClosedUntil(m)); left > m.maxRateLimitWait {
		t.Fatalf("gate closed for %v, more than the cap %v", left, m.maxRateLimitWait)
	}
}
