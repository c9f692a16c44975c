package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"authentik-matrix-sync/e2e/harness"
)

// suite is what every scenario shares: one Synapse (with the appservice registered), the built
// binary, and a few accounts. Scenarios use their own rooms and groups, so they do not interfere.
type suite struct {
	hs       *harness.Synapse
	bin      string
	regPath  string
	asPort   int
	asBot    harness.User // the appservice bot, acting with the as_token
	client   harness.User // the client-mode bot, a server admin
	users    map[string]harness.User
	asToken  string
	workDir  string
	hsDomain string
}

var env *suite

const serverName = "localhost"

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	work, err := os.MkdirTemp("", "ams-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	s, err := setup(work)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup failed:", err)
		if s != nil && s.hs != nil {
			fmt.Fprintln(os.Stderr, s.hs.LogTail(40))
			_ = s.hs.Stop()
		}
		return 1
	}
	env = s
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "--- homeserver log tail ---\n"+s.hs.LogTail(30))
	}
	_ = s.hs.Stop()
	return code
}

func setup(work string) (*suite, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := &suite{workDir: work, users: map[string]harness.User{}, hsDomain: serverName}
	s.bin = filepath.Join(work, "authentik-matrix-sync")
	build := exec.CommandContext(ctx, "go", "build", "-o", s.bin, "../cmd/authentik-matrix-sync")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build the bot: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.asPort = port
	s.regPath = filepath.Join(work, "registration.yaml")
	// The registration comes from the binary's own -g, as an operator would make it.
	genConfig := filepath.Join(work, "generate.yaml")
	if err := writeYAML(genConfig, map[string]any{
		"homeserver": map[string]any{"address": "http://127.0.0.1:1", "domain": serverName},
		"appservice": map[string]any{"registration": s.regPath, "address": fmt.Sprintf("http://127.0.0.1:%d", port), "bot_username": "syncbot"},
		"authentik":  map[string]any{"url": "http://127.0.0.1:1", "token": "unused"},
	}); err != nil {
		return nil, err
	}
	gen := exec.CommandContext(ctx, s.bin, "-c", genConfig, "-g", "-r", s.regPath)
	gen.Dir = work
	if out, err := gen.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("generate the registration: %v\n%s", err, out)
	}
	reg, err := readRegistration(s.regPath)
	if err != nil {
		return nil, err
	}
	s.asToken = reg.ASToken
	s.hs, err = harness.Start(ctx, harness.Options{Dir: filepath.Join(work, "synapse"), ServerName: serverName,
		AppserviceRegistrations: []string{s.regPath}})
	if err != nil {
		return s, err
	}
	s.asBot = harness.User{ID: "@syncbot:" + serverName, Token: reg.ASToken}
	if err := registerAppserviceUser(ctx, s.hs.URL, reg.ASToken, "syncbot"); err != nil {
		return s, err
	}
	if s.client, err = s.hs.RegisterUser(ctx, "clientbot", "pw-clientbot", true); err != nil {
		return s, err
	}
	for _, name := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "owner"} {
		u, err := s.hs.RegisterUser(ctx, name, "pw-"+name, false)
		if err != nil {
			return s, err
		}
		s.users[name] = u
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
