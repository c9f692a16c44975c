package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
)

func uid(name string) id.UserID { return id.UserID("@" + name + ":" + serverName) }

// directory fills a fake Authentik with the named users (all with Matrix accounts unless told
// otherwise) in one group.
func directory(t *testing.T, group string, members ...string) *authentiktest.Server {
	ak := newAuthentik(t)
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "ghost"} {
		ak.AddUser(u)
	}
	ak.AddGroup(group, "")
	if len(members) > 0 {
		ak.AddMembers(group, members...)
	}
	return ak
}

// pendingRemovals reads the bot's store without disturbing it.
func pendingRemovals(t *testing.T, dataDir string) (map[plan.RoomUser]plan.PendingRemoval, []plan.Removal) {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), store.Options{DataDir: dataDir, BackupRetention: 3, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := st.LoadState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	removals, err := st.Removals(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return state.Pending, removals
}

func TestInviteFromEnvironmentOnly(t *testing.T) {
	room := newRoom(t, false, "invite-env")
	ak := directory(t, "Admins", "alice", "bob")
	b := startBot(t, ak, botConfig{envOnly: true, grace: time.Hour, mappings: []mapping{{Group: "Admins", Room: room}}}, "")
	for _, u := range []string{"alice", "bob"} {
		m := waitMembership(t, room, uid(u), "invite")
		if m.Sender != env.client.ID {
			t.Errorf("%s invited by %s, want the bot", u, m.Sender)
		}
	}
	// Alice accepts; later cycles change nothing.
	if err := env.hs.Join(context.Background(), env.users["alice"], room); err != nil {
		t.Fatal(err)
	}
	before, _ := env.hs.Memberships(context.Background(), room)
	b.waitCycles(3)
	after, _ := env.hs.Memberships(context.Background(), room)
	if len(before) != len(after) || after[uid("alice")].Membership != "join" || after[uid("bob")].Membership != "invite" {
		t.Fatalf("memberships moved on no-change cycles: before %v after %v", before, after)
	}
	if n := len(b.logLines("Invited user")); n != 2 {
		t.Errorf("bot logged %d invites, want exactly 2", n)
	}
}

func TestForceJoinThroughAdminAPI(t *testing.T) {
	room := newRoom(t, false, "force-admin")
	ak := directory(t, "staff", "carol")
	startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("carol"), "join")
}

func TestForceJoinThroughAppservice(t *testing.T) {
	room := newRoom(t, true, "force-as")
	ak := directory(t, "staff", "dave")
	startBot(t, ak, botConfig{appservice: true, grace: time.Hour,
		mappings: []mapping{{Group: "staff", Room: room, Method: "force"}}}, "")
	m := waitMembership(t, room, uid("dave"), "join")
	if m.Sender != uid("dave") {
		t.Errorf("join sent by %s, want the user themself (puppet join)", m.Sender)
	}
}

func TestLeaveGroupThenKickAfterGrace(t *testing.T) {
	room := newRoom(t, true, "kick")
	ak := directory(t, "staff", "alice", "bob")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: 4 * time.Second,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("alice"), "join")
	waitMembership(t, room, uid("bob"), "join")
	ak.RemoveMembers("staff", "bob")
	b.waitCycles(2)
	pending, _ := pendingRemovals(t, b.dataDir)
	if _, ok := pending[plan.RoomUser{Room: room, User: uid("bob")}]; !ok {
		t.Fatalf("no pending removal for bob: %v", pending)
	}
	if got := membership(t, room, uid("bob")).Membership; got != "join" {
		t.Fatalf("bob is %q before the grace period ended", got)
	}
	m := waitMembership(t, room, uid("bob"), "leave")
	if m.Sender != env.asBot.ID || !strings.Contains(m.Reason, "staff") {
		t.Errorf("bob removed by %s with reason %q, want the bot naming the group", m.Sender, m.Reason)
	}
	if got := membership(t, room, uid("alice")).Membership; got != "join" {
		t.Errorf("alice is %q, want join", got)
	}
	b.waitCycles(2)
	if _, removals := pendingRemovals(t, b.dataDir); len(removals) != 1 {
		t.Errorf("%d removals recorded, want 1", len(removals))
	}
	// The kick was preceded by an online backup of the state.
	backups, err := filepath.Glob(filepath.Join(b.dataDir, "backups", "authentik-matrix-sync-*.db"))
	if err != nil || len(backups) != 1 {
		t.Errorf("want exactly one backup before the kick, found %v (%v)", backups, err)
	}
}

func TestBanThenUnbanWhenBackInGroup(t *testing.T) {
	room := newRoom(t, true, "ban")
	ak := directory(t, "staff", "carol")
	b := startBot(t, ak, botConfig{appservice: true, removeAction: "ban", grace: 0,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("carol"), "invite")
	if err := env.hs.Join(context.Background(), env.users["carol"], room); err != nil {
		t.Fatal(err)
	}
	ak.RemoveMembers("staff", "carol")
	m := waitMembership(t, room, uid("carol"), "ban")
	if m.Sender != env.asBot.ID {
		t.Fatalf("banned by %s", m.Sender)
	}
	ak.AddMembers("staff", "carol")
	m = waitMembership(t, room, uid("carol"), "invite")
	if m.Sender != env.asBot.ID {
		t.Errorf("re-invited by %s", m.Sender)
	}
	if n := len(b.logLines("Unbanned user")); n != 1 {
		t.Errorf("%d unbans logged, want 1", n)
	}
}

func TestBackInGroupBeforeDeadlineCancels(t *testing.T) {
	room := newRoom(t, true, "cancel")
	ak := directory(t, "staff", "erin")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: 6 * time.Second,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("erin"), "join")
	ak.RemoveMembers("staff", "erin")
	b.waitCycles(2)
	if pending, _ := pendingRemovals(t, b.dataDir); len(pending) != 1 {
		t.Fatalf("want 1 pending removal, got %v", pending)
	}
	ak.AddMembers("staff", "erin")
	b.waitCycles(2)
	if pending, _ := pendingRemovals(t, b.dataDir); len(pending) != 0 {
		t.Fatalf("pending removal not cancelled: %v", pending)
	}
	time.Sleep(7 * time.Second) // past the original deadline
	b.waitCycles(1)
	if got := membership(t, room, uid("erin")).Membership; got != "join" {
		t.Fatalf("erin is %q after a cancelled removal, want join", got)
	}
}

