package reconcile

import (
	"context"
	"fmt"
	"maps"
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
// list of a space whose read fails, and stores the lists that changed. It returns the children
// to expand with and a warning per failed read.
func (r *Reconciler) readSpaces(ctx context.Context, mappings []plan.Mapping, stored map[id.RoomID][]id.RoomID) (map[id.RoomID][]id.RoomID, []plan.Warning) {
	children := map[id.RoomID][]id.RoomID{}
	var warnings []plan.Warning
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
		read, err := r.opts.Hierarchy.SpaceChildren(ctx, it.room)
		var got []id.RoomID
		for _, c := range read {
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
			if !slices.Equal(got, stored[it.room]) && r.opts.Spaces != nil && !previewing(ctx) {
				if perr := r.opts.Spaces.PutSpaceChildren(ctx, it.room, got); perr != nil {
					warnings = append(warnings, plan.Warning{Room: it.room, Message: fmt.Sprintf("space children read but not stored: %v", perr)})
				}
			}
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
	return children, warnings
}

// effectivePolicy expands the spaces of the configured policy, works out the released rooms and
// records the groups of every mapped room. Without a Hierarchy the policy is used as it is.
func (r *Reconciler) effectivePolicy(ctx context.Context, state plan.State) (plan.Policy, []plan.Warning) {
	policy := r.opts.Policy
	if r.opts.Hierarchy == nil && r.opts.Spaces == nil {
		return policy, nil
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
		children, ws := r.readSpaces(ctx, policy.Mappings, stored)
		warnings = append(warnings, ws...)
		policy.Mappings = plan.ExpandSpaces(policy.Mappings, children)
	} else {
		policy.Mappings = plan.ExpandSpaces(policy.Mappings, stored)
	}
	policy.Mappings = slices.Clip(policy.Mappings)
	if j, ok := r.opts.Hierarchy.(RoomJoiner); ok && !previewing(ctx) {
		r.joinUnreadRooms(ctx, j, policy.Mappings)
	}
	if records == nil || r.opts.Spaces == nil {
		return policy, warnings
	}
	current := recordsOf(policy)
	if previewing(ctx) {
		policy.Released = plan.ReleasedRooms(policy, state, records)
		return policy, warnings
	}
	for room, rec := range current {
		if old, ok := records[room]; ok && slices.Equal(old.Groups, rec.Groups) && old.RemoveAction == rec.RemoveAction {
			continue
		}
		if err := r.opts.Spaces.PutRoomRecord(ctx, room, rec); err != nil {
			warn("record of %s not stored: %v", room, err)
		}
	}
	policy.Released = plan.ReleasedRooms(policy, state, records)
	stillHeld := map[id.RoomID]bool{}
	for _, rel := range policy.Released {
		stillHeld[rel.Room] = true
	}
	for _, room := range slices.Sorted(maps.Keys(records)) {
		if _, mapped := current[room]; mapped || stillHeld[room] {
			continue
		}
		if err := r.opts.Spaces.DeleteRoomRecord(ctx, room); err != nil {
			warn("record of released room %s not deleted: %v", room, err)
		}
	}
	return policy, warnings
}

// recordsOf sums up the mappings of each room as the store keeps them.
func recordsOf(policy plan.Policy) map[id.RoomID]plan.RoomRecord {
	out := map[id.RoomID]plan.RoomRecord{}
	for _, rp := range plan.RoomsOf(policy) {
		out[rp.Room] = plan.RoomRecord{Groups: rp.Groups, RemoveAction: plan.RuleFor(policy, rp.Room).Action}
	}
	return out
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

// previewKey marks a context of Preview, which must not write the space records.
type previewKey struct{}

func withoutRecords(ctx context.Context) context.Context {
	return context.WithValue(ctx, previewKey{}, true)
}

func previewing(ctx context.Context) bool { return ctx.Value(previewKey{}) != nil }

// RoomJoiner lets the bot accept its pending invite to a room. A Hierarchy that offers it gets
// the mapped rooms the bot is not in joined, space children included, so that a room mapped
// while the bot runs, or added to a space, needs no more than an invite for the bot.
type RoomJoiner interface {
	JoinRoom(ctx context.Context, room id.RoomID) error
}

// joinUnreadRooms tries to join the mapped rooms (space children included) the last cycle could
// not read because the bot is not in them: an invite may have come since. A failure (no invite
// yet) changes nothing: the room stays unreadable and is reported as such.
func (r *Reconciler) joinUnreadRooms(ctx context.Context, j RoomJoiner, mappings []plan.Mapping) {
	r.mu.Lock()
	var unread []id.RoomID
	if r.last != nil {
		unread = r.last.setupRooms
	}
	r.mu.Unlock()
	tried := map[id.RoomID]bool{}
	for _, m := range mappings {
		if tried[m.Room] || !slices.Contains(unread, m.Room) {
			continue
		}
		tried[m.Room] = true
		log := r.opts.Log.With().Str("room", string(m.Room)).Logger()
		if m.Space != "" {
			log = log.With().Str("space", string(m.Space)).Logger()
		}
		if err := j.JoinRoom(ctx, m.Room); err != nil {
			log.Debug().Err(err).Msg("Could not join a mapped room the bot is not in; invite the bot to it")
			continue
		}
		log.Info().Msg("Joined a mapped room the bot was invited to")
	}
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
