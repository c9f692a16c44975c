package e2e

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// editAll applies several config edits in turn.
func editAll(edits ...func(map[string]any)) func(map[string]any) {
	return func(conf map[string]any) {
		for _, e := range edits {
			e(conf)
		}
	}
}

// protectedUsers sets protected_users.
func protectedUsers(entries ...string) func(map[string]any) {
	return func(conf map[string]any) { conf["protected_users"] = entries }
}

// TestProtectedAdminIsNeverRemoved: two protected users, one by ID and one by pattern, joined and
// raised to PL 50 by a power mapping, leave every group with a grace period of 0. Over several
// cycles they stay joined at PL 50 while an unprotected user leaving at the same time is kicked;
// nothing is pending for them, and the plan (subcommand and !sync plan) shows the protected lines.
func TestProtectedAdminIsNeverRemoved(t *testing.T) {
	t.Parallel()
	admin := adminRoomFor(t, false)
	room := newRoom(t, false, "protected")
	ak := directory(t, "prot-staff", "frank", "erin", "carol")
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: 0, edit: editAll(
		spaceMappings(map[string]any{"group": "prot-staff", "room": string(room), "power_level": 50}),
		withAdmin(admin, 10),
		protectedUsers(string(uid("frank")), "/@er.*:"+serverName+"/"),
	)}, "")
	for _, u := range []string{"frank", "erin", "carol"} {
		waitMembership(t, room, uid(u), "join")
		waitLevel(t, room, uid(u), 50)
	}

	ak.RemoveMembers("prot-staff", "frank", "erin", "carol")
	waitMembership(t, room, uid("carol"), "leave") // removals work: only protection keeps the others
	b.waitCycles(3)
	for _, u := range []string{"frank", "erin"} {
		if m := membership(t, room, uid(u)); m.Membership != "join" {
			t.Errorf("protected %s is %q after leaving every group with grace 0, want still joined", u, m.Membership)
		}
		if l, _ := levelOf(t, room, uid(u)); l != 50 {
			t.Errorf("protected %s has power level %d, want still 50", u, l)
		}
	}
	pending, removals := pendingRemovals(t, b.dataDir)
	for k := range pending {
		if k.User == uid("frank") || k.User == uid("erin") {
			t.Errorf("a removal of a protected user is pending: %v", k)
		}
	}
	for _, r := range removals {
		if r.User != uid("carol") {
			t.Errorf("removed: %+v, want only carol", r)
		}
	}
	for k, g := range powerGrants(t, b.dataDir) {
		if (k.User == uid("frank") || k.User == uid("erin")) && !g.DemoteAt.IsZero() {
			t.Errorf("a demotion of a protected user is pending: %+v", g)
		}
	}

	out, err := runCommand(t, b.args, b.env, "plan")
	if err != nil {
		t.Fatalf("plan failed: %v\n%s", err, out)
	}
	t.Logf("plan:\n%s", out)
	for _, u := range []string{"frank", "erin"} {
		for _, what := range []string{"removed", "demoted"} {
			want := "warning: " + string(uid(u)) + " in " + string(room) + ": protected (protected_users): not " + what
			if !strings.Contains(out, want) {
				t.Errorf("plan output lacks %q:\n%s", want, out)
			}
		}
	}
	if strings.Contains(out, "kick @frank") || strings.Contains(out, "kick @erin") {
		t.Errorf("the plan kicks a protected user:\n%s", out)
	}
	command(t, false, admin, "owner", "!sync plan", string(uid("frank"))+" in "+string(room)+": protected (protected_users): not removed")
	command(t, false, admin, "owner", "!sync status", "Protected (protected_users, never removed, banned, demoted or locked): "+
		string(uid("frank"))+", /@er.*:"+serverName+"/")
	command(t, false, admin, "owner", "!sync why "+string(uid("erin")), string(room)+": protected")
}

// TestWhyExplainsASpaceChildMember: alice is in why-backend, a subgroup of why-eng, which is
// mapped to a space with include_children. !sync why and plan -why put her in the child room,
// name the group and the subgroup, and show the bot's last action on her.
func TestWhyExplainsASpaceChildMember(t *testing.T) {
	t.Parallel()
	admin := adminRoomFor(t, false)
	child := newRoom(t, false, "why-child")
	space := newSpace(t, "why-space", child)
	ak := newAuthentik(t)
	for _, u := range []string{"alice", "bob"} {
		ak.AddUser(u)
	}
	ak.AddGroup("why-eng", "")
	ak.AddGroup("why-backend", "why-eng")
	ak.AddMembers("why-eng", "bob")
	ak.AddMembers("why-backend", "alice")
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour, edit: editAll(
		spaceMappings(map[string]any{"group": "why-eng", "room": string(space), "include_children": true}),
		withAdmin(admin, 10),
	)}, "")
	for _, room := range []id.RoomID{space, child} {
		waitMembership(t, room, uid("alice"), "join")
		waitMembership(t, room, uid("bob"), "join")
	}
	b.waitCycles(1) // the cycle that joined her is in the audit log

	childLine := string(child) + " (child room of space " + string(space) + "): member"
	const via = "in why-backend, a subgroup of Authentik group why-eng"
	reply := command(t, false, admin, "owner", "!sync why "+string(uid("alice")), childLine)
	t.Logf("!sync why %s:\n%s", uid("alice"), reply)
	for _, want := range []string{"Why " + string(uid("alice")), string(space) + ": member", via, "Last action: ", "force_join", "Nothing was changed."} {
		if !strings.Contains(reply, want) {
			t.Errorf("!sync why reply lacks %q:\n%s", want, reply)
		}
	}
	reply = command(t, false, admin, "owner", "!sync why "+string(uid("alice"))+" "+string(child), childLine)
	if strings.Contains(reply, string(space)+": member") {
		t.Errorf("!sync why for one room explains others:\n%s", reply)
	}
	reply = command(t, false, admin, "owner", "!sync why "+string(uid("bob"))+" "+string(child), childLine)
	if !strings.Contains(reply, "in Authentik group why-eng") || strings.Contains(reply, "subgroup") {
		t.Errorf("bob, a direct member, is explained as:\n%s", reply)
	}

	out, err := runCommand(t, b.args, b.env, "plan", "-why", string(uid("alice")))
	if err != nil {
		t.Fatalf("plan -why failed: %v\n%s", err, out)
	}
	t.Logf("plan -why %s:\n%s", uid("alice"), out)
	for _, want := range []string{"Why " + string(uid("alice")), childLine, "  - " + via, "Last action: ", "Nothing was changed."} {
		if !strings.Contains(out, want) {
			t.Errorf("plan -why output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCommand(t, b.args, b.env, "plan", "--why", string(uid("alice")), "--room", string(child))
	if err != nil || !strings.Contains(out, childLine) || strings.Contains(out, string(space)+": member") {
		t.Errorf("plan --why --room: %v\n%s", err, out)
	}
	if m := membership(t, child, uid("alice")); m.Membership != "join" {
		t.Errorf("why changed the room: alice is %q", m.Membership)
	}
}
