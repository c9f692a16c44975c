package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
)

// roomWithoutBot creates a private room owned by "owner" in which the bot of the given mode
// holds power level 100 but is neither invited nor joined.
func roomWithoutBot(t *testing.T, appservice bool, name string) id.RoomID {
	t.Helper()
	room, err := env.hs.CreateRoom(context.Background(), env.users["owner"], harness.RoomOptions{Name: name,
		PowerLevelUsers: map[id.UserID]int{botUser(appservice).ID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	return room
}

// inBothModes runs test in parallel subtests, one a mode: client and appservice.
func inBothModes(t *testing.T, test func(t *testing.T, appservice bool, mode string)) {
	for _, appservice := range []bool{false, true} {
		mode := "client"
		if appservice {
			mode = "appservice"
		}
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			test(t, appservice, mode)
		})
	}
}

// TestInvitedWhileRunningJoinsWithinOneCycle: the docs say "start the bot, then invite it". A
// mapped room the bot is not in is a per-room warning that slows nothing down (no back-off);
// once the bot is invited, the next cycle joins the room and adds the group's members.
func TestInvitedWhileRunningJoinsWithinOneCycle(t *testing.T) {
	t.Parallel()
	inBothModes(t, func(t *testing.T, appservice bool, mode string) {
		room := roomWithoutBot(t, appservice, "invite-while-running-"+mode)
		ak := directory(t, "staff", "alice")
		b := startBot(t, ak, botConfig{appservice: appservice, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}, "")
		b.waitCycles(3)
		if m := membership(t, room, uid("alice")); m.Membership != "" {
			t.Fatalf("alice is %q before the bot is in the room", m.Membership)
		}
		if lines := b.logLines("backing off"); len(lines) > 0 {
			t.Errorf("a room the bot is not in made the cycles back off: %v", lines)
		}

		invited := time.Now()
		if err := env.hs.Invite(context.Background(), env.users["owner"], room, botUser(appservice).ID); err != nil {
			t.Fatal(err)
		}
		waitMembership(t, room, uid("alice"), "invite")
		took := time.Since(invited)
		t.Logf("alice invited %s after the bot was (sync interval 1 s)", took.Round(10*time.Millisecond))
		if took > 5*time.Second {
			t.Errorf("alice invited %s after the bot was: want within one cycle of a 1 s interval", took)
		}
		if m := membership(t, room, botUser(appservice).ID); m.Membership != "join" {
			t.Errorf("the bot is %q in the room, want join", m.Membership)
		}
		if len(b.logLines("Joined a mapped room the bot was invited to")) != 1 {
			t.Errorf("no (or more than one) log line says the bot joined the room:\n%s", b.logTail(30))
		}
	})
}

// TestDoctorSaysInvitedNotJoined: doctor tells a pending invite from a missing one.
func TestDoctorSaysInvitedNotJoined(t *testing.T) {
	t.Parallel()
	inBothModes(t, func(t *testing.T, appservice bool, mode string) {
		room := roomWithoutBot(t, appservice, "doctor-invited-"+mode)
		ak := directory(t, "staff", "alice")
		cfg := botConfig{appservice: appservice, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}
		args, cmdEnv := invocation(t, ak, cfg, t.TempDir()+"/data", freeAddr(t))

		out, code := runDoctor(t, args, cmdEnv)
		if code == 0 || !strings.Contains(out, "FAIL  Room "+string(room)) || !strings.Contains(out, "invite "+string(botUser(appservice).ID)) {
			t.Errorf("doctor before any invite (exit %d) does not ask for one:\n%s", code, out)
		}
		if err := env.hs.Invite(context.Background(), env.users["owner"], room, botUser(appservice).ID); err != nil {
			t.Fatal(err)
		}
		out, code = runDoctor(t, args, cmdEnv)
		if code == 0 || !strings.Contains(out, string(botUser(appservice).ID)+" is invited, not joined") || !strings.Contains(out, "joins at its next cycle") {
			t.Errorf("doctor after the invite (exit %d) does not say invited, not joined:\n%s", code, out)
		}
	})
}

// TestMissingAliasLeavesTheOtherMappingsRunning: a mapping whose alias does not exist is a
// problem of that mapping, as a missing group is: the bot starts, says which mapping it left
// out and why, and the other mappings sync.
func TestMissingAliasLeavesTheOtherMappingsRunning(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "missing-alias-neighbour")
	ak := directory(t, "staff", "alice")
	missing := "#no-such-room-" + strings.ToLower(t.Name()[len(t.Name())-8:]) + ":" + serverName
	b := startBot(t, ak, botConfig{grace: time.Hour, mappings: []mapping{
		{Group: "staff", Room: id.RoomID(missing)},
		{Group: "staff", Room: room},
	}}, "")
	waitMembership(t, room, uid("alice"), "invite")
	lines := b.logLines("Mapping left out: its room alias does not exist")
	if len(lines) != 1 || lines[0]["room"] != missing {
		t.Errorf("log lines about the left-out mapping: %v", lines)
	}
}

