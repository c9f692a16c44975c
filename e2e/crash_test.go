package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/store/pgtest"
)

// crashBinary is the bot built with -tags crashpoints, built once for all crash tests.
var crashBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(env.workDir, "authentik-matrix-sync-crashpoints")
	build := exec.Command("go", "build", "-tags", "crashpoints", "-o", bin, "../cmd/authentik-matrix-sync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the crash-point binary: %v\n%s", err, out)
	}
	return bin, nil
})

// crashScenario is a state the bot is brought to with a normal binary (before), a change in
// Authentik (change), and what the rooms must show once the bot has converged afterwards.
type crashScenario struct {
	method, removeAction string
	before, after        []string // the group's members before and after the change
	// removed lists who must have been removed exactly once by the end, with the membership that
	// removal leaves (leave for a kick, ban for a ban); present lists who must be in the room.
	removed map[string]string
	present []string
	// presentAs is the membership of the present users: invite or join.
	presentAs string
	// preRemoved are removed before the crash run already (by the normal binary).
	preRemoved []string
}

var (
	// Kicks and invites: alice and bob leave the group, dave and erin join it.
	kickScenario = crashScenario{method: "invite", removeAction: "kick",
		before: []string{"alice", "bob", "carol"}, after: []string{"carol", "dave", "erin"},
		removed: map[string]string{"alice": "leave", "bob": "leave"}, present: []string{"carol", "dave", "erin"}, presentAs: "invite"}
	// Bans, unbans and force joins: alice and bob are banned before the crash run; then alice
	// comes back (unban, join), dave joins and frank is banned.
	banScenario = crashScenario{method: "force", removeAction: "ban",
		before: []string{"alice", "bob", "carol", "frank"}, after: []string{"alice", "carol", "dave"},
		removed: map[string]string{"bob": "ban", "frank": "ban"}, present: []string{"alice", "carol", "dave"}, presentAs: "join",
		preRemoved: []string{"alice", "bob"}}
)

// TestCrashConsistency kills the bot (SIGKILL, from inside, at a chosen point) before and after
// each kind of write, restarts it without the hook, and checks that the rooms converge, that
// every removal happened and was recorded exactly once, that no pending removal was lost, and
// that the SQLite file is intact.
func TestCrashConsistency(t *testing.T) {
	bin, err := crashBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The hook's code, and so the name of its variable, is in the test build only.
	for path, want := range map[string]bool{bin: true, env.bin: false} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := bytes.Contains(data, []byte("AMS_CRASHPOINT")); got != want {
			t.Fatalf("%s holds the crash-point code: %v, want %v", filepath.Base(path), got, want)
		}
	}
	points := []struct {
		point    string
		scenario crashScenario
	}{
		{"before_track", kickScenario},
		{"after_track", kickScenario},
		{"before_schedule_removal", kickScenario},
		{"after_schedule_removal", kickScenario},
		{"before_invite", kickScenario},
		{"after_invite", kickScenario},
		{"before_backup", kickScenario},
		{"after_backup", kickScenario},
		{"before_kick", kickScenario},
		{"after_kick", kickScenario},
		{"before_unban", banScenario},
		{"after_unban", banScenario},
		{"before_force_join", banScenario},
		{"after_force_join", banScenario},
		{"before_ban", banScenario},
		{"after_ban", banScenario},
	}
	for _, tc := range points {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			runCrashPoint(t, bin, tc.point, tc.scenario, "")
		})
	}
}

// TestCrashConsistencyPostgres runs the most delicate points against the Postgres store: between
// a kick and its record, and around the pg_dump backup before it.
func TestCrashConsistencyPostgres(t *testing.T) {
	t.Parallel()
	bin, err := crashBinary()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgtest.Start(context.Background())
	if err != nil {
		t.Fatalf("no PostgreSQL for the crash test: %v", err)
	}
	t.Cleanup(pg.Stop)
	for _, point := range []string{"after_backup", "after_kick"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			dbURL, err := pg.CreateDatabase(context.Background(), "crash")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pg.DropDatabase(context.Background(), dbURL) })
			runCrashPoint(t, bin, point, kickScenario, dbURL)
		})
	}
}

