package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/e2e/harness"
)

// newSpace creates a space owned by "owner" in which the client-mode bot is joined with PL 100,
// listing the given children.
func newSpace(t *testing.T, name string, children ...id.RoomID) id.RoomID {
	t.Helper()
	ctx := context.Background()
	space, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: name, Space: true,
		Invite: []id.UserID{env.client.ID}, PowerLevelUsers: map[id.UserID]int{env.client.ID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, env.client, space); err != nil {
		t.Fatalf("bot joins space %s: %v", name, err)
	}
	for _, c := range children {
		if err := env.hs.AddSpaceChild(ctx, env.users["owner"], space, c); err != nil {
			t.Fatal(err)
		}
	}
	return space
}

// spaceMappings replaces the scenario's mappings with raw ones (the space and override keys).
func spaceMappings(ms ...map[string]any) func(conf map[string]any) {
	return func(conf map[string]any) {
		list := make([]any, len(ms))
		for i, m := range ms {
			list[i] = m
		}
		conf["sync"].(map[string]any)["mappings"] = list
	}
}

// TestSpaceWithChildren syncs a group into a space and its child rooms while the space changes:
// a child added during the test is picked up (the bot, only invited, joins it); a child removed
// is released, so that nobody new is removed there, while the removal already pending in it when
// it left still runs.
func TestSpaceWithChildren(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c1, c2, c3 := newRoom(t, false, "space-c1"), newRoom(t, false, "space-c2"), newRoom(t, false, "space-c3")
	// c4 only invites the bot: it joins once the room is in the space.
	c4, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "space-c4",
		Invite: []id.UserID{env.client.ID}, PowerLevelUsers: map[id.UserID]int{env.client.ID: 100}})
	mustOK(t, err)
	space := newSpace(t, "space-staff", c1, c2, c3)
	ak := directory(t, "space-staff", "alice", "bob")
	const grace = 12 * time.Second
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: grace,
		edit: spaceMappings(map[string]any{"group": "space-staff", "room": string(space), "include_children": true})}, "")

	for _, room := range []id.RoomID{space, c1, c2, c3} {
		for _, u := range []string{"alice", "bob"} {
			waitMembership(t, room, uid(u), "join")
		}
	}

	// Bob leaves the group: his removal is pending in the space and every child, c3 included.
	ak.RemoveMembers("space-staff", "bob")
	left := time.Now()
	err = harness.WaitFor(ctx, 20*time.Second, func() (bool, error) {
		pending, _ := pendingRemovals(t, b.dataDir)
		n := 0
		for k := range pending {
			if k.User == uid("bob") {
				n++
			}
		}
		return n == 4, fmt.Errorf("%d of 4 removals of bob pending", n)
	})
	if err != nil {
		t.Fatal(err)
	}

	// c3 leaves the space, c4 joins it; then alice leaves the group and carol enters it.
	mustOK(t, env.hs.RemoveSpaceChild(ctx, env.users["owner"], space, c3))
	mustOK(t, env.hs.AddSpaceChild(ctx, env.users["owner"], space, c4))
	waitMembership(t, c4, env.client.ID, "join")
	waitMembership(t, c4, uid("alice"), "join")
	ak.RemoveMembers("space-staff", "alice")
	ak.AddMembers("space-staff", "carol")
	for _, room := range []id.RoomID{space, c1, c2, c4} {
		waitMembership(t, room, uid("carol"), "join")
	}
	if time.Since(left) > grace {
		t.Fatalf("the test ran past bob's grace period (%s) before checking; raise it", grace)
	}
	// Past bob's deadline: he is removed everywhere, the released c3 included; alice, who left
	// the group after c3 left the space (and c4 joined it), is removed from the space's current
	// rooms only.
	for _, room := range []id.RoomID{space, c1, c2, c3} {
		waitMembership(t, room, uid("bob"), "leave")
	}
	for _, room := range []id.RoomID{space, c1, c2, c4} {
		waitMembership(t, room, uid("alice"), "leave")
	}
	b.waitCycles(2)
	if m := membership(t, c3, uid("alice")); m.Membership != "join" {
		t.Errorf("alice in the released room c3: %q, want still joined", m.Membership)
	}
	if m := membership(t, c3, uid("carol")); m.Membership != "" {
		t.Errorf("carol in the released room c3: %q, want never added", m.Membership)
	}
	pending, _ := pendingRemovals(t, b.dataDir)
	for k := range pending {
		if k.Room == c3 {
			t.Errorf("a removal is pending in the released room c3: %v", k)
		}
	}
}

