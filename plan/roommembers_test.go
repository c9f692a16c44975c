package plan

import (
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unique"
	"unsafe"

	"maunium.net/go/mautrix/id"
)

// build adds the members in the order given, the way a parser meets state events.
func build(adds ...add) *RoomMembers {
	var b RoomMembersBuilder
	for _, a := range adds {
		b.Add(a.u, a.m)
	}
	return b.Build()
}

type add = struct {
	u id.UserID
	m RoomMember
}

// collect reads a RoomMembers back through All, checking the order on the way.
func collect(t *testing.T, r *RoomMembers) map[id.UserID]RoomMember {
	t.Helper()
	out := map[id.UserID]RoomMember{}
	var prev id.UserID
	for u, m := range r.All() {
		if len(out) > 0 && u <= prev {
			t.Errorf("All yielded %s after %s: not in increasing user order", u, prev)
		}
		prev = u
		out[u] = m
	}
	return out
}

func TestRoomMembersLookup(t *testing.T) {
	invited := RoomMember{Membership: MembershipInvite, Sender: bot, Since: earlier}
	room := NewRoomMembers(map[id.UserID]RoomMember{
		alice: joined(earlier),
		bob:   invited,
		carol: {Membership: MembershipBan, Sender: bot, Since: now},
	})
	tests := []struct {
		name    string
		members *RoomMembers
		user    id.UserID
		want    RoomMember
		wantOK  bool
		wantLen int
	}{
		{name: "nil receiver", members: nil, user: alice},
		{name: "empty room", members: NewRoomMembers(nil), user: alice},
		{name: "empty builder", members: new(RoomMembersBuilder).Build(), user: alice},
		{name: "first user", members: room, user: alice, want: joined(earlier), wantOK: true, wantLen: 3},
		{name: "middle user", members: room, user: bob, want: invited, wantOK: true, wantLen: 3},
		{name: "last user", members: room, user: carol, want: RoomMember{Membership: MembershipBan, Sender: bot, Since: now}, wantOK: true, wantLen: 3},
		{name: "absent, sorts before every member", members: room, user: "@aaron:hs", wantLen: 3},
		{name: "absent, sorts between members", members: room, user: "@alicia:hs", wantLen: 3},
		{name: "absent, sorts after every member", members: room, user: "@zoe:hs", wantLen: 3},
		{name: "absent, a prefix of a member", members: room, user: "@ali", wantLen: 3},
		{name: "empty user ID", members: room, user: "", wantLen: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.members.Lookup(tt.user)
			if ok != tt.wantOK || !sameMember(got, tt.want) {
				t.Errorf("Lookup(%s) = %+v, %v; want %+v, %v", tt.user, got, ok, tt.want, tt.wantOK)
			}
			if got := tt.members.Get(tt.user); !sameMember(got, tt.want) {
				t.Errorf("Get(%s) = %+v, want %+v", tt.user, got, tt.want)
			}
			if got := tt.members.Len(); got != tt.wantLen {
				t.Errorf("Len() = %d, want %d", got, tt.wantLen)
			}
			if got := len(collect(t, tt.members)); got != tt.wantLen {
				t.Errorf("All yielded %d members, want %d", got, tt.wantLen)
			}
		})
	}
}

// sameMember compares as the planner does: the same instant, whatever the time zone.
func sameMember(a, b RoomMember) bool {
	return a.Membership == b.Membership && a.Sender == b.Sender && a.Since.Equal(b.Since) && a.Since.IsZero() == b.Since.IsZero()
}

