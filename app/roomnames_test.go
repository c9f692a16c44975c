package app

import (
	"context"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

func TestRoomNamer(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	asked := map[id.RoomID]int{}
	names := map[id.RoomID]string{"!named:hs": "#lounge:hs"}
	n := &roomNamer{configured: map[id.RoomID]string{"!staff:hs": "#staff:hs"}, now: func() time.Time { return now },
		known: map[id.RoomID]namedAt{}, lookup: func(_ context.Context, room id.RoomID) string {
			asked[room]++
			return names[room]
		}}
	ctx := context.Background()
	for range 2 {
		if got := n.name(ctx, "!staff:hs"); got != "#staff:hs" {
			t.Errorf("configured alias: %q", got)
		}
		if got := n.name(ctx, "!named:hs"); got != "#lounge:hs" {
			t.Errorf("named room: %q", got)
		}
		if got := n.name(ctx, "!plain:hs"); got != "" {
			t.Errorf("room without a name: %q", got)
		}
	}
	if asked["!staff:hs"] != 0 || asked["!named:hs"] != 1 || asked["!plain:hs"] != 1 {
		t.Errorf("homeserver asked %v: want configured aliases never, others once within the TTL", asked)
	}
	now = now.Add(roomNameTTL)
	n.name(ctx, "!named:hs")
	if asked["!named:hs"] != 2 {
		t.Errorf("asked %d times after the TTL, want 2", asked["!named:hs"])
	}
	r := n.replacer(ctx, []id.RoomID{"!named:hs", "!plain:hs", "!named:hs", ""})
	if got := r.Replace("invite @a:hs in !named:hs; warning in !plain:hs"); got != "invite @a:hs in #lounge:hs (!named:hs); warning in !plain:hs" {
		t.Errorf("replaced: %q", got)
	}
}
