package reconcile

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

func TestExpandSpaces(t *testing.T) {
	const (
		space = id.RoomID("!space:hs")
		sub   = id.RoomID("!sub:hs")
		deep  = id.RoomID("!deep:hs")
	)
	hours := time.Hour
	base := plan.Mapping{Group: "staff", Room: space, Method: plan.MethodForce, Rejoin: true,
		MappingOverrides: plan.MappingOverrides{RemoveAction: plan.RemoveBan, GracePeriod: &hours, NoRemove: true},
		SpaceOptions:     plan.SpaceOptions{IncludeChildren: true}}
	recursive := base
	recursive.Recursive = true
	child := func(room id.RoomID) plan.Mapping {
		c := base
		c.Room, c.SpaceOptions = room, plan.SpaceOptions{Space: space}
		return c
	}
	// chain builds space → r1 → r2 → … with n links.
	chain := func(n int) map[id.RoomID][]id.RoomID {
		out := map[id.RoomID][]id.RoomID{}
		prev := space
		for i := range n {
			next := id.RoomID("!c" + string(rune('a'+i)) + ":hs")
			out[prev] = []id.RoomID{next}
			prev = next
		}
		return out
	}
	tests := []struct {
		name     string
		mappings []plan.Mapping
		children map[id.RoomID][]id.RoomID
		want     []id.RoomID
	}{
		{"a plain mapping stays as it is", []plan.Mapping{{Group: "g", Room: roomA}}, map[id.RoomID][]id.RoomID{roomA: {roomB}}, []id.RoomID{roomA}},
		{"a space without include_children is not expanded",
			[]plan.Mapping{{Group: "g", Room: space}}, map[id.RoomID][]id.RoomID{space: {roomA}}, []id.RoomID{space}},
		{"the space and its direct children", []plan.Mapping{base}, map[id.RoomID][]id.RoomID{space: {roomA, sub}, sub: {deep}}, []id.RoomID{space, roomA, sub}},
		{"recursive follows child spaces", []plan.Mapping{recursive}, map[id.RoomID][]id.RoomID{space: {roomA, sub}, sub: {deep}}, []id.RoomID{space, roomA, sub, deep}},
		{"excluded children and their subtrees are skipped",
			[]plan.Mapping{func() plan.Mapping { m := recursive; m.Exclude = []id.RoomID{sub}; return m }()},
			map[id.RoomID][]id.RoomID{space: {roomA, sub}, sub: {deep}}, []id.RoomID{space, roomA}},
		{"a loop through the space itself ends", []plan.Mapping{recursive}, map[id.RoomID][]id.RoomID{space: {sub}, sub: {space, deep}, deep: {sub}}, []id.RoomID{space, sub, deep}},
		{"a child listed twice appears once", []plan.Mapping{recursive}, map[id.RoomID][]id.RoomID{space: {roomA, sub}, sub: {roomA}}, []id.RoomID{space, roomA, sub}},
		{"depth is bounded", []plan.Mapping{recursive}, chain(plan.MaxSpaceDepth + 3),
			append([]id.RoomID{space}, slices.Collect(func(yield func(id.RoomID) bool) {
				for i := range plan.MaxSpaceDepth {
					if !yield(id.RoomID("!c" + string(rune('a'+i)) + ":hs")) {
						return
					}
				}
			})...)},
		{"no known children: just the space", []plan.Mapping{base}, nil, []id.RoomID{space}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plan.ExpandSpaces(tt.mappings, tt.children)
			var rooms []id.RoomID
			for _, m := range got {
				rooms = append(rooms, m.Room)
			}
			if !slices.Equal(rooms, tt.want) {
				t.Errorf("rooms = %v, want %v", rooms, tt.want)
			}
		})
	}
	t.Run("children carry the mapping's settings", func(t *testing.T) {
		got := plan.ExpandSpaces([]plan.Mapping{base}, map[id.RoomID][]id.RoomID{space: {roomA}})
		if len(got) != 2 || !reflect.DeepEqual(got[1], child(roomA)) {
			t.Errorf("got %+v, want %+v", got, child(roomA))
		}
	})
}

// fakeSpaces is a hierarchy and a space store in memory.
type fakeSpaces struct {
	live    map[id.RoomID][]id.RoomID
	readErr error
	// reads lists the spaces read; typesUnknown hides which children are plain rooms.
	reads        []id.RoomID
	typesUnknown bool
	storeErr     error
	stored       map[id.RoomID][]id.RoomID
	records      map[id.RoomID]plan.RoomRecord
}

