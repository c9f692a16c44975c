package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

const authentikToken = "e2e-authentik-token-7c1f"

// mapping is one group → room line of the bot's config.
type mapping struct {
	Group  string    `yaml:"group"`
	Room   id.RoomID `yaml:"room"`
	Method string    `yaml:"method,omitempty"`
	Rejoin bool      `yaml:"rejoin,omitempty"`
}

// botConfig is what a scenario varies.
type botConfig struct {
	appservice   bool
	joinMethod   string
	forceVia     string
	removeAction string
	grace        time.Duration
	pageSize     int
	mappings     []mapping
	// envOnly configures the bot by environment variables alone, no file.
	envOnly bool
	// asUser replaces the client-mode bot account (default: the server-admin "clientbot").
	asUser harness.User
	// edit changes the config file before it is written (admin room, guard settings…).
	edit func(conf map[string]any)
	// databaseURL puts the state in Postgres (a postgres:// URL) instead of SQLite in dataDir.
	databaseURL string
}

// bot is a running authentik-matrix-sync process.
type bot struct {
	t       *testing.T
	cmd     *exec.Cmd
	logPath string
	health  string
	dataDir string
	args    []string
	env     []string
	done    chan struct{}
	exitErr error
}

func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func readRegistration(path string) (struct {
	ASToken string `yaml:"as_token"`
}, error) {
	var reg struct {
		ASToken string `yaml:"as_token"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return reg, err
	}
	if err := yaml.Unmarshal(b, &reg); err != nil || reg.ASToken == "" {
		return reg, fmt.Errorf("registration %s has no as_token (%v)", path, err)
	}
	return reg, nil
}

// registerAppserviceUser creates the appservice's bot account, as the bot does at start, so that
// rooms can invite it before the first bot process runs.
func registerAppserviceUser(ctx context.Context, hsURL, asToken, localpart string) error {
	body, _ := json.Marshal(map[string]any{"type": "m.login.application_service", "username": localpart})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hsURL+"/_matrix/client/v3/register", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+asToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 && resp.StatusCode != 400 { // 400 M_USER_IN_USE: already there
		return fmt.Errorf("register appservice user: %s", resp.Status)
	}
	return nil
}

// newAuthentik starts a fake Authentik for one scenario.
func newAuthentik(t *testing.T) *authentiktest.Server {
	t.Helper()
	ak := authentiktest.New(authentikToken)
	t.Cleanup(ak.Close)
	return ak
}

// botUser is the Matrix account the bot acts as in the given mode.
func botUser(appservice bool) harness.User {
	if appservice {
		return env.asBot
	}
	return env.client
}

// newRoom creates a private room owned by "owner" in which the bot of the given mode is joined
// with power level 100.
func newRoom(tb testing.TB, appservice bool, name string) id.RoomID {
	tb.Helper()
	return roomWithBot(tb, appservice, name, map[id.UserID]int{botUser(appservice).ID: 100})
}

// roomWithBot creates a private room owned by "owner" with the given initial power levels (nil:
// the defaults, the bot at 0) and joins the bot of the given mode to it.
func roomWithBot(tb testing.TB, appservice bool, name string, levels map[id.UserID]int) id.RoomID {
	tb.Helper()
	ctx := context.Background()
	b := botUser(appservice)
	room, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: name,
		Invite: []id.UserID{b.ID}, PowerLevelUsers: levels})
	if err != nil {
		tb.Fatal(err)
	}
	if err := env.hs.Join(ctx, b, room); err != nil {
		tb.Fatalf("bot joins %s: %v", name, err)
	}
	return room
}

// invocation returns the arguments and environment that run the binary with cfg.
func invocation(t testing.TB, ak *authentiktest.Server, cfg botConfig, dataDir, healthAddr string) ([]string, []string) {
	t.Helper()
	grace := cfg.grace
	var mappings []map[string]any
	for _, m := range cfg.mappings {
		mappings = append(mappings, map[string]any{"group": m.Group, "room": string(m.Room), "method": m.Method, "rejoin": m.Rejoin})
	}
	cmdEnv := append(os.Environ(), "LOG_LEVEL=debug", "LOG_FORMAT=json")
	if cfg.envOnly {
		if grace%time.Minute != 0 {
			t.Fatal("an env-only bot takes the grace period in whole minutes")
		}
		mj, _ := json.Marshal(cfg.mappings)
		cmdEnv = append(cmdEnv,
			"AUTHENTIK_URL="+ak.URL(), "AUTHENTIK_TOKEN="+authentikToken,
			"MATRIX_HOMESERVER_URL="+env.hs.URL, "MATRIX_USER_ID="+string(cfg.clientUser().ID),
			"MATRIX_ACCESS_TOKEN="+cfg.clientUser().Token, "SYNC_MAPPINGS="+string(mj),
			"SYNC_INTERVAL_SECONDS=1", fmt.Sprintf("CLEANUP_GRACE_PERIOD_MINUTES=%d", int(grace.Minutes())),
			"DATA_DIR="+dataDir, "HEALTH_LISTEN="+healthAddr)
		if cfg.databaseURL != "" {
			cmdEnv = append(cmdEnv, "DATABASE_URL="+cfg.databaseURL)
		}
		if cfg.joinMethod != "" {
			cmdEnv = append(cmdEnv, "JOIN_METHOD="+cfg.joinMethod)
		}
		if cfg.removeAction != "" {
			cmdEnv = append(cmdEnv, "REMOVE_ACTION="+cfg.removeAction)
		}
		return nil, cmdEnv
	}
	conf := map[string]any{
		"homeserver": map[string]any{"address": env.hs.URL, "domain": serverName},
		"authentik":  map[string]any{"url": ak.URL(), "token": authentikToken},
		"sync": map[string]any{"interval": "1s", "grace_period": grace.String(), "mappings": mappings,
			"join_method": orDefault(cfg.joinMethod, "invite"), "remove_action": orDefault(cfg.removeAction, "kick"),
			// Scenarios that inject faults wait for a few cycles; a 4 s cap keeps the back-off short.
			"max_backoff": "4s"},
		"database": map[string]any{"data_dir": dataDir, "uri": cfg.databaseURL},
		"health":   map[string]any{"listen": healthAddr},
		"matrix":   map[string]any{"force_join_via": orDefault(cfg.forceVia, "auto")},
	}
	if cfg.pageSize > 0 {
		conf["authentik"].(map[string]any)["page_size"] = cfg.pageSize
	}
	if cfg.appservice {
		conf["appservice"] = map[string]any{"registration": env.regPath, "hostname": "127.0.0.1", "port": env.asPort}
	} else {
		m := conf["matrix"].(map[string]any)
		m["user_id"] = string(cfg.clientUser().ID)
		m["access_token"] = cfg.clientUser().Token
	}
	if cfg.edit != nil {
		cfg.edit(conf)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := writeYAML(path, conf); err != nil {
		t.Fatal(err)
	}
	return []string{"-c", path}, cmdEnv
}

// clientUser is the account a client-mode bot acts as: the server-admin bot unless the scenario
// names another.
func (c botConfig) clientUser() harness.User {
	if c.asUser.ID != "" {
		return c.asUser
	}
	return env.client
}

// startBot runs the binary with a config for this scenario and waits for its first cycle.
// dataDir "" gives a fresh one.
func startBot(t *testing.T, ak *authentiktest.Server, cfg botConfig, dataDir string) *bot {
	t.Helper()
	b := launchBot(t, ak, cfg, dataDir)
	b.waitCycles(1)
	return b
}

// launchBot starts the binary without waiting for anything.
func launchBot(t *testing.T, ak *authentiktest.Server, cfg botConfig, dataDir string) *bot {
	t.Helper()
	if dataDir == "" {
		dataDir = filepath.Join(t.TempDir(), "data")
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &bot{t: t, health: fmt.Sprintf("127.0.0.1:%d", port), dataDir: dataDir, done: make(chan struct{}),
		logPath: filepath.Join(t.TempDir(), "bot.log")}
	args, cmdEnv := invocation(t, ak, cfg, dataDir, b.health)
	b.args, b.env = args, cmdEnv
	logFile, err := os.Create(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(env.bin, args...)
	b.cmd.Env = cmdEnv
	b.cmd.Dir = t.TempDir()
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.exitErr = b.cmd.Wait(); logFile.Close(); close(b.done) }()
	t.Cleanup(func() {
		b.stop()
		b.checkLogHasNoSecrets()
		if t.Failed() {
			t.Logf("bot log tail:\n%s", b.logTail(60))
		}
	})
	return b
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// stop sends SIGTERM and waits for the process to end.
func (b *bot) stop() {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		b.t.Errorf("bot did not stop within 15 s of SIGTERM")
	}
}

func (b *bot) logTail(n int) string {
	data, _ := os.ReadFile(b.logPath)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logLines returns the bot's JSON log lines whose message contains msg.
func (b *bot) logLines(msg string) []map[string]any { return logLinesAt(b.logPath, msg) }

// logLinesAt returns the JSON log lines of the bot logging to path whose message contains msg.
func logLinesAt(path, msg string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) == nil {
			if m, _ := line["message"].(string); strings.Contains(m, msg) {
				out = append(out, line)
			}
		}
	}
	return out
}

// lastCycle reads the bot's /health and returns the id of its last cycle.
func (b *bot) lastCycle() (string, error) {
	resp, err := http.Get("http://" + b.health + "/health")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var rep struct {
		LastCycle *struct {
			ID string `json:"id"`
		} `json:"last_cycle"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return "", err
	}
	if rep.LastCycle == nil {
		return "", fmt.Errorf("no cycle finished yet")
	}
	return rep.LastCycle.ID, nil
}

