package appservice

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"maunium.net/go/mautrix"
)

// TestResponsesAreSizeLimited has the homeserver announce a room state larger than
// maxResponseBytes: every client the bot uses refuses to read it, quickly, instead of buffering it.
func TestResponsesAreSizeLimited(t *testing.T) {
	f := newFakeHS(t)
	room := "!huge:example.org"
	f.on("GET /_matrix/client/v3/rooms/"+room+"/state", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(maxResponseBytes+1))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("[")) // the rest never comes; a client that waits for it times out
	})
	for _, appservice := range []bool{false, true} {
		m := newTestMatrix(t, f, appservice, "")
		for name, c := range map[string]*mautrix.Client{"bot": m.client, "bare": m.bare, "puppet": m.puppet(testBot)} {
			if c.ResponseSizeLimit != maxResponseBytes {
				t.Errorf("appservice=%v %s client: ResponseSizeLimit %d, want %d", appservice, name, c.ResponseSizeLimit, maxResponseBytes)
			}
		}
		start := time.Now()
		_, err := m.RoomState(context.Background(), "!huge:example.org")
		if !errors.Is(err, mautrix.ErrResponseTooLong) {
			t.Errorf("appservice=%v: RoomState of an oversized answer = %v, want ErrResponseTooLong", appservice, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("appservice=%v: refusing took %s", appservice, took)
		}
	}
}
