package plan

import (
	"reflect"
	"testing"

	"maunium.net/go/mautrix/id"
)

// TestPlanSpaceRecords: what a cycle read of spaces, and the mapped rooms, is written by planned
// actions (the observation writes nothing), only where it changed; joins are planned for the
// mapped rooms the bot is not in.
func TestPlanSpaceRecords(t *testing.T) {
	const space = id.RoomID("!space:hs")
	staffA := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
	child := Mapping{Group: "staff", Room: roomB, Method: MethodInvite, SpaceOptions: SpaceOptions{Space: space}}
	recA := RoomRecord{Groups: []string{"staff"}, RemoveAction: RemoveKick}
	rooms := func(notJoined ...id.RoomID) map[id.RoomID]RoomObservation {
		out := map[id.RoomID]RoomObservation{roomA: roomWith(nil), roomB: roomWith(nil)}
		for _, r := range notJoined {
			out[r] = RoomObservation{Err: errNotJoined{}, NotJoined: true}
		}
		return out
	}
	tests := []struct {
		name   string
		policy Policy
		obs    Observed
		want   []Action
	}{
		{
			name:   "children read as stored, records as stored: nothing to write",
			policy: policy(staffA),
			obs: Observed{Rooms: rooms(), Spaces: SpacesObserved{
				Read: map[id.RoomID][]id.RoomID{space: {roomB}}, Stored: map[id.RoomID][]id.RoomID{space: {roomB}},
				Records: map[id.RoomID]RoomRecord{roomA: recA}}},
		},
		{
			name:   "children that changed are stored; a first record is written",
			policy: policy(staffA),
			obs: Observed{Rooms: rooms(), Spaces: SpacesObserved{
				Read: map[id.RoomID][]id.RoomID{space: {roomA, roomB}}, Stored: map[id.RoomID][]id.RoomID{space: {roomB}},
				Records: map[id.RoomID]RoomRecord{}}},
			want: []Action{
				RecordRoom{Room: roomA, Record: recA},
				RecordSpaceChildren{Space: space, Children: []id.RoomID{roomA, roomB}},
			},
		},
		{
			name:   "a record whose remove action changed is rewritten; one neither mapped nor released is dropped",
			policy: Policy{Mappings: []Mapping{staffA}, GracePeriod: grace, RemoveAction: RemoveBan, Bot: bot},
			obs:    Observed{Rooms: rooms(), Spaces: SpacesObserved{Records: map[id.RoomID]RoomRecord{roomA: recA, "!gone:hs": recA}}},
			want: []Action{
				RecordRoom{Room: roomA, Record: RoomRecord{Groups: []string{"staff"}, RemoveAction: RemoveBan}},
				ForgetRoomRecord{Room: "!gone:hs"},
			},
		},
		{
			name: "a released room keeps its record",
			policy: func() Policy {
				p := policy(staffA)
				p.Released = []ReleasedRoom{{Room: "!old:hs", Groups: []string{"staff"}}}
				return p
			}(),
			obs: Observed{Rooms: rooms(), Spaces: SpacesObserved{Records: map[id.RoomID]RoomRecord{roomA: recA, "!old:hs": recA}}},
		},
		{
			name:   "records unknown (unreadable, or a scoped cycle): none written or dropped",
			policy: policy(staffA),
			obs:    Observed{Rooms: rooms(), Spaces: SpacesObserved{Records: nil}},
		},
		{
			name:   "a mapped room the bot is not in is joined, once, when the bot can join",
			policy: policy(staffA, child, Mapping{Group: "ops", Room: roomB, Method: MethodInvite}),
			obs:    Observed{Rooms: rooms(roomB), CanJoin: true},
			want:   []Action{JoinRoom{Room: roomB, Space: space}},
		},
		{
			name:   "no joins without a way to join",
			policy: policy(staffA, child),
			obs:    Observed{Rooms: rooms(roomB)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []Action
			for _, a := range MakePlan(tc.policy, tc.obs, NewState(), now).Actions {
				switch a.(type) {
				case RecordSpaceChildren, RecordRoom, ForgetRoomRecord, JoinRoom:
					got = append(got, a)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

type errNotJoined struct{}

func (errNotJoined) Error() string { return "the bot is not in the room" }
