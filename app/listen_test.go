package app

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"authentik-matrix-sync/internal/stdiotest"
)

// TestAddressInUseStopsBeforeAnythingRuns takes the address of each listener in turn: the bot
// must stop with an error naming the address and the setting to change, before it opens its
// store or asks the homeserver or Authentik anything, so that no cycle ever runs and the log holds
// no line about a cycle or the store ahead of the error.
func TestAddressInUseStopsBeforeAnythingRuns(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name    string
		config  string // YAML; %ADDR% is the address in use, %HOST% and %PORT% its parts
		setting string
	}{
		{"metrics", `matrix: {user_id: "@bot:example.org", access_token: "x"}
metrics: {listen: "%ADDR%"}`, "metrics.listen"},
		{"appservice", `metrics: {listen: ""}
appservice: {as_token: "as", hs_token: "hs", hostname: "%HOST%", port: %PORT%}`, "appservice.port"},
		{"webhook", `matrix: {user_id: "@bot:example.org", access_token: "x"}
metrics: {listen: ""}
webhook: {listen: "%ADDR%", secret: "` + secret + `"}`, "webhook.listen"},
		{"SCIM on its own address", `matrix: {user_id: "@bot:example.org", access_token: "x"}
metrics: {listen: ""}
scim: {listen: "%ADDR%", token: "` + secret + `"}`, "scim.listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int64
			upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				asked.Add(1)
				http.Error(w, "not here", http.StatusServiceUnavailable)
			}))
			defer upstream.Close()
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			addr := taken.Addr().String()
			host, port, _ := net.SplitHostPort(addr)

			dir := t.TempDir()
			dataDir := filepath.Join(dir, "data")
			config := `homeserver: {address: "` + upstream.URL + `", domain: "example.org"}
authentik: {url: "` + upstream.URL + `", token: "y"}
database: {data_dir: "` + dataDir + `"}
sync: {mappings: [{group: "staff", space: "!room:example.org"}]}
` + strings.NewReplacer("%ADDR%", addr, "%HOST%", host, "%PORT%", port).Replace(tc.config) + "\n"
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
				t.Fatal(err)
			}
			// Without the early bind the bot would keep retrying its start-up checks against
			// the failing upstream; the deadline only ends such a run.
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, logged := stdiotest.Capture(t, func() { err = RunBot(ctx, path) })
			if err == nil {
				t.Fatal("runBot returned nil with its address in use")
			}
			for _, want := range []string{addr, tc.setting, "address already in use"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			for _, line := range lines(logged) {
				if strings.Contains(line, "Cycle") || strings.Contains(line, "store") || strings.Contains(line, `"level":"error"`) {
					t.Errorf("logged before the error: %s", line)
				}
			}
			if !strings.Contains(logged, "Starting authentik-matrix-sync") {
				t.Errorf("the log lacks the start line; was it captured?\n%s", logged)
			}
			if n := asked.Load(); n != 0 {
				t.Errorf("the homeserver and Authentik were asked %d time(s) before the bot stopped", n)
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Errorf("the store was opened before the bot stopped (data dir: %v)", err)
			}
		})
	}
}
