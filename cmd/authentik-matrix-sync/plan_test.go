package main

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestHealthcheckFlagAfterTheCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every check fails
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	content := `homeserver: {address: "http://127.0.0.1:1"}
matrix: {user_id: "@bot:example.org", access_token: "x"}
authentik: {url: "http://127.0.0.1:1", token: "y"}
metrics: {listen: "` + addr + `"}
`
	if err := os.WriteFile(cfg, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// A failed check exits 1; a flag that did not parse would exit 2.
	for _, args := range [][]string{{"-c", cfg, "healthcheck"}, {"-c", cfg, "healthcheck", "-live"}, {"healthcheck", "-live", "-c", cfg}} {
		if code := run(args); code != 1 {
			t.Errorf("run(%v) = %d, want 1", args, code)
		}
	}
	if code := run([]string{"-c", cfg, "healthcheck", "extra"}); code != 2 {
		t.Errorf("an extra argument after the command: exit %d, want 2", code)
	}
}