func TestDeclinedInviteIsNotRepeated(t *testing.T) {
	room := newRoom(t, true, "decline")
	ak := directory(t, "staff", "frank")
	b := startBot(t, ak, botConfig{appservice: true, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("frank"), "invite")
	if err := env.hs.Leave(context.Background(), env.users["frank"], room); err != nil { // decline
		t.Fatal(err)
	}
	b.waitCycles(3)
	if m := membership(t, room, uid("frank")); m.Membership != "leave" || m.Sender != uid("frank") {
		t.Fatalf("after declining, frank is %q (sender %s): invited again?", m.Membership, m.Sender)
	}
	// Leaving the group and coming back resets it.
	ak.RemoveMembers("staff", "frank")
	b.waitCycles(2)
	ak.AddMembers("staff", "frank")
	waitMembership(t, room, uid("frank"), "invite")
}

func TestRestartDuringGracePeriodRemovesOnceOnTime(t *testing.T) {
	room := newRoom(t, true, "restart")
	ak := directory(t, "staff", "alice", "dave")
	cfg := botConfig{appservice: true, joinMethod: "force", grace: 5 * time.Second, mappings: []mapping{{Group: "staff", Room: room}}}
	b := startBot(t, ak, cfg, "")
	waitMembership(t, room, uid("dave"), "join")
	ak.RemoveMembers("staff", "dave")
	b.waitCycles(2)
	pending, _ := pendingRemovals(t, b.dataDir)
	p, ok := pending[plan.RoomUser{Room: room, User: uid("dave")}]
	if !ok {
		t.Fatalf("no pending removal before the restart: %v", pending)
	}
	b.stop()
	b2 := startBot(t, ak, cfg, b.dataDir)
	waitMembership(t, room, uid("dave"), "leave")
	if time.Now().Before(p.DueAt) {
		t.Errorf("removed before the deadline %s", p.DueAt)
	}
	b2.waitCycles(2)
	_, removals := pendingRemovals(t, b.dataDir)
	if len(removals) != 1 {
		t.Errorf("%d removals recorded, want exactly 1", len(removals))
	}
	if n := len(b2.logLines("Kicked user")) + len(b.logLines("Kicked user")); n != 1 {
		t.Errorf("%d kicks logged across both runs, want 1", n)
	}
}

func TestAuthentikFailureMidPaginationRemovesNobody(t *testing.T) {
	room := newRoom(t, true, "fault")
	ak := directory(t, "staff", "alice", "bob", "carol")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: 0, pageSize: 2,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	for _, u := range []string{"alice", "bob", "carol"} {
		waitMembership(t, room, uid(u), "join")
	}
	// The read of staff's members fails: first with a 500, then with an answer that lacks carol
	// (three member pks, two member objects).
	staff, _ := ak.Group("staff")
	for _, f := range authentiktest.MemberReadFails(staff.PK, 500, `{"detail":"Internal Server Error"}`) {
		f.Times = 3
		ak.InjectFault(f)
	}
	b.waitCycles(3)
	ak.ClearFaults()
	alice, _ := ak.User("alice")
	bob, _ := ak.User("bob")
	carol, _ := ak.User("carol")
	short := fmt.Sprintf(`{"pk":%q,"name":"staff","users":[%d,%d,%d],"users_obj":[`+
		`{"pk":%d,"username":"alice","is_active":true},{"pk":%d,"username":"bob","is_active":true}]}`,
		staff.PK, alice.PK, bob.PK, carol.PK, alice.PK, bob.PK)
	ak.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/" + staff.PK + "/", Status: 200, Times: 3, Body: short})
	b.waitCycles(3)
	if got := membership(t, room, uid("carol")).Membership; got != "join" {
		t.Fatalf("carol is %q after Authentik failures, want join", got)
	}
	if pending, removals := pendingRemovals(t, b.dataDir); len(pending) != 0 || len(removals) != 0 {
		t.Fatalf("removal planned from unknown data: pending %v removals %v", pending, removals)
	}
	if len(b.logLines("Group membership unknown")) == 0 {
		t.Error("the bot did not log the unknown membership")
	}
}

func TestUserWithoutMatrixAccountIsSkipped(t *testing.T) {
	room := newRoom(t, true, "ghost")
	ak := directory(t, "staff", "ghost", "bob")
	b := startBot(t, ak, botConfig{appservice: true, joinMethod: "force", grace: time.Hour,
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "join")
	b.waitCycles(3)
	if m := membership(t, room, uid("ghost")); m.Membership != "" {
		t.Errorf("ghost has membership %q", m.Membership)
	}
	exists, err := env.hs.UserExists(context.Background(), uid("ghost"))
	if err != nil || exists {
		t.Fatalf("ghost account exists=%v err=%v: the bot must never create accounts", exists, err)
	}
	if n := len(b.logLines("no Matrix account yet")); n != 1 {
		t.Errorf("missing account logged %d times over several cycles, want once", n)
	}
}
