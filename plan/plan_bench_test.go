package plan

import (
	"fmt"
	"testing"

	"maunium.net/go/mautrix/id"
)

// planWorld is a large directory already in step with its rooms: users users, groups groups of
// about 2×users/groups members each, rooms rooms each mapped to one group, every member joined
// and tracked. settled false leaves the rooms and the store empty, so the plan adds everyone.
func planWorld(users, groups, rooms int, settled bool) (Policy, Observed, State) {
	p := Policy{GracePeriod: grace, RemoveAction: RemoveKick, Bot: bot}
	obs := Observed{Groups: map[string]GroupMembers{}, Rooms: map[id.RoomID]RoomObservation{}}
	state := NewState()
	per := 2 * users / groups
	stride := users / groups
	for g := range groups {
		name := fmt.Sprintf("group%04d", g)
		gm := GroupMembers{Group: name, Members: make([]Member, 0, per)}
		for k := range per {
			i := (g*stride + k) % users
			gm.Members = append(gm.Members, Member{UserID: id.UserID(fmt.Sprintf("@user%06d:example.org", i)), Username: fmt.Sprintf("user%06d", i)})
		}
		obs.Groups[name] = gm
	}
	for r := range rooms {
		room := id.RoomID(fmt.Sprintf("!room%04d:example.org", r))
		g := fmt.Sprintf("group%04d", r%groups)
		p.Mappings = append(p.Mappings, Mapping{Group: g, Room: room, Method: MethodInvite})
		members := map[id.UserID]RoomMember{}
		if settled {
			for _, m := range obs.Groups[g].Members {
				members[m.UserID] = joined(earlier)
				state.Members.Set(tracked(room, m.UserID, earlier))
			}
		}
		obs.Rooms[room] = roomWith(members)
	}
	return p, obs, state
}

func BenchmarkMakePlan(b *testing.B) {
	for _, users := range []int{10_000, 50_000} {
		for _, settled := range []bool{true, false} {
			name := fmt.Sprintf("users=%d/rooms=500/no-change", users)
			if !settled {
				name = fmt.Sprintf("users=%d/rooms=500/from-empty", users)
			}
			b.Run(name, func(b *testing.B) {
				p, obs, state := planWorld(users, 200, 500, settled)
				b.ReportAllocs()
				b.ResetTimer()
				var actions int
				for b.Loop() {
					actions = len(MakePlan(p, obs, state, now).Actions)
				}
				b.ReportMetric(float64(actions), "actions")
			})
		}
	}
}