// runCrashPoint runs one point of a scenario; dbURL "" keeps the state in SQLite.
func runCrashPoint(t *testing.T, crashBin, point string, sc crashScenario, dbURL string) {
	room := newRoom(t, false, "crash-"+point)
	ak := directory(t, "crew", sc.before...)
	cfg := botConfig{grace: 0, joinMethod: sc.method, removeAction: sc.removeAction, mappings: []mapping{{Group: "crew", Room: room}},
		edit: noRemovalGuard, databaseURL: dbURL}
	dataDir := filepath.Join(t.TempDir(), "data")
	removedAs := map[string]string{"kick": "leave", "ban": "ban"}[sc.removeAction]

	// Before: a normal bot brings the room to the starting state, then stops.
	b := startBot(t, ak, cfg, dataDir)
	for _, u := range sc.before {
		waitMembership(t, room, uid(u), sc.presentAs)
	}
	if len(sc.preRemoved) > 0 {
		ak.RemoveMembers("crew", sc.preRemoved...)
		for _, u := range sc.preRemoved {
			waitMembership(t, room, uid(u), removedAs)
		}
	}
	b.stop()
	setGroup(ak, "crew", without(sc.before, sc.preRemoved), sc.after)
	if got := groupMembers(ak, "crew"); !sameSet(got, sc.after) {
		t.Fatalf("directory group = %v, want %v", got, sc.after)
	}

	// The crash run: killed by its own hook at the point.
	crashed := launchBinary(t, crashBin, ak, cfg, dataDir, "AMS_CRASHPOINT="+point+":1")
	select {
	case <-crashed.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("crash point %s never reached within 60 s; log:\n%s", point, crashed.logTail(30))
	}
	var exit *exec.ExitError
	if !errors.As(crashed.exitErr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("crash run ended with %v, want SIGKILL at %s; log:\n%s", crashed.exitErr, point, crashed.logTail(30))
	}
	integrityOK(t, dataDir, dbURL)
	noPendingLost(t, room, dataDir, dbURL, sc)

	// Restart with the release binary, the crash variable still set: it must ignore it.
	healed := launchBinary(t, env.bin, ak, cfg, dataDir, "AMS_CRASHPOINT="+point+":1")
	for u, m := range sc.removed {
		waitMembership(t, room, uid(u), m)
	}
	for _, u := range sc.present {
		waitMembership(t, room, uid(u), sc.presentAs)
	}
	healed.waitCycles(2) // a repeated removal or addition would show by now
	healed.stop()
	if healed.exitErr != nil {
		t.Errorf("release binary exited with %v after SIGTERM, want 0", healed.exitErr)
	}

	events := membershipEvents(t, room)
	state, removals := readStore(t, dataDir, dbURL)
	recorded := map[id.UserID]int{}
	for _, r := range removals {
		if r.Room == room {
			recorded[r.User]++
		}
	}
	for u, m := range sc.removed {
		if n := events[uid(u)][m]; n != 1 {
			t.Errorf("%s: %d %s events, want exactly 1", u, n, m)
		}
		if n := recorded[uid(u)]; n != 1 {
			t.Errorf("%s: %d removals recorded in the store, want exactly 1", u, n)
		}
	}
	for _, u := range sc.present {
		want := 1
		if contains(sc.preRemoved, u) {
			want = 2 // added, removed before the crash run, added again
		}
		if n := events[uid(u)][sc.presentAs]; n != want {
			t.Errorf("%s: %d %s events, want %d", u, n, sc.presentAs, want)
		}
	}
	if len(state.Pending) != 0 {
		t.Errorf("pending removals left after convergence: %v", state.Pending)
	}
	integrityOK(t, dataDir, dbURL)
}

// noRemovalGuard lets every removal through: the scenarios remove half a small room at once.
func noRemovalGuard(conf map[string]any) {
	s := conf["sync"].(map[string]any)
	s["max_removals_per_cycle"] = 0
	s["max_removal_fraction"] = 0
}

// launchBinary starts bin (the crash-point build) with cfg and extra environment.
func launchBinary(t *testing.T, bin string, ak *authentiktest.Server, cfg botConfig, dataDir string, extraEnv ...string) *bot {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &bot{t: t, health: fmt.Sprintf("127.0.0.1:%d", port), dataDir: dataDir, done: make(chan struct{}),
		logPath: filepath.Join(t.TempDir(), "bot.log")}
	args, cmdEnv := invocation(t, ak, cfg, dataDir, b.health)
	b.args, b.env = args, append(cmdEnv, extraEnv...)
	logFile, err := os.Create(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Env = b.env
	b.cmd.Dir = t.TempDir()
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.exitErr = b.cmd.Wait(); logFile.Close(); close(b.done) }()
	t.Cleanup(func() {
		b.stop()
		if t.Failed() {
			t.Logf("crash-run log tail:\n%s", b.logTail(40))
		}
	})
	return b
}