// TestAliasesInPlanAndWhy: plan's output names a room mapped by its alias by that alias, and a
// room mapped by ID by its canonical alias; plan -why takes the alias for -room.
func TestAliasesInPlanAndWhy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := botUser(false)
	room, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "alias-plan", Alias: "alias-plan",
		Invite: []id.UserID{b.ID}, PowerLevelUsers: map[id.UserID]int{b.ID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, b, room); err != nil {
		t.Fatal(err)
	}
	alias := "#alias-plan:" + serverName
	// A room with a canonical alias, mapped by its ID.
	named, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "alias-plan-by-id", Alias: "alias-plan-by-id",
		Invite: []id.UserID{b.ID}, PowerLevelUsers: map[id.UserID]int{b.ID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, b, named); err != nil {
		t.Fatal(err)
	}
	ak := directory(t, "staff", "alice")
	args, cmdEnv := invocation(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "staff", Room: id.RoomID(alias)}, {Group: "staff", Room: named}}},
		t.TempDir()+"/data", freeAddr(t))
	out, err := runCommand(t, args, cmdEnv, "plan")
	if err != nil || !strings.Contains(out, "invite @alice:localhost in "+alias+" ("+string(room)+")") ||
		!strings.Contains(out, "invite @alice:localhost in #alias-plan-by-id:"+serverName+" ("+string(named)+")") {
		t.Errorf("plan (%v) does not name the rooms by their aliases:\n%s", err, out)
	}
	out, err = runCommand(t, args, cmdEnv, "plan", "-why", string(uid("alice")), "-room", alias)
	if err != nil || !strings.Contains(out, alias+" ("+string(room)+")") || !strings.Contains(out, "will be invited") {
		t.Errorf("plan -why -room %s (%v):\n%s", alias, err, out)
	}
}

// TestMistypedGroupIsNoOutage: a mapped group Authentik does not have (a typo in the only
// mapping) is a setup problem, not an Authentik outage: the cycles keep their interval, and once
// the group exists its members are invited at the next cycle.
func TestMistypedGroupIsNoOutage(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "mistyped-group")
	ak := directory(t, "staff", "alice")
	b := startBot(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "Staf", Room: room}}}, "")
	b.waitCycles(4)
	if lines := b.logLines("backing off"); len(lines) > 0 {
		t.Errorf("a mistyped group made the cycles back off as for an outage: %v", lines)
	}
	if len(b.logLines("Group membership unknown")) == 0 {
		t.Error("no warning names the group Authentik does not have")
	}
	fixed := time.Now()
	ak.AddGroup("Staf", "")
	ak.AddMembers("Staf", "alice")
	waitMembership(t, room, uid("alice"), "invite")
	t.Logf("alice invited %s after the group was made", time.Since(fixed).Round(10*time.Millisecond))
}
