package adminroom

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

func (c *fakeCycles) Snapshot(context.Context) (reconcile.Snapshot, error) {
	return reconcile.Snapshot{}, nil
}

// snapshotCycles is fakeCycles whose previews see snap.
type snapshotCycles struct {
	*fakeCycles
	snap reconcile.Snapshot
}

func (c snapshotCycles) Snapshot(context.Context) (reconcile.Snapshot, error) { return c.snap, nil }

func TestWhyCommand(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	space, child := id.RoomID("!space:hs"), id.RoomID("!child:hs")
	policy := plan.Policy{Bot: botID, GracePeriod: time.Hour, RemoveAction: plan.RemoveKick, Mappings: plan.ExpandSpaces([]plan.Mapping{
		{Group: "staff", Room: roomA, Method: plan.MethodInvite},
		{Group: "engineering", Room: space, Method: plan.MethodInvite, SpaceOptions: plan.SpaceOptions{IncludeChildren: true}},
	}, map[id.RoomID][]id.RoomID{space: {child}})}
	room := func(members map[id.UserID]plan.RoomMember) plan.RoomObservation {
		members[botID] = plan.RoomMember{Membership: plan.MembershipJoin}
		return plan.RoomObservation{State: plan.RoomState{Members: plan.NewRoomMembers(members),
			PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{botID: 100}, Kick: 50, Ban: 50}}}
	}
	joined := plan.RoomMember{Membership: plan.MembershipJoin, Sender: alice}
	eng := plan.GroupMembers{Group: "engineering", Members: []plan.Member{{UserID: alice, Username: "alice"}}}
	eng.Via.Set(0, "backend")
	obs := plan.Observed{Policy: policy,
		Groups: map[string]plan.GroupMembers{"staff": {Group: "staff"}, "engineering": eng},
		Rooms: map[id.RoomID]plan.RoomObservation{
			roomA: room(map[id.UserID]plan.RoomMember{}), space: room(map[id.UserID]plan.RoomMember{alice: joined}),
			child: room(map[id.UserID]plan.RoomMember{alice: joined}),
		}}
	state := plan.NewState()
	snap := reconcile.Snapshot{Observed: obs, State: state, Plan: plan.MakePlan(policy, obs, state, f.clock), At: f.clock}
	f.bot.SetCycles(snapshotCycles{fakeCycles: f.cycles, snap: snap})
	if err := f.st.AppendAudit(ctx, plan.AuditEntry{At: f.clock.Add(-time.Hour), Actor: "cycle 4f2a9c1e", Command: "invite", Target: alice, Room: child, Result: "ok"}); err != nil {
		t.Fatal(err)
	}

	r := onlyReply(t, f.say(opUser, "!sync why @alice:hs"),
		"Why @alice:hs",
		"!child:hs (child room of space !space:hs): member",
		"• in backend, a subgroup of Authentik group engineering",
		"Not a member of 1 other mapped room, and in none of their groups",
		"Last action: 2026-11-26 11:00 UTC cycle 4f2a9c1e: invite in !child:hs → ok",
		"Nothing was changed.")
	if strings.Contains(r.Plain, "!a:hs") {
		t.Errorf("the room alice is simply not in is shown, not folded: %q", r.Plain)
	}
	onlyReply(t, f.say(opUser, "!sync why @alice:hs !a:hs"), "!a:hs: not a member", "in none of the room's Authentik groups (staff)")
	onlyReply(t, f.say(opUser, "!sync why @alice:hs !elsewhere:hs"), "!elsewhere:hs: not mapped")
	onlyReply(t, f.say(opUser, "!sync why"), "Usage: !sync why @user [room]")
	onlyReply(t, f.say(opUser, "!sync help why"), "why @user [room]", "pending removal")
}

func TestStatusListsProtectedUsers(t *testing.T) {
	f := newFixture(t)
	r := onlyReply(t, f.say(opUser, "!sync status"), "Status: leader")
	if strings.Contains(r.Plain, "Protected") {
		t.Errorf("status names protected users while none are configured: %q", r.Plain)
	}
	f.bot.opts.Policy.Protected = &plan.Protection{IDs: map[id.UserID]bool{"@root:hs": true},
		Patterns: []*regexp.Regexp{regexp.MustCompile(`^(?:@ops-.*:hs)$`)}}
	onlyReply(t, f.say(opUser, "!sync status"), "Protected (protected_users, never removed, banned, demoted or locked): @root:hs, /@ops-.*:hs/")
}

func TestWhyReplyStaysSmall(t *testing.T) {
	f := newFixture(t)
	var mappings []plan.Mapping
	rooms := map[id.RoomID]plan.RoomObservation{}
	for i := range 3 * whyRoomsShown {
		room := id.RoomID(fmt.Sprintf("!r%03d:hs", i))
		mappings = append(mappings, plan.Mapping{Group: "staff", Room: room, Method: plan.MethodInvite})
		rooms[room] = plan.RoomObservation{State: plan.RoomState{Members: plan.NewRoomMembers(map[id.UserID]plan.RoomMember{
			botID: {Membership: plan.MembershipJoin}, alice: {Membership: plan.MembershipJoin}}),
			PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{botID: 100}}}}
	}
	policy := plan.Policy{Bot: botID, Mappings: mappings}
	obs := plan.Observed{Policy: policy, Groups: map[string]plan.GroupMembers{"staff": {Group: "staff", Members: []plan.Member{{UserID: alice}}}}, Rooms: rooms}
	state := plan.NewState()
	f.bot.SetCycles(snapshotCycles{fakeCycles: f.cycles, snap: reconcile.Snapshot{Observed: obs, State: state,
		Plan: plan.MakePlan(policy, obs, state, f.clock), At: f.clock}})
	r := onlyReply(t, f.say(opUser, "!sync why @alice:hs"), "!r024:hs: member", "… and 50 more rooms; ask about one with !sync why @alice:hs !room:server")
	if strings.Contains(r.Plain, "!r025:hs") {
		t.Errorf("more than %d rooms shown", whyRoomsShown)
	}
}
