package plan

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"maunium.net/go/mautrix/id"
)

func TestMemberRecords(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	// Records set through Set and Delete must read back exactly like a map would hold them.
	type op struct {
		del bool
		m   ManagedMember
	}
	rec := func(room id.RoomID, u id.UserID, desired, added time.Time) op {
		return op{m: ManagedMember{Room: room, User: u, DesiredSince: desired, AddedAt: added}}
	}
	del := func(room id.RoomID, u id.UserID) op { return op{del: true, m: ManagedMember{Room: room, User: u}} }
	tests := []struct {
		name string
		ops  []op
	}{
		{"empty", nil},
		{"one record, zero times", []op{rec(roomA, alice, time.Time{}, time.Time{})}},
		{"nanoseconds and another zone", []op{rec(roomA, alice, t0.In(time.FixedZone("X", 7200)), t0.Add(time.Nanosecond))}},
		{"before 1970", []op{rec(roomA, alice, time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC), time.Time{})}},
		{"out of order", []op{rec(roomA, carol, t0, t0), rec(roomA, alice, t0, t0), rec(roomA, bob, t0, t0), rec(roomB, alice, t0, t0)}},
		{"replace in the middle", []op{rec(roomA, alice, t0, t0), rec(roomA, bob, t0, t0), rec(roomA, carol, t0, t0), rec(roomA, bob, time.Time{}, t0.Add(time.Hour))}},
		{"replace the last", []op{rec(roomA, alice, t0, t0), rec(roomA, alice, time.Time{}, t0)}},
		{"delete first, middle, last, absent", []op{rec(roomA, alice, t0, t0), rec(roomA, bob, t0, t0), rec(roomA, carol, t0, t0), rec(roomA, "@dave:example.org", t0, t0),
			del(roomA, alice), del(roomA, carol), del(roomA, "@dave:example.org"), del(roomA, "@nobody:example.org"), del(roomB, alice)}},
		{"delete the room's only record", []op{rec(roomA, alice, t0, t0), del(roomA, alice), rec(roomB, bob, t0, t0)}},
		{"delete then add back", []op{rec(roomA, alice, t0, t0), del(roomA, alice), rec(roomA, alice, time.Time{}, t0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := map[RoomUser]ManagedMember{}
			got := NewMemberRecords()
			var b MemberRecordsBuilder
			for _, o := range tc.ops {
				k := RoomUser{o.m.Room, o.m.User}
				if o.del {
					delete(want, k)
					got.Delete(k)
					continue
				}
				want[k] = o.m
				got.Set(o.m)
			}
			for _, m := range want {
				b.Add(m)
			}
			for name, s := range map[string]*MemberRecords{"set": got, "built": b.Build(), "from a map": MembersFrom(want), "cloned": got.Clone()} {
				checkRecords(t, name, s, want)
			}
		})
	}
}

// checkRecords compares every way of reading s with want.
func checkRecords(t *testing.T, name string, s *MemberRecords, want map[RoomUser]ManagedMember) {
	t.Helper()
	if s.Len() != len(want) {
		t.Errorf("%s: Len %d, want %d", name, s.Len(), len(want))
	}
	keys := slices.SortedFunc(maps.Keys(want), compareRoomUser)
	var all []RoomUser
	for k, m := range s.All() {
		all = append(all, k)
		if k.Room != m.Room || k.User != m.User {
			t.Errorf("%s: All yields key %v with record of %s in %s", name, k, m.User, m.Room)
		}
	}
	if !slices.Equal(all, keys) {
		t.Errorf("%s: All yields %v, want %v (by room, then user)", name, all, keys)
	}
	perRoom := map[id.RoomID][]id.UserID{}
	for _, k := range keys {
		perRoom[k.Room] = append(perRoom[k.Room], k.User)
	}
	if rooms := s.Rooms(); !slices.Equal(rooms, slices.Sorted(maps.Keys(perRoom))) {
		t.Errorf("%s: Rooms %v, want %v", name, rooms, slices.Sorted(maps.Keys(perRoom)))
	}
	for room, users := range perRoom {
		if got := slices.Collect(s.Users(room)); !slices.Equal(got, users) {
			t.Errorf("%s: Users(%s) %v, want %v", name, room, got, users)
		}
		if s.InRoom(room) != len(users) {
			t.Errorf("%s: InRoom(%s) %d, want %d", name, room, s.InRoom(room), len(users))
		}
	}
	for k, w := range want {
		got, ok := s.Lookup(k)
		if !ok || got.Room != w.Room || got.User != w.User || !got.DesiredSince.Equal(w.DesiredSince) || !got.AddedAt.Equal(w.AddedAt) ||
			got.DesiredSince.IsZero() != w.DesiredSince.IsZero() || got.AddedAt.IsZero() != w.AddedAt.IsZero() {
			t.Errorf("%s: Lookup(%v) = %+v, %v; want %+v", name, k, got, ok, w)
		}
	}
	for _, k := range []RoomUser{{roomA, "@nobody:example.org"}, {"!nowhere:example.org", alice}} {
		if got, ok := s.Lookup(k); ok || got != (ManagedMember{}) {
			t.Errorf("%s: Lookup(%v) of an absent record = %+v, %v", name, k, got, ok)
		}
	}
}