func (f *fakeSpaces) SpaceChildren(_ context.Context, space id.RoomID) ([]plan.SpaceChild, error) {
	f.reads = append(f.reads, space)
	if f.readErr != nil {
		return nil, f.readErr
	}
	var out []plan.SpaceChild
	for _, c := range f.live[space] {
		_, isSpace := f.live[c]
		out = append(out, plan.SpaceChild{Room: c, NotSpace: !isSpace && !f.typesUnknown})
	}
	return out, nil
}

type fakeSpaceStore struct{ f *fakeSpaces }

func (s fakeSpaceStore) SpaceChildren(context.Context) (map[id.RoomID][]id.RoomID, error) {
	if s.f.storeErr != nil {
		return nil, s.f.storeErr
	}
	return maps.Clone(s.f.stored), nil
}
func (s fakeSpaceStore) PutSpaceChildren(_ context.Context, space id.RoomID, children []id.RoomID) error {
	s.f.stored[space] = slices.Clone(children)
	return nil
}
func (s fakeSpaceStore) RoomRecords(context.Context) (map[id.RoomID]plan.RoomRecord, error) {
	return maps.Clone(s.f.records), nil
}
func (s fakeSpaceStore) PutRoomRecord(_ context.Context, room id.RoomID, rec plan.RoomRecord) error {
	s.f.records[room] = rec
	return nil
}
func (s fakeSpaceStore) DeleteRoomRecord(_ context.Context, room id.RoomID) error {
	delete(s.f.records, room)
	return nil
}

// TestSpaceLifecycle runs cycles over a space whose children change: members reach every child,
// a failed hierarchy read changes nothing, a child that leaves is released (no new removals there)
// while its already pending removals still run at their deadline.
func TestSpaceLifecycle(t *testing.T) {
	const space = id.RoomID("!space:hs")
	w := newFakeWorld()
	w.rooms[space] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice, bob}
	f := &fakeSpaces{live: map[id.RoomID][]id.RoomID{space: {roomA, roomB}}, stored: map[id.RoomID][]id.RoomID{}, records: map[id.RoomID]plan.RoomRecord{}}
	p := policy(plan.Mapping{Group: "staff", Room: space, Method: plan.MethodForce, SpaceOptions: plan.SpaceOptions{IncludeChildren: true}})
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute, Hierarchy: f, Spaces: fakeSpaceStore{f},
		Now: func() time.Time { return w.now }, Log: zerolog.Nop()})

	first := w.cycle(t, r)
	if got := first.Children[space]; !slices.Equal(got, []id.RoomID{roomA, roomB}) || len(first.Children) != 1 {
		t.Fatalf("cycle result lists children %v, want %s → [%s %s]", first.Children, space, roomA, roomB)
	}
	for _, room := range []id.RoomID{space, roomA, roomB} {
		for _, u := range []id.UserID{alice, bob} {
			if w.rooms[room][u].Membership != plan.MembershipJoin {
				t.Fatalf("%s not joined to %s after the first cycle: %v", u, room, w.writes)
			}
		}
	}
	if !slices.Equal(f.stored[space], []id.RoomID{roomA, roomB}) || !slices.Equal(f.records[roomB].Groups, []string{"staff"}) {
		t.Fatalf("stored children %v, records %v", f.stored, f.records)
	}

	// Bob leaves the group: removals are scheduled in all three rooms.
	w.groups["staff"] = []id.UserID{alice}
	w.cycle(t, r)
	if len(w.state.Pending) != 3 {
		t.Fatalf("pending after bob left the group: %v", w.state.Pending)
	}

	// The hierarchy cannot be read: the stored children still count, nothing is released.
	f.readErr = errors.New("hierarchy down")
	res := w.cycle(t, r)
	if len(w.state.Pending) != 3 || len(w.writes) != 0 {
		t.Fatalf("a failed hierarchy read changed something: pending %v, writes %v", w.state.Pending, w.writes)
	}
	if !slices.ContainsFunc(res.Warnings, func(w plan.Warning) bool { return strings.Contains(w.Message, "space children unreadable") }) {
		t.Errorf("no warning about the unreadable space: %v", res.Warnings)
	}

	// B leaves the space, carol joins the group: carol is added to the space and A only; bob's
	// removal pending in B still runs at its deadline, with the others.
	f.readErr = nil
	f.live[space] = []id.RoomID{roomA}
	w.groups["staff"] = []id.UserID{alice, carol}
	w.cycle(t, r)
	if w.rooms[roomB][carol].Membership != "" || w.rooms[roomA][carol].Membership != plan.MembershipJoin {
		t.Fatalf("carol: B %q, A %q; writes %v", w.rooms[roomB][carol].Membership, w.rooms[roomA][carol].Membership, w.writes)
	}
	if _, ok := w.state.Members.Lookup(plan.RoomUser{Room: roomB, User: alice}); ok {
		t.Errorf("alice's record in the released room B is kept")
	}
	w.now = w.now.Add(grace + time.Minute)
	w.cycle(t, r)
	for _, room := range []id.RoomID{space, roomA, roomB} {
		if w.rooms[room][bob].Membership != plan.MembershipLeave {
			t.Errorf("bob in %s: %q after the deadline; writes %v", room, w.rooms[room][bob].Membership, w.writes)
		}
	}
	if w.rooms[roomB][alice].Membership != plan.MembershipJoin {
		t.Errorf("alice was removed from the released room B")
	}
	// Nothing of B is left: its record goes at the next cycle.
	w.cycle(t, r)
	if _, ok := f.records[roomB]; ok || len(w.state.Pending) != 0 {
		t.Errorf("released room B still recorded: %v, pending %v", f.records, w.state.Pending)
	}
}

