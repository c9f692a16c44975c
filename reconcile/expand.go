package reconcile

import (
	"context"
	"fmt"
	"slices"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Hierarchy reads the children of spaces.
type Hierarchy interface {
	// SpaceChildren lists the rooms the space names in m.space.child events that have a non-empty
	// via; a room that is not a space has none.
	SpaceChildren(ctx context.Context, space id.RoomID) ([]plan.SpaceChild, error)
}

// SpaceStore remembers the children of spaces (so a failed hierarchy read changes nothing) and
// the groups of mapped rooms (so a released room can still tell who is back in its group).
type SpaceStore interface {
	SpaceChildren(ctx context.Context) (map[id.RoomID][]id.RoomID, error)
	// PutSpaceChildren replaces the stored children of one space.
	PutSpaceChildren(ctx context.Context, space id.RoomID, children []id.RoomID) error
	RoomRecords(ctx context.Context) (map[id.RoomID]plan.RoomRecord, error)
	PutRoomRecord(ctx context.Context, room id.RoomID, rec plan.RoomRecord) error
	DeleteRoomRecord(ctx context.Context, room id.RoomID) error
}

// spacesToRead lists the spaces whose children a cycle must read, in the order found.
func spacesToRead(mappings []plan.Mapping, children map[id.RoomID][]id.RoomID) (roots []id.RoomID, recursive map[id.RoomID]bool) {
	recursive = map[id.RoomID]bool{}
	for _, m := range mappings {
		if !m.IncludeChildren {
			continue
		}
		if !slices.Contains(roots, m.Room) {
			roots = append(roots, m.Room)
		}
		recursive[m.Room] = recursive[m.Room] || m.Recursive
	}
	return roots, recursive
}

// readSpaces reads the children of every space the policy expands, falling back to the stored
// list of a space whose read fails. It returns the children to expand with, the lists it read
// (which the plan stores where they changed: plan.RecordSpaceChildren), and a warning per failed
// read.
func (r *Reconciler) readSpaces(ctx context.Context, mappings []plan.Mapping, stored map[id.RoomID][]id.RoomID) (children, read map[id.RoomID][]id.RoomID, warnings []plan.Warning) {
	children, read = map[id.RoomID][]id.RoomID{}, map[id.RoomID][]id.RoomID{}
	roots, recursive := spacesToRead(mappings, stored)
	type item struct {
		room      id.RoomID
		depth     int
		recursive bool
	}
	var queue []item
	for _, root := range roots {
		queue = append(queue, item{root, 1, recursive[root]})
	}
	done := map[id.RoomID]bool{}
	plain := map[id.RoomID]bool{}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if done[it.room] || plain[it.room] {
			continue
		}
		done[it.room] = true
		listed, err := r.opts.Hierarchy.SpaceChildren(ctx, it.room)
		var got []id.RoomID
		for _, c := range listed {
			got = append(got, c.Room)
			if c.NotSpace {
				plain[c.Room] = true
			}
		}
		if err != nil {
			got = stored[it.room]
			warnings = append(warnings, plan.Warning{Room: it.room, Message: fmt.Sprintf("space children unreadable, using the %d known from the last good read: %v", len(got), err)})
		} else {
			slices.Sort(got)
			got = slices.Compact(got)
			read[it.room] = got
		}
		if len(got) > 0 {
			children[it.room] = got
		}
		if it.recursive && it.depth < plan.MaxSpaceDepth {
			for _, c := range got {
				queue = append(queue, item{c, it.depth + 1, true})
			}
		}
	}
	return children, read, warnings
}

