package plan

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// TestVerdictsAgreeWithThePlan: over seeded random worlds (memberships, records, pending removals
// due or not, exemptions, protection, invite-only mappings, unknown groups, unreadable and
// released rooms, deactivations, undone kicks), every verdict Explain gives agrees with the
// actions of the plan it explains: a verdict that promises a change has that action in the plan,
// and an action on the user has the verdict that names it.
func TestVerdictsAgreeWithThePlan(t *testing.T) {
	users := []id.UserID{alice, bob, carol, dave}
	memberships := []string{"", MembershipJoin, MembershipInvite, MembershipLeave, MembershipBan}
	differ := 0
	counts := map[Verdict]int{}
	for seed := range uint64(5000) {
		r := rand.New(rand.NewPCG(seed, 7))
		m := Mapping{Group: "staff", Room: roomA, Method: MethodInvite}
		if r.IntN(3) == 0 {
			m.Method = MethodForce
			m.Rejoin = r.IntN(2) == 0
		}
		if r.IntN(6) == 0 {
			m.NoRemove = true
		}
		pol := policy(m)
		if r.IntN(5) == 0 {
			pol.Protected = protecting([]id.UserID{users[r.IntN(4)]})
		}
		if r.IntN(4) == 0 {
			pol.Released = []ReleasedRoom{{Room: roomB, Groups: []string{"staff"}, RemoveAction: RemoveKick}}
		}
		var in []id.UserID
		for _, u := range users {
			if r.IntN(2) == 0 {
				in = append(in, u)
			}
		}
		g := group("staff", in...)
		if r.IntN(6) == 0 {
			g.Err = errors.New("page 2: 500")
		}
		obs := Observed{Groups: map[string]GroupMembers{"staff": g}, Rooms: map[id.RoomID]RoomObservation{}}
		st := NewState()
		for _, room := range []id.RoomID{roomA, roomB} {
			ms := map[id.UserID]RoomMember{}
			for _, u := range users {
				mb := memberships[r.IntN(len(memberships))]
				if mb == "" {
					continue
				}
				sender := u
				if r.IntN(2) == 0 {
					sender = bot
				}
				ms[u] = RoomMember{Membership: mb, Sender: sender, Since: now.Add(-time.Duration(r.IntN(3)) * time.Hour)}
				if r.IntN(2) == 0 {
					rec := ManagedMember{Room: room, User: u}
					if r.IntN(2) == 0 {
						rec.DesiredSince = earlier
					}
					st.Members.Set(rec)
					if r.IntN(2) == 0 {
						due := now.Add(time.Duration(r.IntN(3)-1) * time.Hour)
						st.Pending[RoomUser{room, u}] = PendingRemoval{Room: room, User: u, DueAt: due, CreatedAt: earlier,
							Reason: "no longer in Authentik group staff", AwaitingRead: r.IntN(4) == 0}
					}
				}
				if r.IntN(8) == 0 {
					st.Exempt[RoomUser{room, u}] = Exemption{Room: room, User: u}
				}
			}
			ro := roomWith(ms)
			if r.IntN(2) == 0 {
				ro.State.PowerLevels.Users[bot] = 40 // below kick: removals are warned about
			}
			if r.IntN(8) == 0 {
				ro = RoomObservation{Err: errors.New("HTTP 500")}
			}
			if room == roomB && r.IntN(2) == 0 {
				continue // a released room without pending removals is not read
			}
			obs.Rooms[room] = ro
		}
		// Account lifecycle: deactivations confirmed, and removals with their reasons.
		if r.IntN(3) == 0 {
			obs.Accounts = confirmed([]AccountStatus{AccountInactive, AccountGone, AccountActive, AccountUnknown}[r.IntN(4)], users[r.IntN(4)])
			pol.Deactivated.AfterGrace = r.IntN(2) == 0
		}
		keys := slices.Collect(maps.Keys(st.Pending))
		slices.SortFunc(keys, func(a, b RoomUser) int {
			return strings.Compare(string(a.Room)+string(a.User), string(b.Room)+string(b.User))
		})
		for _, k := range keys {
			if r.IntN(4) == 0 {
				pr := st.Pending[k]
				pr.Reason = []string{ReasonDeactivated, ReasonDeleted}[r.IntN(2)]
				st.Pending[k] = pr
			}
		}
		// A kick the homeserver undid: the room still shows the membership it replaced.
		if ro, ok := obs.Rooms[roomA]; ok && ro.Err == nil && r.IntN(3) == 0 {
			u := users[r.IntN(4)]
			if mem, in := ro.State.Members.Lookup(u); in {
				st.Removals = map[RoomUser]Removal{{roomA, u}: {Room: roomA, User: u, Action: RemoveKick, Reason: "r", At: earlier, Replaced: mem}}
			}
		}
		planned := MakePlan(pol, obs, st, now)
		for _, u := range append(users, bot) {
			for _, room := range []id.RoomID{roomA, roomB} {
				why := Explain(WhyInput{Policy: pol, Observed: obs, State: st, Plan: planned, User: u, Room: room, Now: now})
				if len(why.Rooms) != 1 || why.Rooms[0].Verdict == VerdictNotMapped {
					continue
				}
				acts, _ := planAbout(planned, u)
				got := why.Rooms[0]
				counts[got.Verdict]++
				if problem := disagreement(got, acts[room], st, obs, room, u); problem != "" {
					differ++
					if differ <= 15 {
						t.Errorf("seed %d, %s in %s: %s (verdict %q at %v, actions %v)", seed, u, room, problem, got.Verdict, got.At, acts[room])
					}
				}
			}
		}
	}
	t.Logf("verdicts: %v; %d disagree with the plan", counts, differ)
}