// TestReadSpacesRecursion checks which rooms a recursive mapping reads: child spaces and children
// of unknown type, never the plain rooms the homeserver already showed as such, and each room
// once even through a loop.
func TestReadSpacesRecursion(t *testing.T) {
	const (
		space = id.RoomID("!space:hs")
		sub   = id.RoomID("!sub:hs")
	)
	live := map[id.RoomID][]id.RoomID{space: {roomA, sub}, sub: {roomB, space}}
	for _, tc := range []struct {
		name         string
		typesUnknown bool
		recursive    bool
		wantReads    []id.RoomID
	}{
		{"known plain rooms are not read", false, true, []id.RoomID{space, sub}},
		{"rooms of unknown type are read", true, true, []id.RoomID{space, roomA, sub, roomB}},
		{"not recursive: the space only", true, false, []id.RoomID{space}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSpaces{live: live, typesUnknown: tc.typesUnknown, stored: map[id.RoomID][]id.RoomID{}, records: map[id.RoomID]plan.RoomRecord{}}
			r := New(Options{Hierarchy: f, Spaces: fakeSpaceStore{f}, Log: zerolog.Nop()})
			m := plan.Mapping{Group: "g", Room: space, SpaceOptions: plan.SpaceOptions{IncludeChildren: true, Recursive: tc.recursive}}
			children, _, warnings := r.readSpaces(context.Background(), []plan.Mapping{m}, nil)
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if !slices.Equal(f.reads, tc.wantReads) {
				t.Errorf("reads = %v, want %v", f.reads, tc.wantReads)
			}
			if got := plan.ExpandSpaces([]plan.Mapping{m}, children); tc.recursive && len(got) != 4 {
				t.Errorf("expanded to %d mappings, want the space, A, sub and B", len(got))
			}
		})
	}
}

// joiningSpaces is a hierarchy that can also accept invites, into a fake world.
type joiningSpaces struct {
	*fakeSpaces
	w       *fakeWorld
	invited map[id.RoomID]bool
	joins   []id.RoomID
}

func (j *joiningSpaces) JoinRoom(_ context.Context, room id.RoomID) error {
	j.joins = append(j.joins, room)
	if !j.invited[room] {
		return errors.New("not invited")
	}
	j.w.rooms[room] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	delete(j.w.roomErr, room)
	return nil
}

// TestUnreadableChildIsJoined: a child the bot is not in is joined by the first cycle after the
// bot is invited, which asks at once for a cycle of its groups, and that one fills it; rooms that
// read fine are never joined.
func TestUnreadableChildIsJoined(t *testing.T) {
	const space = id.RoomID("!space:hs")
	w := newFakeWorld()
	w.rooms[space] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice}
	f := &fakeSpaces{live: map[id.RoomID][]id.RoomID{space: {roomA, roomB}}, stored: map[id.RoomID][]id.RoomID{}, records: map[id.RoomID]plan.RoomRecord{}}
	j := &joiningSpaces{fakeSpaces: f, w: w, invited: map[id.RoomID]bool{}}
	p := policy(plan.Mapping{Group: "staff", Room: space, Method: plan.MethodForce, SpaceOptions: plan.SpaceOptions{IncludeChildren: true}})
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute, Hierarchy: j, Spaces: fakeSpaceStore{f},
		Now: func() time.Time { return w.now }, Log: zerolog.Nop()})

	w.roomErr[roomB] = setupErr("bot is not joined to the room")
	w.cycle(t, r) // B unreadable: the join fails, no invite
	w.cycle(t, r)
	if !slices.Equal(j.joins, []id.RoomID{roomB, roomB}) {
		t.Fatalf("joins after two cycles = %v, want one try of B a cycle", j.joins)
	}
	if groups, run := r.takeScope(false); run {
		t.Fatalf("a failed join asked for a cycle of %v", groups)
	}
	j.invited[roomB] = true
	w.cycle(t, r) // joined
	groups, run := r.takeScope(false)
	if !run || !slices.Equal(groups, []string{"staff"}) {
		t.Fatalf("the join asked for a cycle of %v (run %v), want one of B's group staff", groups, run)
	}
	if _, in := w.rooms[roomB][alice]; in {
		t.Fatal("the cycle that joined B filled it, from a read made before the join")
	}
	w.writes = nil
	r.runCycle(t.Context(), groups) // the cycle of B's groups reads and fills it

	if w.rooms[roomB][alice].Membership != plan.MembershipJoin {
		t.Errorf("alice in B after the bot joined it: %q (joins %v, writes %v)", w.rooms[roomB][alice].Membership, j.joins, w.writes)
	}
	w.cycle(t, r)
	if len(j.joins) != 3 {
		t.Errorf("joins = %v, want no more once B reads fine", j.joins)
	}
}

