package plan

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"
)

// RoomMembers is one room's membership events, held compactly: a large installation keeps every
// member of every mapped room in memory during a cycle (hundreds of thousands of entries), and a
// map of RoomMember values costs about five times as much per entry as this sorted slice of
// 32-byte entries (164 bytes against 33 at 250,000, BenchmarkRoomMembersMemory). Lookups are
// binary searches, fast enough for the planner, which asks about each desired or managed user
// once per room.
//
// A RoomMembers is immutable once built (by NewRoomMembers or a RoomMembersBuilder), so a cached
// room state can be shared between cycles and goroutines without copying. The nil *RoomMembers is
// an empty room.
//
// Since is kept as nanoseconds since the Unix epoch (packTime, as MemberRecords keeps its
// times), so it comes back in UTC whatever zone it was put in with, and without a monotonic clock
// reading: the same instant (Equal), not necessarily the same time.Time value (==). The planner
// only compares instants. The zero time.Time is kept as 0 and read back as the zero time; the one
// real instant with that encoding, the epoch itself, therefore also reads back as the zero time,
// which the planner treats as "time unknown". Instants outside the years 1678 to 2262 do not fit
// in nanoseconds and are not kept faithfully; homeserver timestamps are far inside that range.
type RoomMembers struct {
	entries []roomEntry // sorted by user, each user once
	// senders are the users who set someone else's membership (the bot, a few moderators),
	// which roomEntry.sender numbers from 1.
	senders []id.UserID
	// other holds the memberships that have no code, for the users whose entry says
	// membershipOther; nil when there are none, as in nearly every room.
	other map[id.UserID]string
}

// roomEntry is one member: 32 bytes on 64-bit platforms, which the memory budget counts on.
type roomEntry struct {
	user       id.UserID
	since      int64  // UnixNano; 0 stands for the zero time.Time
	sender     uint32 // 0: the user themself; else RoomMembers.senders[sender-1]
	membership membershipCode
}

// membershipCode stands for a membership string, so an entry does not carry a string header of
// its own for one of a handful of values.
type membershipCode uint8

const (
	membershipNone membershipCode = iota // the empty string
	membershipJoin
	membershipInvite
	membershipLeave
	membershipBan
	membershipKnock
	// membershipOther marks a membership no code stands for; the string is in RoomMembers.other.
	membershipOther membershipCode = 255
)

func encodeMembership(m string) (membershipCode, bool) {
	switch m {
	case "":
		return membershipNone, true
	case MembershipJoin:
		return membershipJoin, true
	case MembershipInvite:
		return membershipInvite, true
	case MembershipLeave:
		return membershipLeave, true
	case MembershipBan:
		return membershipBan, true
	case MembershipKnock:
		return membershipKnock, true
	}
	return membershipOther, false
}

// decodeMembership returns the package constants, so that no member holds a copy of its own.
// membershipOther has no string here: it is in RoomMembers.other.
func decodeMembership(c membershipCode) string {
	switch c {
	case membershipJoin:
		return MembershipJoin
	case membershipInvite:
		return MembershipInvite
	case membershipLeave:
		return MembershipLeave
	case membershipBan:
		return MembershipBan
	case membershipKnock:
		return MembershipKnock
	}
	return ""
}

// NewRoomMembers builds a RoomMembers from a map; parsers of large rooms use a RoomMembersBuilder
// instead, which never builds the map.
func NewRoomMembers(m map[id.UserID]RoomMember) *RoomMembers {
	b := RoomMembersBuilder{entries: make([]roomEntry, 0, len(m))}
	for u, mem := range m {
		b.Add(u, mem)
	}
	return b.Build()
}

// Len returns the number of users with a membership event in the room.
func (r *RoomMembers) Len() int {
	if r == nil {
		return 0
	}
	return len(r.entries)
}

// Get returns the user's membership, or the zero RoomMember if the room has none for them.
func (r *RoomMembers) Get(u id.UserID) RoomMember {
	m, _ := r.Lookup(u)
	return m
}