// disagreement says how a verdict and the plan's actions on the user in room disagree; "" when
// they agree.
func disagreement(w RoomWhy, acts []Action, st State, obs Observed, room id.RoomID, u id.UserID) string {
	var kick, invite, join bool
	var scheduled []time.Time
	for _, a := range acts {
		switch a := a.(type) {
		case Kick, Ban:
			kick = true
		case Invite:
			invite = true
		case ForceJoin:
			join = true
		case ScheduleRemoval:
			scheduled = append(scheduled, a.DueAt)
		case RestartGrace:
			scheduled = append(scheduled, a.DueAt)
		}
	}
	mem := obs.Rooms[room].State.Members.Get(u)
	switch {
	case kick != (w.Verdict == VerdictWillRemove && w.At.IsZero()):
		return "a kick or ban if and only if the verdict is removal by the next cycle"
	case invite != (w.Verdict == VerdictWillInvite):
		return "an invite if and only if the verdict is will be invited"
	case join != (w.Verdict == VerdictWillJoin):
		return "a force join if and only if the verdict is will be joined"
	case w.Verdict == VerdictWillRemove && !w.At.IsZero() && !slices.ContainsFunc(scheduled, w.At.Equal):
		return "a removal at a time no action schedules"
	case w.Verdict == VerdictPendingRemoval && !st.Pending[RoomUser{room, u}].DueAt.Equal(w.At):
		return "a pending removal the state does not hold"
	case w.Verdict == VerdictMember && mem.Membership != MembershipJoin:
		return "a member who has not joined"
	case w.Verdict == VerdictInvited && mem.Membership != MembershipInvite:
		return "invited without an invite"
	case w.Verdict == VerdictNotManaged && !(mem.Membership == MembershipJoin || mem.Membership == MembershipInvite):
		return "not managed, yet not in the room"
	case w.Verdict == VerdictExempt && !hasExemption(st, room, u):
		return "exempt without an exemption"
	}
	return ""
}

func hasExemption(st State, room id.RoomID, u id.UserID) bool {
	_, ok := st.exemption(room, u)
	return ok
}