// TestNothingReleasedWhenChildrenUnknown: with the hierarchy and the stored children both
// unreadable, the children are unknown, not gone: their records stay.
func TestNothingReleasedWhenChildrenUnknown(t *testing.T) {
	const space = id.RoomID("!space:hs")
	w := newFakeWorld()
	w.rooms[space] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	w.groups["staff"] = []id.UserID{alice}
	f := &fakeSpaces{live: map[id.RoomID][]id.RoomID{space: {roomA}}, stored: map[id.RoomID][]id.RoomID{}, records: map[id.RoomID]plan.RoomRecord{}}
	p := policy(plan.Mapping{Group: "staff", Room: space, Method: plan.MethodForce, SpaceOptions: plan.SpaceOptions{IncludeChildren: true}})
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute, Hierarchy: f, Spaces: fakeSpaceStore{f},
		Now: func() time.Time { return w.now }, Log: zerolog.Nop()})
	w.cycle(t, r)
	if _, ok := w.state.Members.Lookup(plan.RoomUser{Room: roomA, User: alice}); !ok {
		t.Fatal("alice not tracked in the child A")
	}
	f.readErr, f.storeErr = errors.New("hierarchy down"), errors.New("store down")
	w.cycle(t, r)
	if _, ok := w.state.Members.Lookup(plan.RoomUser{Room: roomA, User: alice}); !ok {
		t.Error("alice's record in A was dropped while the children were unknown")
	}
}

// TestMappedRoomIsJoinedOnceInvited: a mapped room the bot is not in is joined by the first
// cycle after the invite and filled by the cycle of its groups that the join asks for; a room
// unreadable for another reason (the homeserver failing) is not tried, and a room the bot is not
// in is no outage.
func TestMappedRoomIsJoinedOnceInvited(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice}
	w.groups["ops"] = []id.UserID{bob}
	w.rooms[roomB] = map[id.UserID]plan.RoomMember{bot: joined(earlier)}
	j := &joiningSpaces{fakeSpaces: &fakeSpaces{live: map[id.RoomID][]id.RoomID{}, stored: map[id.RoomID][]id.RoomID{}, records: map[id.RoomID]plan.RoomRecord{}},
		w: w, invited: map[id.RoomID]bool{}}
	p := policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}, plan.Mapping{Group: "ops", Room: roomB, Method: plan.MethodInvite})
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Policy: p, Interval: time.Minute, Hierarchy: j,
		Now: func() time.Time { return w.now }, Log: zerolog.Nop()})

	delete(w.rooms, roomA)
	w.roomErr[roomA] = setupErr("bot is not joined to the room")
	w.roomErr[roomB] = errors.New("HTTP 502")
	w.cycle(t, r)
	w.cycle(t, r)
	if !slices.Equal(j.joins, []id.RoomID{roomA, roomA}) {
		t.Fatalf("joins before the invite = %v, want one try of A a cycle, none of B", j.joins)
	}
	delete(w.roomErr, roomB)
	if res := w.cycle(t, r); res.Outage != "" {
		t.Errorf("only a room the bot is not in unreadable: outage %q, want none", res.Outage)
	}
	j.invited[roomA] = true
	w.cycle(t, r)
	groups, run := r.takeScope(false)
	if !run || !slices.Equal(groups, []string{"staff"}) {
		t.Fatalf("the join asked for a cycle of %v (run %v), want one of A's group staff", groups, run)
	}
	r.runCycle(t.Context(), groups)
	if w.rooms[roomA][alice].Membership != plan.MembershipInvite || !slices.Equal(j.joins, []id.RoomID{roomA, roomA, roomA, roomA}) {
		t.Errorf("after the invite: alice %q in A, joins %v; want her invited by the cycle the join asked for", w.rooms[roomA][alice].Membership, j.joins)
	}
}
