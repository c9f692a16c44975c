package storetest

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// spaceTests are the cases of the space and released-room records.
var spaceTests = []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) Store)
}{
	{"space children are empty, then replaced per space", testSpaceChildren},
	{"room records round-trip, are replaced and deleted", testRoomRecords},
	{"space children and room records survive a restart", testSpacesReopen},
}

func runSpaces(t *testing.T, open func(t *testing.T) Store) {
	for _, tc := range spaceTests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open)
		})
	}
}

const (
	spaceS = id.RoomID("!space:example.org")
	spaceT = id.RoomID("!other-space:example.org")
	roomC  = id.RoomID("!c:example.org")
)

func checkChildren(t *testing.T, s reconcile.SpaceStore, want map[id.RoomID][]id.RoomID) {
	t.Helper()
	got, err := s.SpaceChildren(t.Context())
	must(t, "SpaceChildren", err)
	for k := range got {
		slices.Sort(got[k])
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("space children = %v, want %v", got, want)
	}
}

func testSpaceChildren(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	checkChildren(t, s, map[id.RoomID][]id.RoomID{})
	must(t, "PutSpaceChildren", s.PutSpaceChildren(ctx, spaceS, []id.RoomID{roomA, roomB}))
	must(t, "PutSpaceChildren", s.PutSpaceChildren(ctx, spaceT, []id.RoomID{roomA}))
	checkChildren(t, s, map[id.RoomID][]id.RoomID{spaceS: {roomA, roomB}, spaceT: {roomA}})
	// A child removed and one added: the list is replaced, the other space is untouched.
	must(t, "PutSpaceChildren", s.PutSpaceChildren(ctx, spaceS, []id.RoomID{roomB, roomC}))
	checkChildren(t, s, map[id.RoomID][]id.RoomID{spaceS: {roomB, roomC}, spaceT: {roomA}})
	must(t, "PutSpaceChildren", s.PutSpaceChildren(ctx, spaceT, nil))
	checkChildren(t, s, map[id.RoomID][]id.RoomID{spaceS: {roomB, roomC}})
}

func testRoomRecords(t *testing.T, open func(*testing.T) Store) {
	s := open(t)
	ctx := t.Context()
	check := func(want map[id.RoomID]plan.RoomRecord) {
		t.Helper()
		got, err := s.RoomRecords(ctx)
		must(t, "RoomRecords", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("room records = %v, want %v", got, want)
		}
	}
	check(map[id.RoomID]plan.RoomRecord{})
	a := plan.RoomRecord{Groups: []string{"admins", "staff, with a comma\nand a newline"}, RemoveAction: plan.RemoveBan}
	b := plan.RoomRecord{Groups: []string{}, RemoveAction: plan.RemoveKick}
	must(t, "PutRoomRecord", s.PutRoomRecord(ctx, roomA, a))
	must(t, "PutRoomRecord", s.PutRoomRecord(ctx, roomB, plan.RoomRecord{RemoveAction: plan.RemoveKick}))
	check(map[id.RoomID]plan.RoomRecord{roomA: a, roomB: b})
	a.Groups, a.RemoveAction = []string{"staff"}, plan.RemoveKick
	must(t, "PutRoomRecord", s.PutRoomRecord(ctx, roomA, a))
	must(t, "DeleteRoomRecord", s.DeleteRoomRecord(ctx, roomB))
	must(t, "DeleteRoomRecord of a missing room", s.DeleteRoomRecord(ctx, roomC))
	check(map[id.RoomID]plan.RoomRecord{roomA: a})
}

func testSpacesReopen(t *testing.T, open func(*testing.T) Store) {
	first := open(t)
	s := first
	ctx := t.Context()
	rec := plan.RoomRecord{Groups: []string{"staff"}, RemoveAction: plan.RemoveKick}
	must(t, "PutSpaceChildren", s.PutSpaceChildren(ctx, spaceS, []id.RoomID{roomA}))
	must(t, "PutRoomRecord", s.PutRoomRecord(ctx, roomA, rec))
	must(t, "Close", first.Close())
	s = open(t)
	checkChildren(t, s, map[id.RoomID][]id.RoomID{spaceS: {roomA}})
	got, err := s.RoomRecords(ctx)
	must(t, "RoomRecords", err)
	if !reflect.DeepEqual(got, map[id.RoomID]plan.RoomRecord{roomA: rec}) {
		t.Errorf("room records after a restart = %v", got)
	}
}
