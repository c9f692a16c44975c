package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// termUsers registers the accounts of the shutdown test once: enough for a cycle with many
// actions, apart from the suite's shared users.
var termUsers = sync.OnceValues(func() ([]string, error) {
	var names []string
	for i := 1; i <= 15; i++ {
		name := fmt.Sprintf("term%02d", i)
		if _, err := env.hs.RegisterUser(context.Background(), name, "pw-"+name, false); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
})

// TestSIGTERMDuringCycle stops the bot with SIGTERM while a cycle with many pending invites is
// under way (one write at a time, so it is surely not done): the process exits within 10 s with
// code 0, and the next start completes the work without repeating any of it.
func TestSIGTERMDuringCycle(t *testing.T) {
	t.Parallel()
	users, err := termUsers()
	if err != nil {
		t.Fatal(err)
	}
	var rooms []id.RoomID
	var mappings []mapping
	for i := range 3 {
		room := newRoom(t, false, fmt.Sprintf("sigterm-%d", i))
		rooms = append(rooms, room)
		mappings = append(mappings, mapping{Group: "many", Room: room})
	}
	ak := newAuthentik(t)
	for _, u := range users {
		ak.AddUser(u)
	}
	ak.AddGroup("many", "")
	ak.AddMembers("many", users...)
	cfg := botConfig{grace: time.Hour, mappings: mappings, edit: func(conf map[string]any) {
		conf["sync"].(map[string]any)["max_concurrent_writes"] = 1
	}}
	dataDir := filepath.Join(t.TempDir(), "data")
	total := len(users) * len(rooms)

	b := launchBot(t, ak, cfg, dataDir)
	waitLog(t, b, "Invited user")
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10 s after SIGTERM; log:\n%s", b.logTail(20))
	}
	took := time.Since(start)
	if b.exitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want code 0", b.exitErr)
	}
	invited := 0
	for _, room := range rooms {
		for _, u := range users {
			if membership(t, room, uid(u)).Membership == "invite" {
				invited++
			}
		}
	}
	t.Logf("SIGTERM: exited after %s with %d of %d invites sent", took.Round(time.Millisecond), invited, total)
	if invited == total {
		t.Fatalf("all %d invites were sent before SIGTERM: the test did not interrupt a cycle", total)
	}
	if n := len(b.logLines("Cycle interrupted")); n != 1 {
		t.Errorf("%d \"Cycle interrupted\" lines in the log, want 1; tail:\n%s", n, b.logTail(10))
	}
	// A shutdown is said once: the reads and writes it cut off are not reported one by one
	// as failures of the homeserver or Authentik.
	for _, msg := range []string{"unreadable", "Upstream failing", "Action failed", "unknown this cycle"} {
		if lines := b.logLines(msg); len(lines) > 0 {
			t.Errorf("%d %q lines after SIGTERM, e.g. %v", len(lines), msg, lines[0])
		}
	}

	again := startBot(t, ak, cfg, dataDir)
	for _, room := range rooms {
		for _, u := range users {
			waitMembership(t, room, uid(u), "invite")
		}
	}
	again.waitCycles(1)
	for _, room := range rooms {
		events := membershipEvents(t, room)
		for _, u := range users {
			if n := events[uid(u)]["invite"]; n != 1 {
				t.Errorf("%s in %s: %d invites, want exactly 1", u, room, n)
			}
		}
	}
}