func TestRoomMembersBuilderLaterAddWins(t *testing.T) {
	join := RoomMember{Membership: MembershipJoin, Sender: alice, Since: earlier}
	leave := RoomMember{Membership: MembershipLeave, Sender: bot, Since: now}
	custom := RoomMember{Membership: "org.example.custom", Sender: bot, Since: now}
	custom2 := RoomMember{Membership: "org.example.other", Sender: carol, Since: later}
	tests := []struct {
		name string
		adds []add
		want map[id.UserID]RoomMember
	}{
		{name: "one add", adds: []add{{alice, join}}, want: map[id.UserID]RoomMember{alice: join}},
		{name: "known then known", adds: []add{{alice, join}, {alice, leave}}, want: map[id.UserID]RoomMember{alice: leave}},
		{name: "known then unknown", adds: []add{{alice, join}, {alice, custom}}, want: map[id.UserID]RoomMember{alice: custom}},
		{name: "unknown then known", adds: []add{{alice, custom}, {alice, join}}, want: map[id.UserID]RoomMember{alice: join}},
		{name: "unknown then unknown", adds: []add{{alice, custom}, {alice, custom2}}, want: map[id.UserID]RoomMember{alice: custom2}},
		{name: "three adds of one user", adds: []add{{alice, leave}, {alice, custom}, {alice, join}}, want: map[id.UserID]RoomMember{alice: join}},
		{
			name: "repeats among other users, out of order",
			adds: []add{{carol, join}, {alice, custom}, {bob, join}, {carol, leave}, {alice, leave}, {bob, custom2}, {carol, custom}},
			want: map[id.UserID]RoomMember{alice: leave, bob: custom2, carol: custom},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := build(tt.adds...)
			if r.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", r.Len(), len(tt.want))
			}
			got := collect(t, r)
			if !maps.EqualFunc(got, tt.want, sameMember) {
				t.Errorf("built %v, want %v", r, tt.want)
			}
			unknown := 0
			for u, want := range tt.want {
				if m := r.Get(u); !sameMember(m, want) {
					t.Errorf("Get(%s) = %+v, want %+v", u, m, want)
				}
				if _, ok := encodeMembership(want.Membership); !ok {
					unknown++
				}
			}
			// Replaced unknown memberships must not linger in the side table.
			if len(r.other) != unknown {
				t.Errorf("side table holds %v, want %d entries", r.other, unknown)
			}
		})
	}
}

// TestRoomMembersBuilderManyRepeats has enough entries that an unstable sort would reorder the
// repeats of one user, so the wrong one would be kept.
func TestRoomMembersBuilderManyRepeats(t *testing.T) {
	users := []id.UserID{carol, alice, bob, bot}
	var b RoomMembersBuilder
	const adds = 400
	for i := range adds {
		b.Add(users[i%len(users)], RoomMember{Membership: MembershipJoin, Since: earlier.Add(time.Duration(i) * time.Second)})
	}
	r := b.Build()
	if r.Len() != len(users) {
		t.Fatalf("Len() = %d, want %d", r.Len(), len(users))
	}
	for i, u := range users {
		last := adds - len(users) + i
		if got, want := r.Get(u).Since, earlier.Add(time.Duration(last)*time.Second); !got.Equal(want) {
			t.Errorf("%s since %v, want %v (add %d, the last for them)", u, got, want, last)
		}
	}
}

func TestRoomMembersBuilderStartsOverAfterBuild(t *testing.T) {
	var b RoomMembersBuilder
	b.Add(alice, joined(earlier))
	b.Add(bob, joined(earlier))
	first := b.Build()
	// Adds after Build must not reach into the first result's entries.
	b.Add(alice, RoomMember{Membership: "org.example.custom", Since: now})
	second := b.Build()
	if got := first.Get(alice); !sameMember(got, joined(earlier)) || first.Len() != 2 {
		t.Errorf("first room changed by later adds: %v", first)
	}
	if second.Len() != 1 || second.Get(alice).Membership != "org.example.custom" {
		t.Errorf("second room = %v, want only alice with the custom membership", second)
	}
	if third := b.Build(); third.Len() != 0 {
		t.Errorf("third room = %v, want empty", third)
	}
}

func TestRoomMembersMembershipRoundTrip(t *testing.T) {
	known := []string{MembershipJoin, MembershipInvite, MembershipLeave, MembershipBan, MembershipKnock}
	tests := []struct {
		put string
		// constant, if set, is the package string Get must hand back, shared rather than copied.
		constant string
	}{
		{put: strings.Clone(MembershipJoin), constant: MembershipJoin},
		{put: strings.Clone(MembershipInvite), constant: MembershipInvite},
		{put: strings.Clone(MembershipLeave), constant: MembershipLeave},
		{put: strings.Clone(MembershipBan), constant: MembershipBan},
		{put: strings.Clone(MembershipKnock), constant: MembershipKnock},
		{put: ""},
		{put: "org.example.custom"},
		{put: "Join"},
		{put: "join "},
		{put: "ünïcode"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.put), func(t *testing.T) {
			r := NewRoomMembers(map[id.UserID]RoomMember{alice: {Membership: tt.put}, bob: joined(earlier)})
			got := r.Get(alice).Membership
			if got != tt.put {
				t.Fatalf("Get().Membership = %q, want %q", got, tt.put)
			}
			if tt.constant != "" && unsafe.StringData(got) != unsafe.StringData(tt.constant) {
				t.Errorf("Get().Membership for %q is a copy, want the package constant", tt.put)
			}
			if tt.constant == "" && slices.Contains(known, tt.put) {
				t.Fatalf("test case %q is a known membership without its constant", tt.put)
			}
			if got := r.Get(bob).Membership; got != MembershipJoin {
				t.Errorf("a neighbour's membership = %q, want join", got)
			}
		})
	}
}