// TestInviteOnlyMappingNeverRemoves: remove: false adds members and never removes anyone, even
// with a zero grace period.
func TestInviteOnlyMappingNeverRemoves(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "invite-only")
	ak := directory(t, "invite-only", "dave")
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0,
		edit: spaceMappings(map[string]any{"group": "invite-only", "room": string(room), "remove": false})}, "")
	waitMembership(t, room, uid("dave"), "join")
	ak.RemoveMembers("invite-only", "dave")
	b.waitCycles(3)
	if m := membership(t, room, uid("dave")); m.Membership != "join" {
		t.Errorf("dave left the group of an invite-only mapping and is now %q, want still joined", m.Membership)
	}
	if pending, removals := pendingRemovals(t, b.dataDir); len(pending) != 0 || len(removals) != 0 {
		t.Errorf("invite-only mapping: pending %v, removals %v", pending, removals)
	}
}

// TestCreateIfMissing: a mapping whose alias does not exist creates the room, lists it in the
// parent space, and fills it.
func TestCreateIfMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	space := newSpace(t, "create-parent")
	alias := id.RoomAlias(fmt.Sprintf("#created-%d:%s", time.Now().UnixNano(), serverName))
	ak := directory(t, "create-group", "erin")
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		edit: spaceMappings(map[string]any{"group": "create-group", "room": string(alias),
			"create_if_missing": map[string]any{"name": "Created", "topic": "made by the bot", "parent_space": string(space)}})}, "")
	room, err := env.hs.ResolveAlias(ctx, env.users["owner"], alias)
	if err != nil {
		t.Fatalf("the alias does not resolve after start: %v", err)
	}
	waitMembership(t, room, uid("erin"), "join")
	child, err := env.hs.State(ctx, env.client, space, "m.space.child", string(room))
	if err != nil || !slices.Equal(toStrings(child["via"]), []string{serverName}) {
		t.Errorf("m.space.child of the new room in the space = %v, %v", child, err)
	}
	parent, err := env.hs.State(ctx, env.client, room, "m.space.parent", string(space))
	if err != nil || parent["canonical"] != true {
		t.Errorf("m.space.parent in the new room = %v, %v", parent, err)
	}
	create, err := env.hs.State(ctx, env.client, room, "m.room.create", "")
	if err != nil || (create["creator"] != string(env.client.ID) && create["sender"] != string(env.client.ID)) {
		// Room version 12 drops "creator" from the content; the membership shows the creator.
		if m := membership(t, room, env.client.ID); m.Membership != "join" {
			t.Errorf("the bot is not in the room it created: %v %v", create, err)
		}
	}
	if n := len(b.logLines("Created a missing mapped room")); n != 1 {
		t.Errorf("creation logged %d times, want 1", n)
	}
	// A restart resolves the alias instead of creating again.
	b.stop()
	b2 := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		edit: spaceMappings(map[string]any{"group": "create-group", "room": string(alias),
			"create_if_missing": map[string]any{"name": "Created", "parent_space": string(space)}})}, b.dataDir)
	if n := len(b2.logLines("Created a missing mapped room")); n != 0 {
		t.Errorf("the restarted bot created the room again")
	}
}

