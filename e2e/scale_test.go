package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"authentik-matrix-sync/e2e/harness"
)

// stateReads is how many room-state listings the bot has made so far, from its own metrics.
func (b *bot) stateReads(t *testing.T) float64 {
	t.Helper()
	return b.scrape(t).value("upstream_requests_total",
		map[string]string{"service": "homeserver", "endpoint": "/_matrix/client/v3/rooms/{roomId}/state"})
}

// In appservice mode the homeserver pushes every change of the bot's rooms, so once a room has
// settled, a cycle with nothing to do reads no room state at all; a change someone else makes in
// the room brings the read back.
func TestAppserviceNoChangeCycleReadsNoRoomState(t *testing.T) {
	room := newRoom(t, true, "scale-reads")
	ak := directory(t, "scale-reads", "alice", "bob")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: time.Hour,
		mappings: []mapping{{Group: "scale-reads", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "join")
	waitMembership(t, room, uid("bob"), "join")

	// The bot's own joins come back as pushed events and cost one more read each time; wait
	// until two cycles in a row read nothing.
	var settled float64
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		before := b.stateReads(t)
		b.waitCycles(2)
		settled = b.stateReads(t)
		return settled == before, fmt.Errorf("still reading: %v then %v room-state reads", before, settled)
	})
	if err != nil {
		t.Fatal(err)
	}
	b.waitCycles(3)
	if got := b.stateReads(t); got != settled {
		t.Fatalf("three no-change cycles made %v room-state reads, want 0", got-settled)
	}
	if writes := b.scrape(t).value("actions_total", map[string]string{"action": "force_join", "result": "ok"}); writes != 2 {
		t.Errorf("%v force joins in all, want the 2 of the first cycle", writes)
	}

	// Someone else changes the room: the pushed event makes the next cycle read it again.
	if err := env.hs.Invite(context.Background(), env.users["owner"], room, uid("dave")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a room-state read after the owner's invite", func() bool { return b.stateReads(t) > settled })
}

// Client mode has no pushed events: every cycle reads every mapped room.
func TestClientModeReadsEveryRoomEveryCycle(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "scale-reads-client")
	ak := directory(t, "scale-reads-client", "alice")
	b := startBot(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "scale-reads-client", Room: room}}}, "")
	before := b.stateReads(t)
	b.waitCycles(3)
	if got := b.stateReads(t) - before; got < 3 {
		t.Fatalf("%v room-state reads in three cycles, want at least 3", got)
	}
}
