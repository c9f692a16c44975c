package appservice

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// syncPoll is the long-poll of one /sync request; below the HTTP client's timeout.
const syncPoll = 20 * time.Second

// roomSyncFilter keeps /sync to one room's messages and memberships (and invites into it).
//
// Synapse answers a /sync it has just answered with the same token and filter from a response
// cache, even to another process: a restarted bot would then start from the old process's
// position and see its commands again. The nonce, an event type that never occurs, makes each
// process's filter its own.
func roomSyncFilter(room id.RoomID, nonce string) string {
	none := map[string]any{"not_types": []string{"*", "net.authentik-matrix-sync.nonce." + nonce}}
	f := map[string]any{
		"presence":     none,
		"account_data": none,
		"room": map[string]any{
			"rooms":        []id.RoomID{room},
			"timeline":     map[string]any{"limit": 50, "types": []string{"m.room.message", "m.room.member"}},
			"state":        map[string]any{"types": []string{"m.room.member"}, "lazy_load_members": true},
			"ephemeral":    none,
			"account_data": none,
		},
	}
	b, _ := json.Marshal(f)
	return string(b)
}

// FollowRoom delivers the events of one room to handle, in client mode, through /sync. It
// starts from the homeserver's current position, so nothing sent before the call is ever
// delivered (no command is replayed after a restart), and runs until ctx ends. An invite into
// the room is delivered as the bot's own member event, stamped with the time it arrived.
func (m *Matrix) FollowRoom(ctx context.Context, room id.RoomID, handle func(context.Context, *event.Event)) error {
	var n [8]byte
	_, _ = rand.Read(n[:])
	filter := roomSyncFilter(room, hex.EncodeToString(n[:]))
	since := ""
	delay := time.Second
	// The homeserver may answer a repeated /sync from its response cache, built for an earlier
	// process with the same token: events already in the first answer are never delivered.
	old := map[id.EventID]bool{}
	for ctx.Err() == nil {
		timeout := int(syncPoll / time.Millisecond)
		if since == "" {
			timeout = 0
		}
		resp, err := m.client.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: timeout, Since: since, FilterID: filter})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Warn().Err(err).Float64("retry_in_seconds", delay.Seconds()).Msg("Sync with the homeserver failed; retrying")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(delay):
			}
			delay = min(2*delay, time.Minute)
			continue
		}
		delay = time.Second
		first := since == ""
		since = resp.NextBatch
		if first {
			if joined, ok := resp.Rooms.Join[room]; ok {
				for _, evt := range joined.Timeline.Events {
					old[evt.ID] = true
				}
			}
			continue
		}
		if inv, ok := resp.Rooms.Invite[room]; ok {
			for _, evt := range inv.State.Events {
				if evt.Type == event.StateMember && evt.GetStateKey() == string(m.bot) {
					evt.Timestamp = time.Now().UnixMilli()
					deliver(ctx, room, evt, handle)
				}
			}
		}
		if joined, ok := resp.Rooms.Join[room]; ok {
			for _, evt := range joined.Timeline.Events {
				if !old[evt.ID] {
					deliver(ctx, room, evt, handle)
				}
			}
		}
	}
	return nil
}

func deliver(ctx context.Context, room id.RoomID, evt *event.Event, handle func(context.Context, *event.Event)) {
	evt.RoomID = room
	if evt.StateKey != nil {
		evt.Type.Class = event.StateEventType
	} else {
		evt.Type.Class = event.MessageEventType
	}
	if evt.Content.VeryRaw != nil && evt.Content.Parsed == nil {
		if err := evt.Content.ParseRaw(evt.Type); err != nil {
			return
		}
	}
	handle(ctx, evt)
}