func TestRoomMembersGetDoesNotAllocate(t *testing.T) {
	r := NewRoomMembers(map[id.UserID]RoomMember{alice: joined(earlier), bob: {Membership: MembershipInvite, Sender: bot}})
	if n := testing.AllocsPerRun(100, func() { _ = r.Get(bob) }); n != 0 {
		t.Errorf("Get allocates %v times per call, want 0", n)
	}
}

func TestRoomMembersSinceRoundTrip(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name string
		put  time.Time
	}{
		{name: "zero time", put: time.Time{}},
		{name: "whole seconds in UTC", put: now},
		{name: "nanoseconds in UTC", put: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)},
		{name: "nanoseconds in another zone", put: time.Date(2026, 3, 4, 5, 6, 7, 987654321, berlin)},
		{name: "milliseconds as a homeserver gives them", put: time.UnixMilli(1_767_225_600_123)},
		{name: "with a monotonic reading", put: time.Now()},
		{name: "before the epoch", put: time.Date(1960, 1, 1, 0, 0, 0, 1, time.UTC)},
		{name: "one nanosecond after the epoch", put: time.Unix(0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoomMembers(map[id.UserID]RoomMember{alice: {Membership: MembershipJoin, Since: tt.put}})
			got := r.Get(alice).Since
			if !got.Equal(tt.put) || got.IsZero() != tt.put.IsZero() {
				t.Errorf("Since = %v, want the instant %v", got, tt.put)
			}
			if got.UnixNano() != tt.put.UnixNano() && !tt.put.IsZero() {
				t.Errorf("Since = %d ns, want %d ns", got.UnixNano(), tt.put.UnixNano())
			}
		})
	}
}

func TestRoomMembersAll(t *testing.T) {
	users := []id.UserID{"@zed:hs", "@amy:hs", "@mia:hs", "@amy:ht", "@Bo:hs", "@bo:hs"}
	var b RoomMembersBuilder
	for i, u := range users {
		b.Add(u, RoomMember{Membership: MembershipJoin, Since: earlier.Add(time.Duration(i) * time.Second)})
	}
	r := b.Build()
	var got []id.UserID
	for u, m := range r.All() {
		got = append(got, u)
		if want := earlier.Add(time.Duration(slices.Index(users, u)) * time.Second); !m.Since.Equal(want) {
			t.Errorf("%s since %v, want %v: entries mixed up while sorting", u, m.Since, want)
		}
	}
	want := slices.Sorted(slices.Values(users))
	if !slices.Equal(got, want) {
		t.Errorf("All order = %v, want %v", got, want)
	}

	var first []id.UserID
	for u := range r.All() {
		first = append(first, u)
		if len(first) == 2 {
			break
		}
	}
	if !slices.Equal(first, want[:2]) {
		t.Errorf("All stopped early = %v, want %v", first, want[:2])
	}
	for u := range (*RoomMembers)(nil).All() {
		t.Errorf("nil RoomMembers yielded %s", u)
	}
}

func TestRoomMembersString(t *testing.T) {
	r := NewRoomMembers(map[id.UserID]RoomMember{bob: joined(earlier), alice: {Membership: "org.example.custom", Sender: bot}})
	want := "{@alice:hs: org.example.custom by @bot:hs at 0001-01-01T00:00:00Z, @bob:hs: join by  at 2026-11-26T11:00:00Z}"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := fmt.Sprintf("%v", RoomState{Members: r}); !strings.Contains(got, "@alice:hs: org.example.custom") {
		t.Errorf("a printed RoomState shows %q, not its members", got)
	}
}

func TestRoomEntrySize(t *testing.T) {
	if strconv.IntSize != 64 {
		t.Skip("the size budget is for 64-bit platforms")
	}
	if got := unsafe.Sizeof(roomEntry{}); got != 32 {
		t.Errorf("roomEntry is %d bytes, want 32: the compact room membership depends on it", got)
	}
}

