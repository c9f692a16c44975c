package appservice

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

const stateRoute = "GET /_matrix/client/v3/rooms/" + string(room) + "/state"

// cacheFixture is a RoomCache on a fake homeserver that counts the room's state reads, with a
// clock the test moves.
type cacheFixture struct {
	f     *fakeHS
	cache *RoomCache
	reads atomic.Int32
	clock time.Time
	// duringRead runs inside the homeserver's answer to a read; nil does nothing.
	duringRead func()
	failRead   atomic.Bool
}

func newCacheFixture(t *testing.T) *cacheFixture {
	x := &cacheFixture{f: newFakeHS(t), clock: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)}
	body := stateJSON(t, member(testBot, "join", testBot, 1), member(alice, "join", alice, 2))
	x.f.on(stateRoute, func(w http.ResponseWriter, _ *http.Request) {
		x.reads.Add(1)
		if x.duringRead != nil {
			x.duringRead()
		}
		if x.failRead.Load() {
			writeJSON(w, 500, matrixError("M_UNKNOWN", "boom"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	x.f.reply(inviteRoute, 200, map[string]any{})
	m := newTestMatrix(t, x.f, true, "")
	m.rateLimitRetries = 0
	x.cache = NewRoomCache(m, time.Hour)
	x.cache.now = func() time.Time { return x.clock }
	return x
}

func pushedState(typ string, r id.RoomID) *event.Event {
	key := ""
	return &event.Event{Type: event.Type{Type: typ, Class: event.StateEventType}, RoomID: r, StateKey: &key}
}

func TestRoomCacheReadsOnlyWhatChanged(t *testing.T) {
	msg := &event.Event{Type: event.EventMessage, RoomID: room}
	redaction := &event.Event{Type: event.EventRedaction, RoomID: room}
	for _, tc := range []struct {
		name string
		// between runs after a first read; the second read then makes wantReads reads in all.
		between   func(x *cacheFixture)
		wantReads int32
	}{
		{"nothing happened", func(*cacheFixture) {}, 1},
		{"a message changes no state", func(x *cacheFixture) { x.cache.Observe(msg) }, 1},
		{"a state event in another room", func(x *cacheFixture) { x.cache.Observe(pushedState("m.room.member", "!other:example.org")) }, 1},
		{"a membership change", func(x *cacheFixture) { x.cache.Observe(pushedState("m.room.member", room)) }, 2},
		{"new power levels", func(x *cacheFixture) { x.cache.Observe(pushedState("m.room.power_levels", room)) }, 2},
		{"a new space child", func(x *cacheFixture) { x.cache.Observe(pushedState("m.space.child", room)) }, 2},
		{"a redaction", func(x *cacheFixture) { x.cache.Observe(redaction) }, 2},
		{"the bot wrote to the room", func(x *cacheFixture) {
			if err := x.cache.Invite(context.Background(), room, alice, ""); err != nil {
				t.Fatal(err)
			}
		}, 2},
		{"the bot's write failed", func(x *cacheFixture) {
			x.f.reply(inviteRoute, 403, matrixError("M_FORBIDDEN", "no"))
			_ = x.cache.Invite(context.Background(), room, alice, "")
		}, 2},
		{"just before the full re-read", func(x *cacheFixture) { x.clock = x.clock.Add(time.Hour - time.Second) }, 1},
		{"the full re-read is due", func(x *cacheFixture) { x.clock = x.clock.Add(time.Hour) }, 2},
		{"an event during the read", func(x *cacheFixture) {
			// The read that follows sees the event arrive while it runs: its copy is already
			// stale, so a third read follows.
			x.duringRead = func() { x.cache.Observe(pushedState("m.room.member", room)) }
			x.cache.Invalidate(room)
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newCacheFixture(t)
			ctx := context.Background()
			if _, err := x.cache.RoomState(ctx, room); err != nil {
				t.Fatal(err)
			}
			tc.between(x)
			st, err := x.cache.RoomState(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			if st.Members.Get(alice).Membership != "join" {
				t.Fatalf("state %+v lacks alice", st)
			}
			if got := x.reads.Load(); got != tc.wantReads {
				t.Fatalf("%d reads, want %d", got, tc.wantReads)
			}
			if got := x.cache.Reads(); int32(got) != tc.wantReads {
				t.Fatalf("cache counted %d reads, the homeserver %d", got, tc.wantReads)
			}
			x.duringRead = nil
			if _, err := x.cache.RoomState(ctx, room); err != nil {
				t.Fatal(err)
			}
			want := tc.wantReads
			if tc.name == "an event during the read" {
				want++
			}
			if got := x.reads.Load(); got != want {
				t.Fatalf("third call: %d reads in all, want %d", got, want)
			}
		})
	}
}

func TestRoomCacheDoesNotKeepFailures(t *testing.T) {
	x := newCacheFixture(t)
	x.failRead.Store(true)
	if _, err := x.cache.RoomState(context.Background(), room); err == nil {
		t.Fatal("a failed read returned no error")
	}
	x.failRead.Store(false)
	if _, err := x.cache.RoomState(context.Background(), room); err != nil {
		t.Fatal(err)
	}
	if got := x.reads.Load(); got != 2 {
		t.Fatalf("%d reads, want 2: a failure must not be cached", got)
	}
}

func TestServerShowsEveryEventToOnReceive(t *testing.T) {
	// No delivery runs and the queue holds one event: the hook still sees all three.
	var seen atomic.Int32
	s, err := NewServer(ServerOptions{HSToken: testHSToken, QueueSize: 1, Log: zerolog.Nop(),
		OnReceive: func(*event.Event) { seen.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	events := []map[string]any{}
	for i := range 3 {
		events = append(events, map[string]any{"type": "m.room.member", "state_key": "@u:example.org", "event_id": "$" + string(rune('a'+i)),
			"room_id": string(room), "sender": "@u:example.org", "origin_server_ts": 1, "content": map[string]any{"membership": "join"}})
	}
	body, _ := json.Marshal(map[string]any{"events": events})
	for range 2 { // the homeserver's retry of the same transaction is not seen twice
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_matrix/app/v1/transactions/t1", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+testHSToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("transaction answered %d", resp.StatusCode)
		}
	}
	if got := seen.Load(); got != 3 {
		t.Fatalf("OnReceive saw %d events, want 3", got)
	}
}