// Lookup returns the user's membership and whether the room has one for them.
func (r *RoomMembers) Lookup(u id.UserID) (RoomMember, bool) {
	if r == nil {
		return RoomMember{}, false
	}
	i, found := slices.BinarySearchFunc(r.entries, u, compareEntryUser)
	if !found {
		return RoomMember{}, false
	}
	return r.member(&r.entries[i]), true
}

// All yields every member in the order of their user IDs.
func (r *RoomMembers) All() iter.Seq2[id.UserID, RoomMember] {
	return func(yield func(id.UserID, RoomMember) bool) {
		if r == nil {
			return
		}
		for i := range r.entries {
			e := &r.entries[i]
			if !yield(e.user, r.member(e)) {
				return
			}
		}
	}
}

// String lists the members, so that a test failure or a debug print shows them rather than a
// pointer.
func (r *RoomMembers) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for u, m := range r.All() {
		if b.Len() > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s by %s at %s", u, m.Membership, m.Sender, m.Since.UTC().Format(time.RFC3339Nano))
	}
	b.WriteByte('}')
	return b.String()
}

func (r *RoomMembers) member(e *roomEntry) RoomMember {
	m := RoomMember{Sender: e.user, Since: unpackTime(e.since)}
	if e.sender != 0 {
		m.Sender = r.senders[e.sender-1]
	}
	if e.membership == membershipOther {
		m.Membership = r.other[e.user]
	} else {
		m.Membership = decodeMembership(e.membership)
	}
	return m
}

func compareEntryUser(e roomEntry, u id.UserID) int {
	return strings.Compare(string(e.user), string(u))
}

// RoomMembersBuilder gathers a room's members one event at a time, so that a parser reading a
// room of many thousand members goes straight to the compact form. The zero value is ready to
// use.
type RoomMembersBuilder struct {
	entries []roomEntry // in the order added, users possibly repeated
	other   map[id.UserID]string
	senders []id.UserID
	sender  map[id.UserID]uint32 // the number of each sender in senders
}

// Add records the user's membership; a later Add of the same user replaces it, as a later state
// event does. The strings are kept as given, so a caller that interns user IDs shares them.
func (b *RoomMembersBuilder) Add(u id.UserID, m RoomMember) {
	code, known := encodeMembership(m.Membership)
	if known {
		// Drop what an earlier Add of the same user may have left, so the latest one wins.
		if b.other != nil {
			delete(b.other, u)
		}
	} else {
		if b.other == nil {
			b.other = map[id.UserID]string{}
		}
		b.other[u] = m.Membership
	}
	e := roomEntry{user: u, since: packTime(m.Since), membership: code}
	if m.Sender != u {
		n, ok := b.sender[m.Sender]
		if !ok {
			if b.sender == nil {
				b.sender = map[id.UserID]uint32{}
			}
			b.senders = append(b.senders, m.Sender)
			n = uint32(len(b.senders))
			b.sender[m.Sender] = n
		}
		e.sender = n
	}
	b.entries = append(b.entries, e)
}

// Build returns the members added so far and empties the builder, which can then build another
// room.
func (b *RoomMembersBuilder) Build() *RoomMembers {
	entries, other, senders := b.entries, b.other, b.senders
	*b = RoomMembersBuilder{}
	kept := lastByUser(entries, func(e roomEntry) id.UserID { return e.user })
	if len(kept) == 0 {
		kept = nil
	}
	if len(other) == 0 {
		other = nil
	}
	return &RoomMembers{entries: kept, other: other, senders: renumberSenders(kept, senders)}
}

// renumberSenders returns the senders the entries still name, numbering them afresh in the
// entries: a replaced event may have been the only one of its sender. Two builds of the same
// members are then equal whatever events they were built from.
func renumberSenders(entries []roomEntry, senders []id.UserID) []id.UserID {
	if len(senders) == 0 {
		return nil
	}
	renumber := make([]uint32, len(senders)+1)
	var kept []id.UserID
	for i := range entries {
		n := entries[i].sender
		if n == 0 {
			continue
		}
		if renumber[n] == 0 {
			kept = append(kept, senders[n-1])
			renumber[n] = uint32(len(kept))
		}
		entries[i].sender = renumber[n]
	}
	return kept
}
