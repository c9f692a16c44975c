package reconcile

import (
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

const (
	bot   = id.UserID("@bot:hs")
	alice = id.UserID("@alice:hs")
	bob   = id.UserID("@bob:hs")
	carol = id.UserID("@carol:hs")
	dave  = id.UserID("@dave:hs")
	roomA = id.RoomID("!a:hs")
	roomB = id.RoomID("!b:hs")
)

var (
	now     = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	earlier = now.Add(-time.Hour)
	later   = now.Add(time.Hour)
	grace   = 24 * time.Hour
)

func policy(ms ...plan.Mapping) plan.Policy {
	return plan.Policy{Mappings: ms, GracePeriod: grace, RemoveAction: plan.RemoveKick, Bot: bot}
}

func group(name string, users ...id.UserID) plan.GroupMembers {
	g := plan.GroupMembers{Group: name}
	for _, u := range users {
		name := strings.TrimPrefix(strings.Split(string(u), ":")[0], "@")
		g.Members = append(g.Members, plan.Member{UserID: u, Username: name, SourceID: name})
	}
	return g
}

func groups(gs ...plan.GroupMembers) map[string]plan.GroupMembers {
	out := map[string]plan.GroupMembers{}
	for _, g := range gs {
		out[g.Group] = g
	}
	return out
}

func joined(since time.Time) plan.RoomMember {
	return plan.RoomMember{Membership: plan.MembershipJoin, Since: since}
}

// roomWith returns a readable room where the bot has PL 100 and everyone else the defaults.
func roomWith(members map[id.UserID]plan.RoomMember) plan.RoomObservation {
	if members == nil {
		members = map[id.UserID]plan.RoomMember{}
	}
	members[bot] = joined(earlier)
	return plan.RoomObservation{State: plan.RoomState{Members: plan.NewRoomMembers(members), PowerLevels: plan.PowerLevels{
		Users: map[id.UserID]int{bot: 100}, Invite: 0, Kick: 50, Ban: 50,
	}}}
}

func stateWith(members []plan.ManagedMember, pending []plan.PendingRemoval) plan.State {
	s := plan.NewState()
	for _, m := range members {
		s.Members.Set(m)
	}
	for _, p := range pending {
		s.Pending[plan.RoomUser{Room: p.Room, User: p.User}] = p
	}
	return s
}

func tracked(room id.RoomID, user id.UserID, since time.Time) plan.ManagedMember {
	return plan.ManagedMember{Room: room, User: user, DesiredSince: since}
}

func lockAfter(d time.Duration) *time.Duration { return &d }