// readStore reads the bot's state and removal history without disturbing it.
func readStore(t *testing.T, dataDir, dbURL string) (plan.State, []plan.Removal) {
	t.Helper()
	ctx := context.Background()
	var st interface {
		LoadState(context.Context) (plan.State, error)
		Removals(context.Context, int) ([]plan.Removal, error)
		Close() error
	}
	var err error
	if dbURL != "" {
		st, err = store.OpenPostgres(ctx, store.PostgresOptions{URL: dbURL, ReadOnly: true})
	} else {
		st, err = store.OpenSQLite(ctx, store.Options{DataDir: dataDir, BackupRetention: 3, ReadOnly: true})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	state, err := st.LoadState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	removals, err := st.Removals(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	return state, removals
}

// integrityOK runs SQLite's own consistency check on the bot's state file; for Postgres, whose
// server keeps its files consistent itself, it checks that the store's schema opens (its
// migrations are complete) and reads.
func integrityOK(t *testing.T, dataDir, dbURL string) {
	t.Helper()
	if dbURL != "" {
		readStore(t, dataDir, dbURL)
		return
	}
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "authentik-matrix-sync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check = %q, %v", res, err)
	}
}

// noPendingLost checks the store the crash left behind: every user due to be removed is either
// still tracked (so the next cycle schedules or runs the removal), or, if the room shows them
// gone already, has a pending removal or a recorded one (so the next cycle recognises it).
func noPendingLost(t *testing.T, room id.RoomID, dataDir, dbURL string, sc crashScenario) {
	t.Helper()
	state, removals := readStore(t, dataDir, dbURL)
	for u := range sc.removed {
		if contains(sc.preRemoved, u) {
			continue
		}
		key := plan.RoomUser{Room: room, User: uid(u)}
		_, tracked := state.Members.Lookup(key)
		_, pending := state.Pending[key]
		recorded := false
		for _, r := range removals {
			recorded = recorded || (r.Room == room && r.User == uid(u))
		}
		m := membership(t, room, uid(u)).Membership
		gone := m == "leave" || m == "ban"
		switch {
		case gone && !pending && !recorded:
			t.Errorf("%s was removed but neither a pending removal nor a record remains", u)
		case !gone && !tracked:
			t.Errorf("%s is still in the room but no longer tracked: their removal would be lost", u)
		}
	}
}

// membershipEvents counts, per user, the membership events of each kind in the room's timeline.
func membershipEvents(t *testing.T, room id.RoomID) map[id.UserID]map[string]int {
	t.Helper()
	evs, err := env.hs.Messages(context.Background(), env.users["owner"], room, 500)
	if err != nil {
		t.Fatal(err)
	}
	out := map[id.UserID]map[string]int{}
	for _, ev := range evs {
		if ev.Type != "m.room.member" || ev.StateKey == nil {
			continue
		}
		var c struct {
			Membership string `json:"membership"`
		}
		if json.Unmarshal(ev.Content, &c) != nil {
			continue
		}
		u := id.UserID(*ev.StateKey)
		if out[u] == nil {
			out[u] = map[string]int{}
		}
		out[u][c.Membership]++
	}
	return out
}

// setGroup changes the group's members from before to after.
func setGroup(ak *authentiktest.Server, group string, before, after []string) {
	if gone := without(before, after); len(gone) > 0 {
		ak.RemoveMembers(group, gone...)
	}
	if added := without(after, before); len(added) > 0 {
		ak.AddMembers(group, added...)
	}
}

func groupMembers(ak *authentiktest.Server, group string) []string {
	g, _ := ak.Group(group)
	var out []string
	for _, pk := range g.Members {
		for _, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "ghost"} {
			if u, ok := ak.User(name); ok && u.PK == pk {
				out = append(out, name)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// without returns the items of a not in b.
func without(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	return len(without(a, b)) == 0 && len(without(b, a)) == 0
}
