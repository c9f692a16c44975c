package plan

import (
	"slices"

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
