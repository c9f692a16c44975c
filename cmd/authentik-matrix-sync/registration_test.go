package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/internal/stdiotest"
)

// TestGenerateKeepsAnExistingRegistration: -g writes a registration where there is none, refuses
// to replace one (its tokens are what the homeserver knows until it restarts) unless -force is
// given, and -force belongs to -g.
func TestGenerateKeepsAnExistingRegistration(t *testing.T) {
	const previous = "# the registration the homeserver knows\nas_token: old\n"
	tests := []struct {
		name       string
		existing   bool // a registration is there before the run
		flags      []string
		wantCode   int
		wantStderr []string
		replaced   bool // the file holds a new registration afterwards
	}{
		{name: "no file yet", flags: []string{"-g"}, replaced: true},
		{name: "an existing file is kept", existing: true, flags: []string{"-g"}, wantCode: 1,
			wantStderr: []string{"registration.yaml exists", "new tokens", "does not know until it restarts", "pass -force to overwrite it anyway"}},
		{name: "-force overwrites", existing: true, flags: []string{"-g", "-force"}, replaced: true},
		{name: "-force after -r", existing: true, flags: []string{"-g", "-r", "REG", "-force"}, replaced: true},
		{name: "-force without -g", existing: true, flags: []string{"-force"}, wantCode: 2, wantStderr: []string{"-force belongs to -g"}},
		{name: "-force before restore", existing: true, flags: []string{"-force", "restore", "backup.db"}, wantCode: 2,
			wantStderr: []string{"restore -force FILE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.yaml")
			conf := "homeserver: {address: \"http://127.0.0.1:1\", domain: example.org}\n" +
				"appservice: {address: \"http://127.0.0.1:29333\"}\n"
			if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			reg := filepath.Join(dir, "registration.yaml")
			if tc.existing {
				if err := os.WriteFile(reg, []byte(previous), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"-c", cfg, "-r", reg}
			for _, f := range tc.flags {
				args = append(args, strings.ReplaceAll(f, "REG", reg))
			}
			var code int
			stdout, stderr := stdiotest.Capture(t, func() { code = run(args) })
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			for _, want := range tc.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
			data, err := os.ReadFile(reg)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.replaced {
				if tc.existing && string(data) != previous {
					t.Errorf("the existing registration was changed:\n%s", data)
				}
				return
			}
			r, err := appservice.LoadRegistration(reg)
			if err != nil {
				t.Fatalf("the written registration does not load: %v", err)
			}
			if r.ASToken == "" || r.ASToken == "old" {
				t.Errorf("as_token %q, want a new one", r.ASToken)
			}
			if tc.existing && !strings.Contains(stdout, "restart Synapse") {
				t.Errorf("overwriting does not say to restart Synapse:\n%s", stdout)
			}
		})
	}
}
