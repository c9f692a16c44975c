package appservice

import (
	"context"
	"sync"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// RoomCache keeps each room's state between cycles, for appservice mode, where the homeserver
// pushes every event of the bot's rooms: a room is read again only when a pushed state event (or
// redaction) shows it changed, after the bot wrote to it, or once its copy is older than the
// full re-read interval. A no-change cycle then reads no room at all.
//
// The homeserver pushes events asynchronously, so a change reaches the cache a moment after it
// happened; a cycle in that moment plans with the state from just before, as it would have had it
// started a moment earlier. A push that never arrives is caught by the full re-read.
type RoomCache struct {
	// Matrix serves every call the cache does not intercept; writes added to it later are
	// covered by the events the homeserver pushes for them.
	*Matrix
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	rooms map[id.RoomID]*cachedRoom
	reads int // room state requests made, for tests and benchmarks
}

// cachedRoom is one room's copy. gen counts the changes seen; a copy is current while no change
// came after the read began, so an event that arrives during a read makes it stale again.
type cachedRoom struct {
	gen     uint64
	state   plan.RoomState
	readGen uint64
	readAt  time.Time
	has     bool
}

var _ reconcile.Rooms = (*RoomCache)(nil)

// NewRoomCache wraps m. maxAge is the full re-read interval; zero or less means one hour.
func NewRoomCache(m *Matrix, maxAge time.Duration) *RoomCache {
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	return &RoomCache{Matrix: m, maxAge: maxAge, now: time.Now, rooms: map[id.RoomID]*cachedRoom{}}
}

// Observe takes note of a pushed event. It is cheap and never blocks, so the transactions
// server can call it for every event as the transaction arrives, before its bounded queue.
func (c *RoomCache) Observe(evt *event.Event) {
	if evt == nil || evt.RoomID == "" || !changesState(evt) {
		return
	}
	c.Invalidate(evt.RoomID)
}

// changesState reports whether an event can change what RoomState returns: any state event
// (members, power levels, the create event, space children…) and redactions, which can strip a
// state event's content.
func changesState(evt *event.Event) bool {
	return evt.StateKey != nil || evt.Type == event.EventRedaction
}

// Invalidate makes the next RoomState of room read the homeserver.
func (c *RoomCache) Invalidate(room id.RoomID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entry(room).gen++
}

// entry returns room's record, creating it; the caller holds c.mu.
func (c *RoomCache) entry(room id.RoomID) *cachedRoom {
	r := c.rooms[room]
	if r == nil {
		r = &cachedRoom{}
		c.rooms[room] = r
	}
	return r
}

// RoomState returns the cached state while it is current, else reads it. The returned state is
// shared with later cycles: callers must not modify it.
func (c *RoomCache) RoomState(ctx context.Context, room id.RoomID) (plan.RoomState, error) {
	c.mu.Lock()
	r := c.entry(room)
	if r.has && r.readGen == r.gen && c.now().Sub(r.readAt) < c.maxAge {
		st := r.state
		c.mu.Unlock()
		return st, nil
	}
	gen, started := r.gen, c.now()
	c.reads++
	c.mu.Unlock()

	st, err := c.Matrix.RoomState(ctx, room)
	if err != nil {
		return st, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r.state, r.readGen, r.readAt, r.has = st, gen, started, true
	return st, nil
}

// Reads counts the room state requests made so far.
func (c *RoomCache) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// The writes go straight to the homeserver and mark the room changed, whatever their outcome:
// even a failed write may have changed the room.

func (c *RoomCache) Invite(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	defer c.Invalidate(room)
	return c.Matrix.Invite(ctx, room, user, reason)
}

func (c *RoomCache) ForceJoin(ctx context.Context, room id.RoomID, user id.UserID, alreadyInvited bool) error {
	defer c.Invalidate(room)
	return c.Matrix.ForceJoin(ctx, room, user, alreadyInvited)
}

func (c *RoomCache) Unban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	defer c.Invalidate(room)
	return c.Matrix.Unban(ctx, room, user, reason)
}

func (c *RoomCache) Kick(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	defer c.Invalidate(room)
	return c.Matrix.Kick(ctx, room, user, reason)
}

func (c *RoomCache) Ban(ctx context.Context, room id.RoomID, user id.UserID, reason string) error {
	defer c.Invalidate(room)
	return c.Matrix.Ban(ctx, room, user, reason)
}
