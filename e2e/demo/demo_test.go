package main

import (
	"bytes"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/e2e/harness"
)

func TestLocalizeMatrixIDs(t *testing.T) {
	tests := []struct {
		name      string
		attrs     map[string]any
		want      any // the attribute afterwards; nil: absent
		wantNotes int
	}{
		{"other server moves", map[string]any{"matrix_id": "@carol.chen:example.org"}, "@carol.chen:localhost", 1},
		{"already local stays", map[string]any{"matrix_id": "@carol:localhost"}, "@carol:localhost", 0},
		{"no attribute", map[string]any{}, nil, 0},
		{"not a Matrix ID is left for the bot to report", map[string]any{"matrix_id": "carol"}, "carol", 0},
		{"not a string is left too", map[string]any{"matrix_id": 7}, 7, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := authentiktest.Seed{Users: []authentiktest.SeedUser{{Username: "carol", Attributes: tc.attrs}}}
			before := maps.Clone(tc.attrs)
			got, notes := localizeMatrixIDs(seed, "matrix_id", "localhost")
			if v := got.Users[0].Attributes["matrix_id"]; !reflect.DeepEqual(v, tc.want) {
				t.Errorf("matrix_id = %#v, want %#v", v, tc.want)
			}
			if len(notes) != tc.wantNotes {
				t.Errorf("notes = %q, want %d", notes, tc.wantNotes)
			}
			if !reflect.DeepEqual(tc.attrs, before) {
				t.Errorf("the input seed changed: %v → %v", before, tc.attrs)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	rooms := map[id.RoomID]string{"!eng:localhost": "Engineering"}
	tests := []struct {
		name   string
		line   string
		want   string
		wantOK bool
	}{
		{"action with a known room",
			`{"level":"info","action":"invite","user":"@a:localhost","room":"!eng:localhost","reason":"member of Authentik group engineering","message":"Invited user"}`,
			"Invited user @a:localhost in Engineering: member of Authentik group engineering", true},
		{"unknown room shows its ID",
			`{"level":"info","user":"@a:localhost","room":"!x:localhost","message":"Kicked user"}`,
			"Kicked user @a:localhost in !x:localhost", true},
		{"warning with an error",
			`{"level":"warn","group":"staff","error":"page 2: HTTP 500","message":"Group membership unknown this cycle"}`,
			"warning: Group membership unknown this cycle (group staff) — page 2: HTTP 500", true},
		{"due time relative to the line",
			`{"level":"info","user":"@e:localhost","due_at":"2026-01-01T10:00:30Z","time":"2026-01-01T10:00:00Z","message":"Removal scheduled"}`,
			"Removal scheduled @e:localhost, due in 30s", true},
		{"debug is dropped", `{"level":"debug","message":"Tracking member"}`, "", false},
		{"idle cycle is dropped",
			`{"level":"info","done":{},"failed":{},"skipped":{"force_join":1},"message":"Cycle finished"}`, "", false},
		{"busy cycle is counted",
			`{"level":"info","done":{"invite":4,"force_join":3},"failed":{},"message":"Cycle finished"}`,
			"cycle finished, done: force_join 3, invite 4", true},
		{"failing cycle is a warning",
			`{"level":"warn","done":{},"failed":{"kick":1},"message":"Cycle finished"}`,
			"warning: cycle finished, failed: kick 1", true},
		{"plain text passes", "authentik-matrix-sync: config: 2 problems", "authentik-matrix-sync: config: 2 problems", true},
		{"blank line is dropped", "  ", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := summarize([]byte(tc.line), rooms)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("summarize = %q, %t; want %q, %t", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestLogSummaryJoinsPartialWrites(t *testing.T) {
	var buf bytes.Buffer
	s := newLogSummary(newConsole(&buf), nil)
	writes := []string{`{"level":"info","mess`, `age":"one"}` + "\n" + `{"level":"info","message":"two"}` + "\n{", `"level":"info"`}
	for _, w := range writes {
		if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		got = append(got, strings.TrimSpace(line[strings.Index(line, "bot:"):]))
	}
	if want := []string{"bot: one", "bot: two"}; !reflect.DeepEqual(got, want) {
		t.Errorf("printed %q, want %q (the unfinished third line waits for its newline)", got, want)
	}
}

func TestRenderTable(t *testing.T) {
	people := []person{
		{Username: "alice", UserID: "@alice:localhost"},
		{Username: "dave", UserID: "@dave:localhost", Inactive: true},
		{Username: "erin", UserID: "@erin:localhost"},
		{Username: "frank", UserID: "@frank:localhost", NoAccount: true},
	}
	bot := id.UserID("@syncbot:localhost")
	states := []map[id.UserID]harness.Membership{
		{
			"@alice:localhost": {Membership: "invite", Sender: bot},
			"@erin:localhost":  {Membership: "leave", Sender: bot},
			bot:                {Membership: "join", Sender: bot},
		},
		{
			"@alice:localhost": {Membership: "leave", Sender: "@alice:localhost"},
			"@erin:localhost":  {Membership: "ban", Sender: bot},
			"@zed:localhost":   {Membership: "join", Sender: "@zed:localhost"},
		},
	}
	got := renderTable([]string{"Staff", "Engineering"}, people, states, map[id.UserID]bool{bot: true})
	want := `Authentik user      Matrix user                    Staff    Engineering
alice               @alice:localhost               invited  left
dave (inactive)     @dave:localhost                -        -
erin                @erin:localhost                kicked   banned
frank               @frank:localhost (no account)  -        -
(not in Authentik)  @zed:localhost                 -        joined
`
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestBotEnvDropsTheBotsVariables(t *testing.T) {
	in := []string{"PATH=/bin", "AUTHENTIK_URL=https://real.example", "LOG_LEVEL=debug", "HOME=/root", "AUTHENTIK_URLX=kept"}
	want := []string{"PATH=/bin", "HOME=/root", "AUTHENTIK_URLX=kept"}
	if got := botEnv(in); !reflect.DeepEqual(got, want) {
		t.Errorf("botEnv = %q, want %q", got, want)
	}
	if len(in) != 5 || in[1] != "AUTHENTIK_URL=https://real.example" {
		t.Errorf("botEnv changed its input: %q", in)
	}
}

// The config the demo writes must be one the bot accepts, with the values the demo relies on.
func TestBotConfigLoads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	cfg := botConfig{
		HomeserverURL: "http://127.0.0.1:8008", ServerName: serverName, Registration: filepath.Join(dir, "registration.yaml"),
		AppservicePort: 29333, BotUsername: botUsername, AuthentikURL: "http://127.0.0.1:9000", AuthentikToken: authentikToken,
		Interval: syncInterval, GracePeriod: gracePeriod, Rooms: demoRooms(), Template: mappingTemplate,
		Attribute: mappingAttribute, DataDir: filepath.Join(dir, "data"), HealthListen: "127.0.0.1:9100",
	}
	if err := writeBotConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	// As for -g: the registration does not exist yet.
	got, err := config.LoadForGenerate(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("the bot refuses the demo's config: %v", err)
	}
	wantMappings := []config.Mapping{
		{Group: "staff", Room: "#staff:localhost", Method: "invite"},
		{Group: "engineering", Room: "#engineering:localhost", Method: "force"},
		{Group: "admins", Room: "#admins:localhost", Method: "force"},
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"mappings", got.Sync.Mappings, wantMappings},
		{"interval", got.Sync.Interval, 5 * time.Second},
		{"grace period", got.Sync.GracePeriod, 30 * time.Second},
		{"appservice mode", got.AppserviceMode(), true},
		{"appservice address", got.Appservice.Address, "http://127.0.0.1:29333"},
		{"appservice port", got.Appservice.Port, 29333},
		{"bot user", got.Matrix.UserID, "@syncbot:localhost"},
		{"data dir", got.Database.DataDir, filepath.Join(dir, "data")},
		{"log format", got.Logging.Format, "json"},
		{"warnings", len(got.Warnings), 0},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
}
