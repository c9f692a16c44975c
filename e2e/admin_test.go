package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
)

// adminRoomFor creates an admin room owned by "owner" (the admin) with "alice" (not an admin)
// in it, and invites the bot of the given mode, which joins at start.
func adminRoomFor(t *testing.T, appservice bool) id.RoomID {
	t.Helper()
	ctx := context.Background()
	room, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "sync admin",
		Invite: []id.UserID{botUser(appservice).ID, uid("alice")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.hs.Join(ctx, env.users["alice"], room); err != nil {
		t.Fatal(err)
	}
	return room
}

// withAdmin configures the admin room and the guard.
func withAdmin(room id.RoomID, maxRemovals int) func(map[string]any) {
	return func(conf map[string]any) {
		conf["admin"] = map[string]any{"room": string(room), "admins": []string{string(uid("owner"))}}
		conf["sync"].(map[string]any)["max_removals_per_cycle"] = maxRemovals
	}
}

// command sends body to the admin room as the given user and waits for the bot's reply that
// contains want; it returns the reply's text.
func command(t *testing.T, appservice bool, room id.RoomID, as, body, want string) string {
	t.Helper()
	ctx := context.Background()
	sent, err := env.hs.SendText(ctx, env.users[as], room, body)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := awaitNotice(room, appservice, sent, want)
	if err != nil {
		t.Fatalf("%s said %q: %v", as, body, err)
	}
	return reply
}

// awaitNotice waits for a notice from the bot after the event after that contains want.
func awaitNotice(room id.RoomID, appservice bool, after id.EventID, want string) (string, error) {
	var got string
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		evs, err := env.hs.Messages(context.Background(), env.users["owner"], room, 50)
		if err != nil {
			return false, err
		}
		seen := after == ""
		var bodies []string
		for _, e := range evs {
			if e.ID == after {
				seen = true
				continue
			}
			if seen && e.Sender == botUser(appservice).ID && e.Type == "m.room.message" {
				bodies = append(bodies, e.Body())
				if strings.Contains(e.Body(), want) && strings.Contains(string(e.Content), `"msgtype":"m.notice"`) &&
					strings.Contains(string(e.Content), "formatted_body") {
					got = e.Body()
					return true, nil
				}
			}
		}
		return false, fmt.Errorf("no notice containing %q; the bot said %q", want, bodies)
	})
	return got, err
}

// botNotices counts the bot's messages in the room that contain s.
func botNotices(t *testing.T, appservice bool, room id.RoomID, s string) int {
	t.Helper()
	evs, err := env.hs.Messages(context.Background(), env.users["owner"], room, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Sender == botUser(appservice).ID && strings.Contains(e.Body(), s) {
			n++
		}
	}
	return n
}

