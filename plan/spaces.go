package plan

import (
	"maps"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// MaxSpaceDepth bounds how deep a recursive mapping follows spaces inside spaces: deeper trees
// are almost always a mistake (or a loop through rooms the bot cannot see), and every level costs
// one hierarchy read per room each cycle.
const MaxSpaceDepth = 5

// SpaceOptions are the settings of a mapping whose room is a space.
type SpaceOptions struct {
	// IncludeChildren syncs the group into every child room the space lists, not just the space.
	IncludeChildren bool
	// Recursive follows children that are spaces themselves, down to MaxSpaceDepth.
	Recursive bool
	// Exclude lists children (and, with Recursive, their subtrees) to leave alone.
	Exclude []id.RoomID
	// Space is the space a mapping was expanded from; empty for a configured mapping.
	Space id.RoomID
}

// SpaceChild is one child of a space.
type SpaceChild struct {
	Room id.RoomID
	// NotSpace is set when the homeserver showed the child as a plain room, so a recursive
	// mapping need not read its children. Unset means a space, or not known.
	NotSpace bool
}

// RoomRecord is what the store remembers of a mapped room, for the day it is released.
type RoomRecord struct {
	Groups       []string
	RemoveAction RemoveAction
}

// ExpandSpaces turns every mapping with IncludeChildren into the mapping of the space itself plus
// one mapping per child room, each carrying the original's settings, so that planning sees plain
// room mappings. children holds the known children of each space. It is pure: loops in the space
// graph are cut, and depth is bounded by MaxSpaceDepth.
func ExpandSpaces(mappings []Mapping, children map[id.RoomID][]id.RoomID) []Mapping {
	out := make([]Mapping, 0, len(mappings))
	for _, m := range mappings {
		out = append(out, m)
		if !m.IncludeChildren {
			continue
		}
		visited := map[id.RoomID]bool{m.Room: true}
		var walk func(space id.RoomID, depth int)
		walk = func(space id.RoomID, depth int) {
			for _, child := range children[space] {
				if visited[child] || slices.Contains(m.Exclude, child) {
					continue
				}
				visited[child] = true
				c := m
				c.Room = child
				c.SpaceOptions = SpaceOptions{Space: m.Room}
				out = append(out, c)
				if m.Recursive && depth < MaxSpaceDepth {
					walk(child, depth+1)
				}
			}
		}
		walk(m.Room, 1)
	}
	return out
}

// SpacesObserved is what a cycle read of the spaces it expands, and what the store keeps of them
// and of the mapped rooms.
type SpacesObserved struct {
	// Read holds the children of each space read this cycle, sorted, each once; a space whose
	// read failed is absent (its stored children stand). Nil when the store keeps no spaces.
	Read map[id.RoomID][]id.RoomID
	// Stored holds the children each space had at its last good read, as the store keeps them.
	Stored map[id.RoomID][]id.RoomID
	// Records holds the stored records of mapped rooms (see RoomRecord). Nil when the store keeps
	// none, when they or the stored children could not be read, or in a scoped cycle, which sees
	// only part of the policy: no record is then written or dropped.
	Records map[id.RoomID]RoomRecord
}

// RecordSpaceChildren stores the children a space was read with, the list a later failed read
// falls back to. It writes to the store only.
type RecordSpaceChildren struct {
	Space    id.RoomID
	Children []id.RoomID
}

// RecordRoom stores what the mappings of a room are, for the day it is released (see
// ReleasedRoom). It writes to the store only.
type RecordRoom struct {
	Room   id.RoomID
	Record RoomRecord
}

// ForgetRoomRecord drops the record of a room that is neither mapped nor released any more.
type ForgetRoomRecord struct {
	Room id.RoomID
}

// JoinRoom accepts the bot's invite to a mapped room it is not in, so that the next cycle can read
// it: a room mapped while the bot runs, or added to a mapped space, needs no more than an invite
// for the bot. Without an invite it fails, changes nothing, and the room stays unreadable.
type JoinRoom struct {
	Room id.RoomID
	// Space is the space the room's mapping was expanded from; empty for a configured room.
	Space id.RoomID
}

func (a RecordSpaceChildren) Target() RoomUser { return RoomUser{Room: a.Space} }
func (a RecordRoom) Target() RoomUser          { return RoomUser{Room: a.Room} }
func (a ForgetRoomRecord) Target() RoomUser    { return RoomUser{Room: a.Room} }
func (a JoinRoom) Target() RoomUser            { return RoomUser{Room: a.Room} }

func (RecordSpaceChildren) Kind() string { return "record_space_children" }
func (RecordRoom) Kind() string          { return "record_room" }
func (ForgetRoomRecord) Kind() string    { return "forget_room_record" }
func (JoinRoom) Kind() string            { return "join_room" }

func (a RecordSpaceChildren) Why() string {
	return "space children read: " + joinRooms(a.Children)
}
func (a RecordRoom) Why() string {
	return "mapped to Authentik group(s) " + strings.Join(a.Record.Groups, ", ") + ", removal by " + string(a.Record.RemoveAction)
}
func (ForgetRoomRecord) Why() string { return "neither mapped nor released any more" }
func (a JoinRoom) Why() string {
	if a.Space != "" {
		return "a child of mapped space " + string(a.Space) + " the bot is not in: accepts its invite, if it has one"
	}
	return "a mapped room the bot is not in: accepts its invite, if it has one"
}

func (RecordSpaceChildren) Phase() int { return PhaseState }
func (RecordRoom) Phase() int          { return PhaseState }
func (ForgetRoomRecord) Phase() int    { return PhaseState }
func (JoinRoom) Phase() int            { return PhaseAdd }

func joinRooms(rooms []id.RoomID) string {
	if len(rooms) == 0 {
		return "none"
	}
	parts := make([]string, len(rooms))
	for i, r := range rooms {
		parts[i] = string(r)
	}
	return strings.Join(parts, ", ")
}

// planSpaceRecords keeps the store's records of spaces and mapped rooms up to date, and plans
// the joins of mapped rooms the bot is not in. The observation only reads; what it read is
// written here, as actions, so that a preview writes nothing and shows what a cycle would.
func (p *Plan) planSpaceRecords(policy Policy, obs Observed) {
	sp := obs.Spaces
	for _, space := range slices.Sorted(maps.Keys(sp.Read)) {
		if got := sp.Read[space]; !slices.Equal(got, sp.Stored[space]) {
			p.Actions = append(p.Actions, RecordSpaceChildren{Space: space, Children: got})
		}
	}
	if obs.CanJoin {
		joined := map[id.RoomID]bool{}
		for _, m := range policy.Mappings {
			if ro := obs.Rooms[m.Room]; ro.NotJoined && !joined[m.Room] {
				joined[m.Room] = true
				p.Actions = append(p.Actions, JoinRoom{Room: m.Room, Space: m.Space})
			}
		}
	}
	if sp.Records == nil {
		return
	}
	current := recordsOf(policy)
	for _, room := range slices.Sorted(maps.Keys(current)) {
		rec := current[room]
		if old, ok := sp.Records[room]; ok && slices.Equal(old.Groups, rec.Groups) && old.RemoveAction == rec.RemoveAction {
			continue
		}
		p.Actions = append(p.Actions, RecordRoom{Room: room, Record: rec})
	}
	released := map[id.RoomID]bool{}
	for _, rel := range policy.Released {
		released[rel.Room] = true
	}
	for _, room := range slices.Sorted(maps.Keys(sp.Records)) {
		if _, mapped := current[room]; !mapped && !released[room] {
			p.Actions = append(p.Actions, ForgetRoomRecord{Room: room})
		}
	}
}

// recordsOf sums up the mappings of each room as the store keeps them.
func recordsOf(policy Policy) map[id.RoomID]RoomRecord {
	out := map[id.RoomID]RoomRecord{}
	for _, rp := range RoomsOf(policy) {
		out[rp.Room] = RoomRecord{Groups: rp.Groups, RemoveAction: RuleFor(policy, rp.Room).Action}
	}
	return out
}