// waitCycles waits until n more cycles have finished.
func (b *bot) waitCycles(n int) {
	b.t.Helper()
	prev, _ := b.lastCycle()
	seen := 0
	err := harness.WaitFor(context.Background(), time.Duration(n)*5*time.Second+20*time.Second, func() (bool, error) {
		select {
		case <-b.done:
			return false, fmt.Errorf("bot exited")
		default:
		}
		cur, err := b.lastCycle()
		if err != nil {
			return false, err
		}
		if cur != prev {
			seen++
			prev = cur
		}
		return seen >= n, fmt.Errorf("%d of %d cycles seen", seen, n)
	})
	if err != nil {
		b.t.Fatalf("waiting for %d cycles: %v", n, err)
	}
}

// waitMembership waits until Synapse reports user's membership in room as want ("" = none).
func waitMembership(t *testing.T, room id.RoomID, user id.UserID, want string) harness.Membership {
	t.Helper()
	var got harness.Membership
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		ms, err := env.hs.Memberships(context.Background(), room)
		if err != nil {
			return false, err
		}
		got = ms[user]
		return got.Membership == want, fmt.Errorf("%s is %q in %s, want %q", user, got.Membership, room, want)
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// membership returns user's membership in room now.
func membership(t *testing.T, room id.RoomID, user id.UserID) harness.Membership {
	t.Helper()
	ms, err := env.hs.Memberships(context.Background(), room)
	if err != nil {
		t.Fatal(err)
	}
	return ms[user]
}