func TestAdminRoomCommandsAndRefusal(t *testing.T) {
	admin := adminRoomFor(t, true)
	room := newRoom(t, true, "admin-commands")
	ak := directory(t, "staff", "bob", "carol")
	b := startBot(t, ak, botConfig{appservice: true, grace: time.Hour, edit: withAdmin(admin, 10),
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "invite")

	command(t, true, admin, "owner", "!sync help", "Commands (prefix !sync)")
	command(t, true, admin, "owner", "!sync", "cancel @user [room]")
	command(t, true, admin, "owner", "!sync status", "Status: leader")
	command(t, true, admin, "owner", "!sync mappings", "staff → "+string(room))
	command(t, true, admin, "owner", "!sync plan", "nothing was changed")
	// The running bot answers the appservice ping itself, so every check passes.
	command(t, true, admin, "owner", "!sync doctor", "Doctor: All ")
	command(t, true, admin, "owner", "!sync frobnicate", "Unknown command")
	command(t, true, admin, "owner", "!sync cancel", "Usage: !sync cancel @user [room]")
	command(t, true, admin, "alice", "!sync status", "only the bot's admins")
	if _, err := env.hs.SendText(context.Background(), env.users["alice"], admin, "!sync pause"); err != nil {
		t.Fatal(err)
	}
	// The reply to the admin's next command comes after anything said to alice.
	command(t, true, admin, "owner", "!sync now", "Cycle ")
	if n := botNotices(t, true, admin, "only the bot's admins"); n != 1 {
		t.Errorf("%d refusals for two commands within a minute, want 1", n)
	}
	command(t, true, admin, "owner", "!sync exempt @bob:localhost", "exempt in every room")
	command(t, true, admin, "owner", "!sync unexempt @bob:localhost", "no longer exempt")
	ak.RemoveMembers("staff", "carol")
	b.waitCycles(2)
	command(t, true, admin, "owner", "!sync pending", "@carol:localhost in "+string(room))
	command(t, true, admin, "owner", "!sync cancel @carol:localhost", "Cancelled 1 pending removal")
	reply := command(t, true, admin, "owner", "!sync backup", "Backup written: authentik-matrix-sync-")
	if !strings.HasSuffix(strings.TrimSpace(reply), ".db") {
		t.Errorf("backup reply %q does not name the file", reply)
	}
	command(t, true, admin, "owner", "!sync audit @carol:localhost", "@owner:localhost: cancel @carol:localhost")
}

var batchIDPattern = regexp.MustCompile(`confirm ([0-9a-f]{6})`)

func TestGuardHoldsMassRemovalUntilConfirmed(t *testing.T) {
	admin := adminRoomFor(t, true)
	room := newRoom(t, true, "guard-confirm")
	ak := directory(t, "staff", "bob", "carol", "dave", "erin")
	b := startBot(t, ak, botConfig{appservice: true, grace: 0, edit: withAdmin(admin, 2),
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	for _, u := range []string{"bob", "carol", "dave", "erin"} {
		waitMembership(t, room, uid(u), "invite")
	}
	ak.RemoveMembers("staff", "bob", "carol", "dave")
	held, err := awaitNotice(admin, true, "", "Mass removal held: 3 users")
	if err != nil {
		t.Fatal(err)
	}
	m := batchIDPattern.FindStringSubmatch(held)
	if m == nil {
		t.Fatalf("held notice %q has no batch ID", held)
	}
	b.waitCycles(2)
	for _, u := range []string{"bob", "carol", "dave"} {
		if got := membership(t, room, uid(u)).Membership; got != "invite" {
			t.Errorf("%s is %q while the batch is held, want invite", u, got)
		}
	}
	if n := botNotices(t, true, admin, "Mass removal held"); n != 1 {
		t.Errorf("the held batch was posted %d times, want once", n)
	}
	command(t, true, admin, "owner", "!sync confirm "+m[1], "confirmed")
	for _, u := range []string{"bob", "carol", "dave"} {
		waitMembership(t, room, uid(u), "leave")
	}
	if got := membership(t, room, uid("erin")).Membership; got != "invite" {
		t.Errorf("erin is %q, want invite", got)
	}
	if _, err := awaitNotice(admin, true, "", "Removed 3 users"); err != nil {
		t.Error(err)
	}
}

func TestGuardRejectKeepsEveryone(t *testing.T) {
	admin := adminRoomFor(t, true)
	room := newRoom(t, true, "guard-reject")
	ak := directory(t, "staff", "bob", "carol", "dave")
	b := startBot(t, ak, botConfig{appservice: true, grace: 0, edit: withAdmin(admin, 1),
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	for _, u := range []string{"bob", "carol", "dave"} {
		waitMembership(t, room, uid(u), "invite")
	}
	ak.RemoveMembers("staff", "bob", "carol")
	held, err := awaitNotice(admin, true, "", "Mass removal held: 2 users")
	if err != nil {
		t.Fatal(err)
	}
	id := batchIDPattern.FindStringSubmatch(held)[1]
	command(t, true, admin, "owner", "!sync reject "+id, "rejected")
	b.waitCycles(3)
	for _, u := range []string{"bob", "carol", "dave"} {
		if got := membership(t, room, uid(u)).Membership; got != "invite" {
			t.Errorf("%s is %q after the batch was rejected, want invite", u, got)
		}
	}
	command(t, true, admin, "owner", "!sync pending", "0 pending removals")
}

func TestPauseStopsWritesAcrossRestart(t *testing.T) {
	admin := adminRoomFor(t, true)
	room := newRoom(t, true, "pause")
	ak := directory(t, "staff", "bob")
	cfg := botConfig{appservice: true, grace: time.Hour, edit: withAdmin(admin, 10),
		mappings: []mapping{{Group: "staff", Room: room}}}
	b := startBot(t, ak, cfg, "")
	waitMembership(t, room, uid("bob"), "invite")
	command(t, true, admin, "owner", "!sync pause", "Paused")
	b.stop()

	ak.AddMembers("staff", "carol")
	b2 := startBot(t, ak, cfg, b.dataDir)
	b2.waitCycles(2)
	if got := membership(t, room, uid("carol")).Membership; got != "" {
		t.Fatalf("carol is %q while the bot is paused, want no membership", got)
	}
	command(t, true, admin, "owner", "!sync status", "PAUSED")
	command(t, true, admin, "owner", "!sync resume", "Resumed")
	waitMembership(t, room, uid("carol"), "invite")
}

func TestAdminRoomInClientMode(t *testing.T) {
	admin := adminRoomFor(t, false)
	room := newRoom(t, false, "admin-client")
	ak := directory(t, "staff", "bob")
	startBot(t, ak, botConfig{grace: time.Hour, edit: withAdmin(admin, 10),
		mappings: []mapping{{Group: "staff", Room: room}}}, "")
	waitMembership(t, room, uid("bob"), "invite")
	// A command sent before the bot started is never answered: /sync starts from now.
	command(t, false, admin, "owner", "!sync status", "Status: leader")
	command(t, false, admin, "alice", "!sync pause", "only the bot's admins")
	command(t, false, admin, "owner", "!sync help status", "!sync status")
}

func TestOldCommandsAreNotReplayedAfterRestart(t *testing.T) {
	for _, appservice := range []bool{true, false} {
		t.Run(fmt.Sprintf("appservice=%v", appservice), func(t *testing.T) {
			admin := adminRoomFor(t, appservice)
			room := newRoom(t, appservice, "replay")
			ak := directory(t, "staff", "bob")
			cfg := botConfig{appservice: appservice, grace: time.Hour, edit: withAdmin(admin, 10),
				mappings: []mapping{{Group: "staff", Room: room}}}
			b := startBot(t, ak, cfg, "")
			command(t, appservice, admin, "owner", "!sync mappings", "1 mapping")
			b.stop()
			b2 := startBot(t, ak, cfg, b.dataDir)
			b2.waitCycles(1)
			command(t, appservice, admin, "owner", "!sync status", "Status: leader")
			if n := botNotices(t, appservice, admin, "1 mapping"); n != 1 {
				t.Errorf("the mappings command was answered %d times across a restart, want once", n)
			}
		})
	}
}
