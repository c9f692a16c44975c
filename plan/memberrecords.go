package plan

import (
	"cmp"
	"iter"
	"slices"
	"time"

	"maunium.net/go/mautrix/id"
)

// MemberRecords holds the managed-member records of every room. A large installation keeps
// hundreds of thousands of them in memory for each cycle, so they are held per room as a slice
// sorted by user, with the times as integers: 32 bytes a record instead of the ~250 of a map
// keyed by room and user (63 MB against 9 MB at 250,000 records, BenchmarkStateMemory). Planning
// a room also finds its records without scanning the others.
//
// Reads may run concurrently; a write needs the caller to exclude every other access. The nil
// *MemberRecords is empty and read-only.
type MemberRecords struct {
	rooms map[id.RoomID][]memberEntry
}

// memberEntry is one record without its room, which is the key it is filed under.
type memberEntry struct {
	user           id.UserID
	desired, added int64 // see packTime
}

// packTime and unpackTime hold a time as Unix nanoseconds, the zero time as 0. Times come back
// in UTC without a monotonic reading: every use compares them. MemberRecords, TrackMember and
// RoomMembers all hold their times this way.
func packTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func unpackTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (e memberEntry) record(room id.RoomID) ManagedMember {
	return ManagedMember{Room: room, User: e.user, DesiredSince: unpackTime(e.desired), AddedAt: unpackTime(e.added)}
}

func entryOf(m ManagedMember) memberEntry {
	return memberEntry{user: m.User, desired: packTime(m.DesiredSince), added: packTime(m.AddedAt)}
}

func compareEntry(e memberEntry, u id.UserID) int { return cmp.Compare(e.user, u) }

// NewMemberRecords returns an empty set of records.
func NewMemberRecords() *MemberRecords {
	return &MemberRecords{rooms: map[id.RoomID][]memberEntry{}}
}

// MembersFrom returns the records of m; each record's room and user are those of its key.
func MembersFrom(m map[RoomUser]ManagedMember) *MemberRecords {
	var b MemberRecordsBuilder
	for k, rec := range m {
		rec.Room, rec.User = k.Room, k.User
		b.Add(rec)
	}
	return b.Build()
}

// Lookup returns the record of user k.User in room k.Room, if there is one.
func (s *MemberRecords) Lookup(k RoomUser) (ManagedMember, bool) {
	if s == nil {
		return ManagedMember{}, false
	}
	entries := s.rooms[k.Room]
	i, found := slices.BinarySearchFunc(entries, k.User, compareEntry)
	if !found {
		return ManagedMember{}, false
	}
	return entries[i].record(k.Room), true
}

// Get returns the record of k, or the zero record if there is none.
func (s *MemberRecords) Get(k RoomUser) ManagedMember {
	m, _ := s.Lookup(k)
	return m
}

// Set adds m or replaces the record of its room and user.
func (s *MemberRecords) Set(m ManagedMember) {
	if s.rooms == nil {
		s.rooms = map[id.RoomID][]memberEntry{}
	}
	entries := s.rooms[m.Room]
	// Records mostly arrive in user order (plans are sorted): appending is then enough.
	if n := len(entries); n == 0 || entries[n-1].user < m.User {
		s.rooms[m.Room] = append(entries, entryOf(m))
		return
	}
	i, found := slices.BinarySearchFunc(entries, m.User, compareEntry)
	if found {
		entries[i] = entryOf(m)
		return
	}
	s.rooms[m.Room] = slices.Insert(entries, i, entryOf(m))
}

// Delete removes the record of k, if there is one.
func (s *MemberRecords) Delete(k RoomUser) {
	if s == nil {
		return
	}
	entries := s.rooms[k.Room]
	i, found := slices.BinarySearchFunc(entries, k.User, compareEntry)
	if !found {
		return
	}
	if entries = slices.Delete(entries, i, i+1); len(entries) == 0 {
		delete(s.rooms, k.Room)
		return
	}
	s.rooms[k.Room] = entries
}

// Len returns the number of records.
func (s *MemberRecords) Len() int {
	if s == nil {
		return 0
	}
	n := 0
	for _, entries := range s.rooms {
		n += len(entries)
	}
	return n
}

// InRoom returns the number of records of room.
func (s *MemberRecords) InRoom(room id.RoomID) int {
	if s == nil {
		return 0
	}
	return len(s.rooms[room])
}

// Rooms returns the rooms that have records, in order.
func (s *MemberRecords) Rooms() []id.RoomID {
	if s == nil {
		return nil
	}
	rooms := make([]id.RoomID, 0, len(s.rooms))
	for r := range s.rooms {
		rooms = append(rooms, r)
	}
	slices.Sort(rooms)
	return rooms
}

// Users yields the users with a record in room, in order.
func (s *MemberRecords) Users(room id.RoomID) iter.Seq[id.UserID] {
	return func(yield func(id.UserID) bool) {
		if s == nil {
			return
		}
		for _, e := range s.rooms[room] {
			if !yield(e.user) {
				return
			}
		}
	}
}

// All yields every record, by room and then by user.
func (s *MemberRecords) All() iter.Seq2[RoomUser, ManagedMember] {
	return func(yield func(RoomUser, ManagedMember) bool) {
		for _, room := range s.Rooms() {
			for _, e := range s.rooms[room] {
				if !yield(RoomUser{room, e.user}, e.record(room)) {
					return
				}
			}
		}
	}
}

// Clone returns a copy that shares nothing writable with s.
func (s *MemberRecords) Clone() *MemberRecords {
	c := NewMemberRecords()
	if s == nil {
		return c
	}
	for room, entries := range s.rooms {
		c.rooms[room] = slices.Clone(entries)
	}
	return c
}

// MemberRecordsBuilder collects records in any order, for a store loading them: Build sorts
// once, where Set would insert each record into its place.
type MemberRecordsBuilder struct {
	rooms map[id.RoomID][]memberEntry
}

// Add adds m; of two records of the same room and user, the one added last is kept.
func (b *MemberRecordsBuilder) Add(m ManagedMember) {
	if b.rooms == nil {
		b.rooms = map[id.RoomID][]memberEntry{}
	}
	b.rooms[m.Room] = append(b.rooms[m.Room], entryOf(m))
}

// Build returns the records added; the builder is empty afterwards.
func (b *MemberRecordsBuilder) Build() *MemberRecords {
	s := NewMemberRecords()
	for room, entries := range b.rooms {
		s.rooms[room] = lastByUser(entries, func(e memberEntry) id.UserID { return e.user })
	}
	b.rooms = nil
	return s
}

// lastByUser sorts entries by user and keeps, of several entries of one user, the one added last,
// as both builders promise. Growing by append leaves up to a quarter of the slice unused; the
// result lives for the whole cycle (or longer, in the room cache), so the slack is given back
// when it is worth a copy.
func lastByUser[E any](entries []E, user func(E) id.UserID) []E {
	// Stable, so that among entries of one user the one added last is also last.
	slices.SortStableFunc(entries, func(x, y E) int { return cmp.Compare(user(x), user(y)) })
	kept := entries[:0]
	for i := range entries {
		if i+1 < len(entries) && user(entries[i+1]) == user(entries[i]) {
			continue
		}
		kept = append(kept, entries[i])
	}
	clear(entries[len(kept):]) // let the strings of dropped duplicates go
	if cap(kept)-len(kept) > len(kept)/16 {
		kept = slices.Clone(kept)
	}
	return kept
}
