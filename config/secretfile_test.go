package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// secretClock is a clock the test moves by hand.
type secretClock struct{ t time.Time }

func (c *secretClock) now() time.Time { return c.t }

func writeSecret(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecretFileFollowsItsFile: a file rewritten with a new token is used from the next look at
// it (at most once a second), or at once after a refusal; a file that cannot be used keeps the
// value read before and is reported once; the value never reaches the log.
func TestSecretFileFollowsItsFile(t *testing.T) {
	const oldToken, newToken, sameLength = "old-token-5e1f", "new-token-77a0-4b", "new-token-5e1f"
	tests := []struct {
		name string
		// change rewrites the file and returns the token Current gives then.
		change      func(t *testing.T, f *SecretFile, clock *secretClock) string
		want        string
		wantLog     []string
		wantNoLines int // 0: any number
	}{
		{name: "a rewritten file is read at the next look after a second",
			change: func(t *testing.T, f *SecretFile, clock *secretClock) string {
				writeSecret(t, f.path, newToken+"\n")
				if got := f.Current(); got != oldToken {
					t.Errorf("within the second: %q, want the old token", got)
				}
				clock.t = clock.t.Add(time.Second)
				return f.Current()
			},
			want: newToken, wantLog: []string{`"level":"info"`, "Secret file changed; using its new value", string(sAuthentikFile)}},
		{name: "a refusal reads the file at once, even with its size and time unchanged",
			change: func(t *testing.T, f *SecretFile, _ *secretClock) string {
				fi, _ := os.Stat(f.path)
				writeSecret(t, f.path, sameLength) // the same size
				if err := os.Chtimes(f.path, fi.ModTime(), fi.ModTime()); err != nil {
					t.Fatal(err)
				}
				if !f.Recheck() {
					t.Error("Recheck saw no new token")
				}
				if f.Recheck() {
					t.Error("a second Recheck saw a new token again")
				}
				return f.Current()
			},
			want: sameLength, wantLog: []string{"Secret file changed; using its new value"}},
		{name: "an emptied file keeps the old token, reported once",
			change: func(t *testing.T, f *SecretFile, clock *secretClock) string {
				writeSecret(t, f.path, "\n")
				for range 3 {
					clock.t = clock.t.Add(time.Second)
					f.Current()
					f.Recheck()
				}
				return f.Current()
			},
			want: oldToken, wantLog: []string{`"level":"warn"`, "Secret file cannot be used; keeping the value read before", "is empty; write the token into it"},
			wantNoLines: 1},
		{name: "a file being replaced (gone for a moment) keeps the old token, then takes the new one",
			change: func(t *testing.T, f *SecretFile, clock *secretClock) string {
				if err := os.Remove(f.path); err != nil {
					t.Fatal(err)
				}
				clock.t = clock.t.Add(time.Second)
				if got := f.Current(); got != oldToken {
					t.Errorf("while the file is gone: %q, want the old token", got)
				}
				writeSecret(t, f.path, newToken)
				clock.t = clock.t.Add(time.Second)
				return f.Current()
			},
			want: newToken, wantLog: []string{"cannot open", "Secret file changed; using its new value"}},
		{name: "a file of two lines keeps the old token",
			change: func(t *testing.T, f *SecretFile, _ *secretClock) string {
				writeSecret(t, f.path, newToken+"\nmore\n")
				if f.Recheck() {
					t.Error("Recheck took a file of two lines")
				}
				return f.Current()
			},
			want: oldToken, wantLog: []string{"holds more than one line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			writeSecret(t, path, oldToken+"\n")
			var logs bytes.Buffer
			clock := &secretClock{t: time.Unix(1_800_000_000, 0)}
			f := newSecretFile(sAuthentikFile, path, oldToken, zerolog.New(&logs))
			f.now, f.checked = clock.now, clock.now()
			if got := tt.change(t, f, clock); got != tt.want {
				t.Errorf("token %q, want %q", got, tt.want)
			}
			out := logs.String()
			for _, w := range tt.wantLog {
				if !strings.Contains(out, w) {
					t.Errorf("log lacks %q:\n%s", w, out)
				}
			}
			if tt.wantNoLines > 0 && strings.Count(out, "\n") != tt.wantNoLines {
				t.Errorf("%d log lines, want %d:\n%s", strings.Count(out, "\n"), tt.wantNoLines, out)
			}
			if strings.Contains(out, "token-") {
				t.Errorf("the log shows a token:\n%s", out)
			}
		})
	}
}

// TestLiveSecrets: only a secret read from a file can follow it; one given as a value cannot.
func TestLiveSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	writeSecret(t, file, "from-the-file\n")
	c := &Config{}
	c.Authentik.Token, c.Authentik.TokenFile = "from-the-file", file
	c.Matrix.AccessToken = "a-value"
	c.Webhook.Secret, c.Webhook.SecretFile = "from-the-file", file
	log := zerolog.Nop()
	if f := c.LiveAuthentikToken(log); f == nil || f.Current() != "from-the-file" || f.Path() != file ||
		f.Setting() != "Authentik token file (authentik.token_file / AUTHENTIK_TOKEN_FILE)" {
		t.Errorf("Authentik token: %+v", f)
	}
	if f := c.LiveWebhookSecret(log); f == nil || f.Setting() != string(sWebhookSecretFile) {
		t.Errorf("webhook secret: %+v", f)
	}
	if f := c.LiveMatrixAccessToken(log); f != nil {
		t.Errorf("an access token given as a value follows a file: %+v", f)
	}
	if f := c.LiveSCIMToken(log); f != nil {
		t.Errorf("no SCIM token, yet %+v", f)
	}
}
