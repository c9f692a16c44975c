package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/e2e/harness"
)

// runCommand runs the binary once with a bot's arguments and environment plus extra arguments.
func runCommand(t *testing.T, args, cmdEnv []string, extra ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, env.bin, append(append([]string{}, args...), extra...)...)
	cmd.Env = cmdEnv
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestPlanShowsActionsAndChangesNothing(t *testing.T) {
	room := newRoom(t, false, "plan")
	ak := directory(t, "staff", "alice", "bob")
	dataDir := t.TempDir() + "/data"
	args, cmdEnv := invocation(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}},
		dataDir, freeAddr(t))
	out, err := runCommand(t, args, cmdEnv, "plan")
	if err != nil {
		t.Fatalf("plan failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"invite @alice:localhost in " + string(room) + ": member of Authentik group staff",
		"invite @bob:localhost in " + string(room),
		"nothing was changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	if m := membership(t, room, uid("alice")); m.Membership != "" {
		t.Errorf("plan changed the room: alice is %q", m.Membership)
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("plan created the data directory (%v)", err)
	}
}

// TestPlanShowsSkippedUsersAsSkipped: a group member without a Matrix account is skipped by
// every cycle; plan says so, with the reason, instead of promising an invite, and the bot's
// cycle does what the plan said.
func TestPlanShowsSkippedUsersAsSkipped(t *testing.T) {
	room := newRoom(t, false, "plan-skipped")
	ak := directory(t, "staff", "alice", "ghost") // ghost has no Matrix account
	cfg := botConfig{grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}
	args, cmdEnv := invocation(t, ak, cfg, t.TempDir()+"/data", freeAddr(t))
	out, err := runCommand(t, args, cmdEnv, "plan")
	if err != nil {
		t.Fatalf("plan failed: %v\n%s", err, out)
	}
	ghost := string(uid("ghost"))
	for _, want := range []string{
		"invite @alice:localhost in " + string(room),
		"skipped: invite " + ghost + " in " + string(room),
		"no Matrix account yet",
		"1 of them in Matrix rooms, 1 skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "invite "+ghost) {
			t.Errorf("plan promises an invite that no cycle makes: %q", line)
		}
	}
	b := startBot(t, ak, cfg, "")
	waitMembership(t, room, uid("alice"), "invite")
	b.waitCycles(2)
	if m := membership(t, room, uid("ghost")); m.Membership != "" {
		t.Errorf("ghost is %q in the room", m.Membership)
	}
}

func TestHealthcheckSubcommand(t *testing.T) {
	room := newRoom(t, true, "health")
	ak := directory(t, "staff", "alice")
	b := startBot(t, ak, botConfig{appservice: true, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}, "")
	for _, extra := range [][]string{{"healthcheck"}, {"healthcheck", "-live"}} {
		if out, err := runCommand(t, b.args, b.env, extra...); err != nil {
			t.Fatalf("%v of a running, ready bot failed: %v\n%s", extra, err, out)
		}
	}
	b.stop()
	if out, err := runCommand(t, b.args, b.env, "healthcheck"); err == nil {
		t.Fatalf("healthcheck passed with the bot stopped:\n%s", out)
	}

	// A bot that cannot reach its homeserver stays in its start-up checks: alive, not ready.
	dead := freeAddr(t)
	stuck := launchBot(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}},
		edit: func(conf map[string]any) { conf["homeserver"].(map[string]any)["address"] = "http://" + dead }}, "")
	if err := harness.WaitFor(context.Background(), 20*time.Second, func() (bool, error) {
		out, err := runCommand(t, stuck.args, stuck.env, "healthcheck", "-live")
		return err == nil, fmt.Errorf("healthcheck -live: %v: %s", err, out)
	}); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, stuck.args, stuck.env, "healthcheck")
	if err == nil || !strings.Contains(out, "/ready answered 503") || !strings.Contains(out, "cycle: no finished cycle yet") {
		t.Fatalf("healthcheck of a bot stuck in its start-up = %v, want exit 1 naming the failed check:\n%s", err, out)
	}
}

func TestStartRefusesWhatCannotWork(t *testing.T) {
	room := newRoom(t, false, "refuse")
	tests := []struct {
		name string
		cfg  botConfig
		env  []string
		want string
	}{
		{name: "force join through the admin API with a bot that is not a server admin",
			cfg:  botConfig{joinMethod: "force", forceVia: "admin_api", asUser: env.users["erin"]},
			want: "not a server admin"},
		{name: "an unknown join method",
			cfg: botConfig{envOnly: true}, env: []string{"JOIN_METHOD=sometimes"}, want: "JOIN_METHOD"},
		{name: "malformed mappings",
			cfg: botConfig{envOnly: true}, env: []string{`SYNC_MAPPINGS=[{"group":"x"`}, want: "SYNC_MAPPINGS"},
	}
	ak := directory(t, "staff", "alice")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.grace = time.Hour
			cfg.mappings = []mapping{{Group: "staff", Room: room}}
			args, cmdEnv := invocation(t, ak, cfg, t.TempDir()+"/data", freeAddr(t))
			out, err := runCommand(t, args, append(cmdEnv, tt.env...))
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("start = %v, want a failure naming %q; output:\n%s", err, tt.want, out)
			}
			for _, secret := range []string{authentikToken, env.client.Token, env.users["erin"].Token, env.asToken} {
				if strings.Contains(out, secret) {
					t.Fatalf("a secret appears in the output:\n%s", out)
				}
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}
