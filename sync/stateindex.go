package sync

import "maunium.net/go/mautrix/id"

// roomIndex lists each room's managed users. Planning a room looks its managed users up here
// instead of scanning every record of every room, which made a no-change plan at 50,000 users in
// 500 rooms take seconds.
type roomIndex map[id.RoomID][]id.UserID

// indexed returns the state with its room index built; MakePlan calls it once per plan.
func (s State) indexed() State {
	idx := make(roomIndex, 64)
	for k := range s.Members {
		idx[k.Room] = append(idx[k.Room], k.User)
	}
	s.byRoom = idx
	return s
}

// managedIn returns the users with a managed-member record in room, in no particular order.
func (s State) managedIn(room id.RoomID) []id.UserID {
	if s.byRoom != nil {
		return s.byRoom[room]
	}
	var out []id.UserID
	for k := range s.Members {
		if k.Room == room {
			out = append(out, k.User)
		}
	}
	return out
}