// TestCreatedRoomListedInSpaceOnRestart creates a mapped room in a space where the bot may not
// yet list children: the room is made and used, the listing fails and is logged; once the bot has
// the power level in the space, the next start lists the room, and the start after finds it
// listed and leaves it.
func TestCreatedRoomListedInSpaceOnRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	space, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "relink-parent", Space: true,
		Invite: []id.UserID{env.client.ID}, PowerLevelUsers: map[id.UserID]int{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, env.client, space); err != nil {
		t.Fatalf("bot joins the space: %v", err)
	}
	alias := id.RoomAlias(fmt.Sprintf("#relinked-%d:%s", time.Now().UnixNano(), serverName))
	ak := directory(t, "relink-group", "erin")
	conf := botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		edit: spaceMappings(map[string]any{"group": "relink-group", "room": string(alias),
			"create_if_missing": map[string]any{"name": "Relinked", "parent_space": string(space)}})}
	listed := func() bool {
		child, err := env.hs.State(ctx, env.client, space, "m.space.child", string(resolveAlias(t, alias)))
		return err == nil && len(toStrings(child["via"])) > 0
	}

	b := startBot(t, ak, conf, "")
	waitMembership(t, resolveAlias(t, alias), uid("erin"), "join")
	if n := len(b.logLines("could not list it in its parent space")); n != 1 || listed() {
		t.Fatalf("with power level 0 in the space: %d failure lines, listed %v; want 1 line, not listed", n, listed())
	}
	b.stop()

	if err := env.hs.SetPowerLevel(ctx, env.users["owner"], space, env.client.ID, 100); err != nil {
		t.Fatal(err)
	}
	b2 := startBot(t, ak, conf, b.dataDir)
	if n := len(b2.logLines("Listed the created room in its parent space")); n != 1 || !listed() {
		t.Fatalf("after the power level was raised: %d listing lines, listed %v; want 1 line, listed", n, listed())
	}
	b2.stop()

	b3 := startBot(t, ak, conf, b.dataDir)
	if n := len(b3.logLines("Listed the created room in its parent space")); n != 0 || !listed() {
		t.Errorf("a start with the room already listed: %d listing lines, listed %v; want none, listed", n, listed())
	}
	if n := len(b3.logLines("Created a missing mapped room")); n != 0 {
		t.Errorf("a restart created the room again")
	}
}

// resolveAlias resolves alias as the owner.
func resolveAlias(t *testing.T, alias id.RoomAlias) id.RoomID {
	t.Helper()
	r, err := env.hs.ResolveAlias(context.Background(), env.users["owner"], alias)
	if err != nil {
		t.Fatalf("resolve %s: %v", alias, err)
	}
	return r
}

// TestHierarchyRoutesOnSynapse reads a space through both routes on the real Synapse: the admin
// API (a server-admin bot) and the client API (the appservice bot, no admin). Both see children
// the bot is not in, drop a child whose m.space.child was emptied, and see no children in a room
// that is not a space.
func TestHierarchyRoutesOnSynapse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := env.users["owner"]
	hidden, err := env.hs.CreateRoom(ctx, owner, harness.RoomOptions{Name: "hier-hidden"})
	mustOK(t, err)
	// A plain room both bots are in.
	joined, err := env.hs.CreateRoom(ctx, owner, harness.RoomOptions{Name: "hier-joined", Invite: []id.UserID{env.client.ID, env.asBot.ID}})
	mustOK(t, err)
	mustOK(t, env.hs.Join(ctx, env.client, joined))
	mustOK(t, env.hs.Join(ctx, env.asBot, joined))
	gone := newRoom(t, false, "hier-gone")
	space, err := env.hs.CreateRoom(ctx, owner, harness.RoomOptions{Name: "hier-space", Space: true,
		Invite: []id.UserID{env.client.ID, env.asBot.ID}})
	mustOK(t, err)
	mustOK(t, env.hs.Join(ctx, env.client, space))
	mustOK(t, env.hs.Join(ctx, env.asBot, space))
	for _, c := range []id.RoomID{hidden, joined, gone} {
		mustOK(t, env.hs.AddSpaceChild(ctx, owner, space, c))
	}
	mustOK(t, env.hs.RemoveSpaceChild(ctx, owner, space, gone))
	want := []id.RoomID{hidden, joined}
	slices.Sort(want)

	for _, tc := range []struct {
		name string
		opts appservice.Options
	}{
		{"admin API", appservice.Options{BotUserID: env.client.ID, AccessToken: env.client.Token}},
		{"client API", appservice.Options{BotUserID: env.asBot.ID, Appservice: true, ASToken: env.asToken, RegistrationID: "authentik-matrix-sync"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.HomeserverURL, tc.opts.Log = env.hs.URL, zerolog.Nop()
			m, err := appservice.New(tc.opts)
			mustOK(t, err)
			r := m.Spaces()
			children, err := r.SpaceChildren(ctx, space)
			mustOK(t, err)
			var got []id.RoomID
			for _, c := range children {
				got = append(got, c.Room)
				if c.Room == joined && !c.NotSpace {
					t.Errorf("the plain room both bots are in is not marked as such: %+v", c)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("children = %v, want %v", got, want)
			}
			t.Logf("children as %s sees them: %+v", tc.name, children)
			none, err := r.SpaceChildren(ctx, joined)
			if err != nil || len(none) != 0 {
				t.Errorf("children of a plain room = %v, %v; want none", none, err)
			}
		})
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
