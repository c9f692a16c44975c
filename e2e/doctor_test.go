package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// runDoctor runs `doctor` with a bot's configuration and returns its output and exit code.
func runDoctor(t *testing.T, args, cmdEnv []string) (string, int) {
	t.Helper()
	out, err := runCommand(t, args, cmdEnv, "doctor")
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("doctor did not run: %v\n%s", err, out)
		}
		code = ee.ExitCode()
	}
	return out, code
}

func TestDoctor(t *testing.T) {
	for _, appservice := range []bool{false, true} {
		mode := "client"
		if appservice {
			mode = "appservice"
		}
		t.Run(mode, func(t *testing.T) { testDoctor(t, appservice) })
	}
}

func testDoctor(t *testing.T, appservice bool) {
	room := newRoom(t, appservice, "doctor")
	weak := roomWithBot(t, appservice, "doctor-weak", nil) // the bot at power level 0
	ak := directory(t, "staff", "alice")
	ak.AddUnprivilegedToken("unprivileged-token-1234")
	base := botConfig{appservice: appservice, grace: time.Hour, mappings: []mapping{{Group: "staff", Room: room}}}

	t.Run("all green", func(t *testing.T) {
		dataDir := t.TempDir() + "/data"
		args, cmdEnv := invocation(t, ak, base, dataDir, freeAddr(t))
		out, code := runDoctor(t, args, cmdEnv)
		if code != 0 {
			t.Fatalf("doctor exited %d on a working setup:\n%s", code, out)
		}
		t.Logf("doctor output:\n%s", out)
		wants := []string{"PASS  Authentik reachable", "PASS  Authentik token", "valid, belongs to user",
			"PASS  Authentik version", "2025.12.4", "PASS  Authentik permissions", `PASS  Authentik group "staff"`,
			"PASS  Homeserver reachable", "PASS  Bot identity", "PASS  Room " + string(room), "All "}
		if appservice {
			wants = append(wants, "PASS  Appservice registration")
		}
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// It writes nothing: no state, nobody invited.
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("doctor created the data directory (%v)", err)
		}
		if m := membership(t, room, uid("alice")); m.Membership != "" {
			t.Errorf("doctor changed the room: alice is %q", m.Membership)
		}
	})

	unreachable := "http://" + freeAddr(t)
	tests := []struct {
		name  string
		cfg   botConfig
		edit  func(conf map[string]any)
		wants []string
	}{
		{name: "bad token",
			edit:  func(conf map[string]any) { conf["authentik"].(map[string]any)["token"] = "not-the-token" },
			wants: []string{"FAIL  Authentik token", "Token invalid/expired", "fix: create an API token", "SKIP  Authentik groups"}},
		{name: "token without permission",
			edit:  func(conf map[string]any) { conf["authentik"].(map[string]any)["token"] = "unprivileged-token-1234" },
			wants: []string{"PASS  Authentik token", "FAIL  Authentik permissions", "may not list users or groups", "authentik_core.view_user"}},
		{name: "missing group",
			cfg:   botConfig{mappings: []mapping{{Group: "Staf", Room: room}}},
			wants: []string{`FAIL  Authentik group "Staf"`, `fix: did you mean "staff"?`}},
		{name: "bot without power in a room",
			cfg:   botConfig{mappings: []mapping{{Group: "staff", Room: room}, {Group: "staff", Room: weak}}},
			wants: []string{"PASS  Room " + string(room), "FAIL  Room " + string(weak), "the bot has level 0; kick needs 50", "fix: raise " + string(botUser(appservice).ID) + " to power level 50"}},
		{name: "homeserver refuses the bot's token",
			edit: func(conf map[string]any) {
				if appservice {
					conf["appservice"].(map[string]any)["registration"] = registrationWithToken(t, "an-as-token-the-homeserver-does-not-know")
				} else {
					conf["matrix"].(map[string]any)["access_token"] = "syt_not_a_token_the_homeserver_knows"
				}
			},
			wants: tokenWants(appservice)},
		{name: "unreachable Authentik",
			edit:  func(conf map[string]any) { conf["authentik"].(map[string]any)["url"] = unreachable },
			wants: []string{"FAIL  Authentik reachable", "connection refused", "fix: check AUTHENTIK_URL (" + unreachable + ")", "SKIP  Authentik token", "PASS  Homeserver reachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			if tt.cfg.mappings != nil {
				cfg.mappings = tt.cfg.mappings
			}
			cfg.edit = tt.edit
			args, cmdEnv := invocation(t, ak, cfg, t.TempDir()+"/data", freeAddr(t))
			out, code := runDoctor(t, args, cmdEnv)
			if code != 1 {
				t.Errorf("doctor exited %d, want 1", code)
			}
			t.Logf("doctor output:\n%s", out)
			for _, want := range append(tt.wants, "checks did not pass.") {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, secret := range []string{authentikToken, env.client.Token, env.asToken} {
				if strings.Contains(out, secret) {
					t.Fatalf("a secret appears in the output:\n%s", out)
				}
			}
		})
	}
}

// tokenWants is what doctor says of a token the homeserver does not know: the homeserver is
// reachable (it answered), and the bot identity line says what `run` says.
func tokenWants(appservice bool) []string {
	if appservice {
		return []string{"PASS  Homeserver reachable", "FAIL  Bot identity", "check as_token: the homeserver rejects it",
			"add the registration file to app_service_config_files"}
	}
	return []string{"PASS  Homeserver reachable", "FAIL  Bot identity", "check access token: the homeserver rejects it", "create a new token"}
}

// registrationWithToken writes a copy of the registration whose as_token the homeserver does not
// know, as after `-g` made new tokens without a homeserver restart.
func registrationWithToken(t *testing.T, token string) string {
	t.Helper()
	data, err := os.ReadFile(env.regPath)
	if err != nil {
		t.Fatal(err)
	}
	var reg map[string]any
	if err := yaml.Unmarshal(data, &reg); err != nil {
		t.Fatal(err)
	}
	reg["as_token"] = token
	path := filepath.Join(t.TempDir(), "registration.yaml")
	if err := writeYAML(path, reg); err != nil {
		t.Fatal(err)
	}
	return path
}
