package sync

import (
	"context"

	"maunium.net/go/mautrix/id"
)

// StateCounter is a Store that can count its records per room without loading them. The
// figures a cycle reports come from it when the store offers it: loading the whole state again
// only to count it doubled the memory a large installation needs at the end of each cycle.
type StateCounter interface {
	// CountState returns the number of managed members and of pending removals in each room that
	// has any.
	CountState(ctx context.Context) (members, pending map[id.RoomID]int, err error)
}

// countState counts the store's records per room, by CountState if the store offers it, else
// from a fresh copy of the state.
func countState(ctx context.Context, s Store) (members, pending map[id.RoomID]int, err error) {
	if c, ok := s.(StateCounter); ok {
		return c.CountState(ctx)
	}
	state, err := s.LoadState(ctx)
	if err != nil {
		return nil, nil, err
	}
	members, pending = map[id.RoomID]int{}, map[id.RoomID]int{}
	for _, room := range state.Members.Rooms() {
		members[room] = state.Members.InRoom(room)
	}
	for k := range state.Pending {
		pending[k.Room]++
	}
	return members, pending, nil
}