// effectivePolicy expands the spaces of the configured policy and works out the released rooms;
// it also returns what it read of spaces and what the store keeps of them and of the mapped
// rooms, from which the plan keeps those records up to date (planSpaceRecords). It writes
// nothing. Without a Hierarchy the policy is used as it is.
func (r *Reconciler) effectivePolicy(ctx context.Context, state plan.State) (plan.Policy, plan.SpacesObserved, []plan.Warning) {
	policy := r.opts.Policy
	var spaces plan.SpacesObserved
	if r.opts.Hierarchy == nil && r.opts.Spaces == nil {
		return policy, spaces, nil
	}
	var warnings []plan.Warning
	warn := func(format string, args ...any) {
		warnings = append(warnings, plan.Warning{Message: fmt.Sprintf(format, args...)})
	}
	stored := map[id.RoomID][]id.RoomID{}
	records := map[id.RoomID]plan.RoomRecord{}
	if r.opts.Spaces != nil {
		var err error
		storedErr := error(nil)
		if stored, storedErr = r.opts.Spaces.SpaceChildren(ctx); storedErr != nil {
			warn("stored space children unreadable; released rooms wait for the next cycle: %v", storedErr)
			stored = map[id.RoomID][]id.RoomID{}
		}
		if records, err = r.opts.Spaces.RoomRecords(ctx); err != nil {
			// Without the records a released room would lose its groups: keep it out of the
			// release logic this cycle rather than treat it as unknown for good.
			warn("stored room records unreadable; released rooms wait for the next cycle: %v", err)
			records = nil
		}
		if storedErr != nil {
			// A failed hierarchy read would then fall back to nothing and release every child.
			records = nil
		}
	}
	if r.opts.Hierarchy != nil {
		children, read, ws := r.readSpaces(ctx, policy.Mappings, stored)
		warnings = append(warnings, ws...)
		policy.Mappings = plan.ExpandSpaces(policy.Mappings, children)
		if r.opts.Spaces != nil {
			spaces.Read = read
		}
	} else {
		policy.Mappings = plan.ExpandSpaces(policy.Mappings, stored)
	}
	policy.Mappings = slices.Clip(policy.Mappings)
	if records == nil || r.opts.Spaces == nil {
		return policy, spaces, warnings
	}
	spaces.Stored, spaces.Records = stored, records
	policy.Released = plan.ReleasedRooms(policy, state, records)
	return policy, spaces, warnings
}

// observeTargets lists the groups and rooms a cycle reads: those of the mappings, plus the groups
// of released rooms and the released rooms that still have removals pending.
func observeTargets(policy plan.Policy, state plan.State) (groups []string, rooms []id.RoomID) {
	addGroup := func(g string) {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	addRoom := func(room id.RoomID) {
		if !slices.Contains(rooms, room) {
			rooms = append(rooms, room)
		}
	}
	for _, m := range policy.Mappings {
		addGroup(m.Group)
		addRoom(m.Room)
	}
	for _, rel := range policy.Released {
		for _, g := range rel.Groups {
			addGroup(g)
		}
		for k := range state.Pending {
			if k.Room == rel.Room {
				addRoom(rel.Room)
				break
			}
		}
	}
	return groups, rooms
}

// RoomJoiner lets the bot accept its pending invite to a room. With a Hierarchy that offers it,
// a cycle plans the join of every mapped room the bot is not in, space children included
// (plan.JoinRoom), so that a room mapped while the bot runs, or added to a space, needs no more
// than an invite for the bot.
type RoomJoiner interface {
	JoinRoom(ctx context.Context, room id.RoomID) error
}

// expandedChildren lists the child rooms policy's space mappings were expanded into, by space,
// each room once, in the order of the mappings; nil when no space was expanded.
func expandedChildren(policy plan.Policy) map[id.RoomID][]id.RoomID {
	var out map[id.RoomID][]id.RoomID
	for _, m := range policy.Mappings {
		if m.Space == "" || slices.Contains(out[m.Space], m.Room) {
			continue
		}
		if out == nil {
			out = map[id.RoomID][]id.RoomID{}
		}
		out[m.Space] = append(out[m.Space], m.Room)
	}
	return out
}