func compareRoomUser(a, b RoomUser) int {
	return cmp.Or(cmp.Compare(a.Room, b.Room), cmp.Compare(a.User, b.User))
}

func TestMemberRecordsBuilderKeepsTheLastAdded(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b MemberRecordsBuilder
	for i := range 5 {
		b.Add(ManagedMember{Room: roomA, User: bob, AddedAt: t0.Add(time.Duration(i) * time.Minute)})
		b.Add(ManagedMember{Room: roomA, User: alice, AddedAt: t0})
	}
	s := b.Build()
	if s.Len() != 2 {
		t.Fatalf("Len %d, want 2", s.Len())
	}
	if got := s.Get(RoomUser{roomA, bob}).AddedAt; !got.Equal(t0.Add(4 * time.Minute)) {
		t.Errorf("bob added at %v, want the last one added, %v", got, t0.Add(4*time.Minute))
	}
}

func TestMemberRecordsNilIsEmpty(t *testing.T) {
	var s *MemberRecords
	if s.Len() != 0 || s.InRoom(roomA) != 0 || len(s.Rooms()) != 0 || s.Clone().Len() != 0 {
		t.Error("the nil records are not empty")
	}
	if _, ok := s.Lookup(RoomUser{roomA, alice}); ok {
		t.Error("Lookup on nil found a record")
	}
	for range s.All() {
		t.Error("All on nil yields a record")
	}
	for range s.Users(roomA) {
		t.Error("Users on nil yields a user")
	}
	s.Delete(RoomUser{roomA, alice}) // must not panic
}

// TestMemberRecordsRandomAgainstMap runs random sets and deletes against a map.
func TestMemberRecordsRandomAgainstMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[RoomUser]ManagedMember{}
	s := NewMemberRecords()
	rooms := []id.RoomID{roomA, roomB, "!c:example.org"}
	for i := range 5000 {
		k := RoomUser{rooms[rng.IntN(len(rooms))], id.UserID(fmt.Sprintf("@u%02d:example.org", rng.IntN(60)))}
		if rng.IntN(3) == 0 {
			delete(want, k)
			s.Delete(k)
			continue
		}
		m := ManagedMember{Room: k.Room, User: k.User, AddedAt: time.Unix(int64(i), 0).UTC()}
		want[k] = m
		s.Set(m)
	}
	checkRecords(t, "random", s, want)
}

// BenchmarkStateMemory reports the heap that 250,000 managed-member records (500 rooms of 500
// users out of 50,000) take, held as MemberRecords and, for comparison, as a map keyed by room and
// user, the shape before MemberRecords.
func BenchmarkStateMemory(b *testing.B) {
	const rooms, perRoom, users = 500, 500, 50_000
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The IDs exist before the records, as in a cycle, where the groups and rooms hold them too.
	roomIDs, userIDs := make([]id.RoomID, rooms), make([]id.UserID, users)
	for r := range roomIDs {
		roomIDs[r] = id.RoomID(fmt.Sprintf("!room%03d:example.org", r))
	}
	for u := range userIDs {
		userIDs[u] = id.UserID(fmt.Sprintf("@user%05d:example.org", u))
	}
	each := func(fn func(ManagedMember)) {
		for r, room := range roomIDs {
			for i := range perRoom {
				fn(ManagedMember{Room: room, User: userIDs[(r*perRoom/5+i*97)%users], DesiredSince: t0, AddedAt: t0})
			}
		}
	}
	measure := func(b *testing.B, build func() any) {
		var held any
		for b.Loop() {
			held = nil
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			held = build()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB")
		}
		runtime.KeepAlive(held)
		runtime.KeepAlive(userIDs)
	}
	b.Run("records", func(b *testing.B) {
		measure(b, func() any {
			var bld MemberRecordsBuilder
			each(bld.Add)
			return bld.Build()
		})
	})
	b.Run("map", func(b *testing.B) {
		measure(b, func() any {
			m := map[RoomUser]ManagedMember{}
			each(func(mm ManagedMember) { m[RoomUser{mm.Room, mm.User}] = mm })
			return m
		})
	})
}

func TestTrackMemberRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	for _, m := range []ManagedMember{
		{Room: roomA, User: alice},
		{Room: roomA, User: alice, DesiredSince: t0},
		{Room: roomB, User: bob, DesiredSince: t0.In(time.FixedZone("X", 3600)), AddedAt: t0.Add(-time.Hour)},
	} {
		a := NewTrackMember(m, "in Authentik group staff")
		got := a.Member()
		if got.Room != m.Room || got.User != m.User || !got.DesiredSince.Equal(m.DesiredSince) || !got.AddedAt.Equal(m.AddedAt) ||
			got.DesiredSince.IsZero() != m.DesiredSince.IsZero() || got.AddedAt.IsZero() != m.AddedAt.IsZero() {
			t.Errorf("NewTrackMember(%+v).Member() = %+v", m, got)
		}
		if a.Target() != (RoomUser{m.Room, m.User}) || a.Why() != "in Authentik group staff" {
			t.Errorf("target %v, reason %q", a.Target(), a.Why())
		}
	}
	// A first cycle plans one per member of every room: the action's size is what it costs.
	if size := unsafe.Sizeof(TrackMember{}); size != 64 {
		t.Errorf("TrackMember is %d bytes, want 64", size)
	}
}