// BenchmarkRoomMembersMemory measures the heap that the members of 500 rooms of 500 members each
// hold (250,000 memberships, as in a cycle of the 50,000-user target), compactly and in the map
// shape RoomState used before.
func BenchmarkRoomMembersMemory(b *testing.B) {
	const users, rooms, perRoom = 50_000, 500, 500
	ids := make([]id.UserID, users)
	for i := range ids {
		// Interned like the parser's user IDs, so the strings are shared and not counted.
		ids[i] = id.UserID(unique.Make(fmt.Sprintf("@user%05d:example.org", i)).Value())
	}
	botID := id.UserID(unique.Make("@bot:example.org").Value())
	base := time.UnixMilli(1_767_225_600_000)
	member := func(r, i int) (id.UserID, RoomMember) {
		// Distinct users within a room (101·i stays below 50,000), in no sorted order.
		u := ids[(r*97+i*101)%users]
		if i%10 == 0 {
			return u, RoomMember{Membership: MembershipInvite, Sender: botID, Since: base.Add(time.Duration(i) * time.Millisecond)}
		}
		return u, RoomMember{Membership: MembershipJoin, Sender: u, Since: base.Add(time.Duration(i) * time.Millisecond)}
	}
	shapes := []struct {
		name  string
		build func() any
	}{
		{name: "compact", build: func() any {
			out := make([]*RoomMembers, rooms)
			var bld RoomMembersBuilder
			for r := range out {
				for i := range perRoom {
					bld.Add(member(r, i))
				}
				out[r] = bld.Build()
			}
			return out
		}},
		{name: "map", build: func() any {
			out := make([]map[id.UserID]RoomMember, rooms)
			for r := range out {
				// No size hint, as the parser had none.
				ms := map[id.UserID]RoomMember{}
				for i := range perRoom {
					u, m := member(r, i)
					ms[u] = m
				}
				out[r] = ms
			}
			return out
		}},
	}
	for _, s := range shapes {
		b.Run(s.name, func(b *testing.B) {
			var held int64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				kept := s.build()
				runtime.GC()
				runtime.ReadMemStats(&after)
				runtime.KeepAlive(kept)
				held = int64(after.HeapAlloc) - int64(before.HeapAlloc)
			}
			b.ReportMetric(float64(held)/1e6, "MB")
			b.ReportMetric(float64(held)/(rooms*perRoom), "B/member")
		})
	}
}

// TestRoomMembersSenders checks that each member keeps their own sender when senders are held
// once per room: the user themself, the bot, moderators, and senders only a replaced event named.
func TestRoomMembersSenders(t *testing.T) {
	mod, other := id.UserID("@mod:example.org"), id.UserID("@other:example.org")
	adds := []struct {
		user   id.UserID
		sender id.UserID
	}{
		{alice, alice}, {bob, bot}, {carol, mod}, {"@dave:example.org", bot},
		{"@erin:example.org", other}, {"@erin:example.org", "@erin:example.org"}, // other's only event is replaced
		{"@frank:example.org", mod},
	}
	want := map[id.UserID]id.UserID{}
	var b RoomMembersBuilder
	for _, a := range adds {
		b.Add(a.user, RoomMember{Membership: MembershipJoin, Sender: a.sender})
		want[a.user] = a.sender
	}
	r := b.Build()
	for u, s := range want {
		if got := r.Get(u).Sender; got != s {
			t.Errorf("sender of %s: got %s, want %s", u, got, s)
		}
	}
	if len(r.senders) != 2 {
		t.Errorf("senders held: %v, want the bot and the moderator once each", r.senders)
	}
	if !reflect.DeepEqual(r, NewRoomMembers(map[id.UserID]RoomMember{
		alice: {Membership: MembershipJoin, Sender: alice}, bob: {Membership: MembershipJoin, Sender: bot},
		carol: {Membership: MembershipJoin, Sender: mod}, "@dave:example.org": {Membership: MembershipJoin, Sender: bot},
		"@erin:example.org": {Membership: MembershipJoin, Sender: "@erin:example.org"}, "@frank:example.org": {Membership: MembershipJoin, Sender: mod},
	})) {
		t.Error("a build from events with a replaced one differs from a build of the same members")
	}
}
