package adminroom

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	syncer "authentik-matrix-sync/sync"
)

func (c *fakeCycles) Snapshot(context.Context) (syncer.Snapshot, error) {
	return syncer.Snapshot{}, nil
}

// snapshotCycles is fakeCycles whose previews see snap.
type snapshotCycles struct {
	*fakeCycles
	snap syncer.Snapshot
}

func (c snapshotCycles) Snapshot(context.Context) (syncer.Snapshot, error) { return c.snap, nil }

func TestWhyCommand(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	space, child := id.RoomID("!space:hs"), id.RoomID("!child:hs")
	policy := syncer.Policy{Bot: botID, GracePeriod: time.Hour, RemoveAction: syncer.RemoveKick, Mappings: syncer.ExpandSpaces([]syncer.Mapping{
		{Group: "staff", Room: roomA, Method: syncer.MethodInvite},
		{Group: "engineering", Room: space, Method: syncer.MethodInvite, SpaceOptions: syncer.SpaceOptions{IncludeChildren: true}},
	}, map[id.RoomID][]id.RoomID{space: {child}})}
	room := func(members map[id.UserID]syncer.RoomMember) syncer.RoomObservation {
		members[botID] = syncer.RoomMember{Membership: syncer.MembershipJoin}
		return syncer.RoomObservation{State: syncer.RoomState{Members: syncer.NewRoomMembers(members),
			PowerLevels: syncer.PowerLevels{Users: map[id.UserID]int{botID: 100}, Kick: 50, Ban: 50}}}
	}
	joined := syncer.RoomMember{Membership: syncer.MembershipJoin, Sender: alice}
	eng := syncer.GroupMembers{Group: "engineering", Members: []syncer.Member{{UserID: alice, Username: "alice"}}}
	eng.Via.Set(0, "backend")
	obs := syncer.Observed{Policy: policy,
		Groups: map[string]syncer.GroupMembers{"staff": {Group: "staff"}, "engineering": eng},
		Rooms: map[id.RoomID]syncer.RoomObservation{
			roomA: room(map[id.UserID]syncer.RoomMember{}), space: room(map[id.UserID]syncer.RoomMember{alice: joined}),
			child: room(map[id.UserID]syncer.RoomMember{alice: joined}),
		}}
	state := syncer.NewState()
	snap := syncer.Snapshot{Observed: obs, State: state, Plan: syncer.MakePlan(policy, obs, state, f.clock), At: f.clock}
	f.bot.SetCycles(snapshotCycles{fakeCycles: f.cycles, snap: snap})
	if err := f.st.AppendAudit(ctx, syncer.AuditEntry{At: f.clock.Add(-time.Hour), Actor: "cycle 4f2a9c1e", Command: "invite", Target: alice, Room: child, Result: "ok"}); err != nil {
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
	f.bot.opts.Policy.Protected = &syncer.Protection{IDs: map[id.UserID]bool{"@root:hs": true},
		Patterns: []*regexp.Regexp{regexp.MustCompile(`^(?:@ops-.*:hs)$`)}}
	onlyReply(t, f.say(opUser, "!sync status"), "Protected (protected_users, never removed, banned, demoted or locked): @root:hs, /@ops-.*:hs/")
}

func TestWhyReplyStaysSmall(t *testing.T) {
	f := newFixture(t)
	var mappings []syncer.Mapping
	rooms := map[id.RoomID]syncer.RoomObservation{}
	for i := range 3 * whyRoomsShown {
		room := id.RoomID(fmt.Sprintf("!r%03d:hs", i))
		mappings = append(mappings, syncer.Mapping{Group: "staff", Room: room, Method: syncer.MethodInvite})
		rooms[room] = syncer.RoomObservation{State: syncer.RoomState{Members: syncer.NewRoomMembers(map[id.UserID]syncer.RoomMember{
			botID: {Membership: syncer.MembershipJoin}, alice: {Membership: syncer.MembershipJoin}}),
			PowerLevels: syncer.PowerLevels{Users: map[id.UserID]int{botID: 100}}}}
	}
	policy := syncer.Policy{Bot: botID, Mappings: mappings}
	obs := syncer.Observed{Policy: policy, Groups: map[string]syncer.GroupMembers{"staff": {Group: "staff", Members: []syncer.Member{{UserID: alice}}}}, Rooms: rooms}
	state := syncer.NewState()
	f.bot.SetCycles(snapshotCycles{fakeCycles: f.cycles, snap: syncer.Snapshot{Observed: obs, State: state,
		Plan: syncer.MakePlan(policy, obs, state, f.clock), At: f.clock}})
	r := onlyReply(t, f.say(opUser, "!sync why @alice:hs"), "!r024:hs: member", "… and 50 more rooms; ask about one with !sync why @alice:hs !room:server")
	if strings.Contains(r.Plain, "!r025:hs") {
		t.Errorf("more than %d rooms shown", whyRoomsShown)
	}
}
