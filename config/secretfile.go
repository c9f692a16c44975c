package config

import (
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// SecretFile is a secret read from a file (a *_FILE setting) and read again when that file
// changes, so that a rotated token takes effect without a restart. Current looks at the file's
// size and modification time at most once a second (a stat, no read) and reads it again when
// either moved; Recheck, called after the secret was refused, reads it at once. A new value is
// taken only when it is a valid secret (one line, not empty); otherwise the value read before
// stays and a warning names the setting. The value itself is never logged. It is safe for
// concurrent use.
type SecretFile struct {
	setting setting
	path    string
	log     zerolog.Logger
	now     func() time.Time
	every   time.Duration

	mu      sync.Mutex
	value   string
	stamp   fileStamp // of the file the value was last compared with
	checked time.Time // of the last look at the file
	problem string    // the last problem reported, so that it is reported once
}

// fileStamp is what a stat tells of a file's content without reading it.
type fileStamp struct {
	size int64
	mod  time.Time
}

// secretFileCheckEvery is how often Current looks at the file.
const secretFileCheckEvery = time.Second

func newSecretFile(s setting, path, value string, log zerolog.Logger) *SecretFile {
	f := &SecretFile{setting: s, path: path, log: log, now: time.Now, every: secretFileCheckEvery, value: value}
	f.stamp, _ = statSecret(path)
	f.checked = f.now()
	return f
}

func statSecret(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

// Setting names the setting as an operator knows it.
func (f *SecretFile) Setting() string { return string(f.setting) }

// Path is the file the secret is read from.
func (f *SecretFile) Path() string { return f.path }

// Current is the secret as the file holds it now (or, while the file cannot be used, as it was
// last read).
func (f *SecretFile) Current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.checked) >= f.every {
		f.checked = now
		if st, err := statSecret(f.path); err != nil || st != f.stamp {
			f.reload()
		}
	}
	return f.value
}

// Recheck reads the file now, after the secret was refused, and reports whether it holds
// another valid secret than before, which Current then returns.
func (f *SecretFile) Recheck() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = f.now()
	return f.reload()
}

// reload reads the file and takes its secret when it is valid and new; f.mu is held.
func (f *SecretFile) reload() bool {
	st, _ := statSecret(f.path)
	value, err := readSecret(f.path)
	f.stamp = st
	if err != nil {
		if msg := err.Error(); msg != f.problem {
			f.problem = msg
			f.log.Warn().Str("setting", string(f.setting)).Str("problem", msg).
				Msg("Secret file cannot be used; keeping the value read before")
		}
		return false
	}
	f.problem = ""
	if value == f.value {
		return false
	}
	f.value = value
	f.log.Info().Str("setting", string(f.setting)).Str("path", f.path).Msg("Secret file changed; using its new value")
	return true
}

// The secrets below are the ones that can be swapped while the program runs. The appservice
// as_token and hs_token come from the registration file, which the homeserver reads only when
// it starts; the MAS client secret is held by the MAS client for its whole life: a change to
// any of those takes a restart.

// LiveAuthentikToken is the Authentik token when it is read from a file (authentik.token_file /
// AUTHENTIK_TOKEN_FILE), else nil.
func (c *Config) LiveAuthentikToken(log zerolog.Logger) *SecretFile {
	return liveSecret(sAuthentikFile, c.Authentik.TokenFile, c.Authentik.Token, log)
}

// LiveMatrixAccessToken is the bot's access token when it is read from a file
// (matrix.access_token_file / MATRIX_ACCESS_TOKEN_FILE), else nil.
func (c *Config) LiveMatrixAccessToken(log zerolog.Logger) *SecretFile {
	return liveSecret(sAccessTokenFile, c.Matrix.AccessTokenFile, c.Matrix.AccessToken, log)
}

// LiveWebhookSecret is the webhook secret when it is read from a file (webhook.secret_file /
// WEBHOOK_SECRET_FILE), else nil.
func (c *Config) LiveWebhookSecret(log zerolog.Logger) *SecretFile {
	return liveSecret(sWebhookSecretFile, c.Webhook.SecretFile, c.Webhook.Secret, log)
}

// LiveSCIMToken is the SCIM token when it is read from a file (scim.token_file /
// SCIM_TOKEN_FILE), else nil.
func (c *Config) LiveSCIMToken(log zerolog.Logger) *SecretFile {
	return liveSecret(sSCIMTokenFile, c.SCIM.TokenFile, c.SCIM.Token, log)
}

func liveSecret(s setting, path, value string, log zerolog.Logger) *SecretFile {
	if path == "" || value == "" {
		return nil
	}
	return newSecretFile(s, path, value, log)
}
