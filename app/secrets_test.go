package app

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/config"
	"authentik-matrix-sync/webhook"
)

// secretFile writes content into a new file and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	rewrite(t, path, content)
	return path
}

func rewrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink the handlers may write to from their goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkRotationLog holds the log to one line naming the setting that changed, and no secret.
func checkRotationLog(t *testing.T, logs, setting string, secrets ...string) {
	t.Helper()
	if strings.Count(logs, "Secret file changed; using its new value") != 1 || !strings.Contains(logs, setting) {
		t.Errorf("want one line naming %q:\n%s", setting, logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the log shows a secret:\n%s", logs)
		}
	}
}

// TestAuthentikTokenFileRewrittenMidRun: the operator rotates the bot's token in Authentik and
// writes the new one into AUTHENTIK_TOKEN_FILE; the next read uses it, without a restart.
func TestAuthentikTokenFileRewrittenMidRun(t *testing.T) {
	const oldToken, newToken = "ak-old-token-0a1b", "ak-new-token-9f8e"
	ak := authentiktest.New(oldToken)
	t.Cleanup(ak.Close)
	ak.AddUser("alice")
	ak.AddGroup("staff", "")
	ak.AddMembers("staff", "alice")
	cfg := &config.Config{}
	cfg.Authentik.Token, cfg.Authentik.TokenFile = oldToken, secretFile(t, oldToken)
	var logs syncBuffer
	client, err := authentik.New(ak.URL(), cfg.Authentik.Token, authentik.Options{Token: authentikToken(cfg, zerolog.New(&logs))})
	if err != nil {
		t.Fatal(err)
	}
	if m := client.EffectiveMembers(t.Context(), []string{"staff"})["staff"]; m.Err != nil {
		t.Fatalf("before the rotation: %v", m.Err)
	}
	ak.ReplaceToken(oldToken, newToken)
	rewrite(t, cfg.Authentik.TokenFile, newToken)
	if m := client.EffectiveMembers(t.Context(), []string{"staff"})["staff"]; m.Err != nil || len(m.Users) != 1 {
		t.Fatalf("after the rotation: %+v", m)
	}
	checkRotationLog(t, logs.String(), "AUTHENTIK_TOKEN_FILE", oldToken, newToken)

	// A token given as a value has no file to follow.
	cfg.Authentik.TokenFile = ""
	if authentikToken(cfg, zerolog.Nop()) != nil {
		t.Error("a token without a file got a token source")
	}
}

// TestAccessTokenFileRewrittenMidRun: the homeserver client sends the token the file holds now;
// after a 401 it reads the file and sends the request once more, body and all. Requests with
// another token (a MAS admin token) pass untouched.
func TestAccessTokenFileRewrittenMidRun(t *testing.T) {
	const oldToken, newToken = "syt_old_0a1b", "syt_new_9f8e"
	var mu sync.Mutex
	accepted := oldToken
	var seen []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		auth := r.Header.Get("Authorization")
		seen = append(seen, strings.TrimPrefix(auth, "Bearer ")+" "+string(body))
		if auth != "Bearer "+accepted && auth != "Bearer admin-token" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed."}`)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(hs.Close)
	cfg := &config.Config{}
	cfg.Matrix.AccessToken, cfg.Matrix.AccessTokenFile = oldToken, secretFile(t, oldToken)
	var logs syncBuffer
	client := withLiveAccessToken(nil, cfg, zerolog.New(&logs))
	send := func(token, body string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, hs.URL+"/_matrix/client/v3/rooms/x/state/m.room.member/y", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := send(oldToken, "first"); code != 200 {
		t.Fatalf("before the rotation: %d", code)
	}
	mu.Lock()
	accepted = newToken
	mu.Unlock()
	rewrite(t, cfg.Matrix.AccessTokenFile, newToken)
	if code := send(oldToken, "second"); code != 200 {
		t.Fatalf("after the rotation: %d", code)
	}
	if code := send("admin-token", "third"); code != 200 {
		t.Fatalf("another token: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{oldToken + " first", oldToken + " second", newToken + " second", "admin-token third"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Errorf("the homeserver saw %q, want %q", seen, want)
	}
	checkRotationLog(t, logs.String(), "MATRIX_ACCESS_TOKEN_FILE")

	cfg.Matrix.AccessTokenFile = ""
	if c := withLiveAccessToken(http.DefaultClient, cfg, zerolog.Nop()); c != http.DefaultClient {
		t.Error("a token without a file changed the client")
	}
}

// TestWebhookSecretFileRewrittenMidRun: once the file holds a new secret, Authentik's calls with
// it are accepted (the first one refused reads the file at once, so its retry gets through) and
// the old secret is refused; the calls still trigger cycles through the one debounce window.
func TestWebhookSecretFileRewrittenMidRun(t *testing.T) {
	const oldSecret, newSecret = "hook-old-0a1b", "hook-new-9f8e"
	cfg := &config.Config{}
	cfg.Webhook.Secret, cfg.Webhook.SecretFile = oldSecret, secretFile(t, oldSecret)
	cfg.Webhook.Header = webhook.DefaultHeader
	var logs syncBuffer
	var mu sync.Mutex
	var fired [][]string
	h := newWebhookHandler(cfg, zerolog.New(&logs), func(groups []string) {
		mu.Lock()
		defer mu.Unlock()
		fired = append(fired, groups)
	}, nil)
	t.Cleanup(h.Close)
	call := func(secret string) int {
		req := httptest.NewRequest(http.MethodPost, webhook.Path, strings.NewReader(`{"body":"group staff changed"}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := call(oldSecret); code != http.StatusNoContent {
		t.Fatalf("before the rotation: %d", code)
	}
	rewrite(t, cfg.Webhook.SecretFile, newSecret)
	got := []int{call(newSecret), call(newSecret), call(oldSecret)}
	if want := []int{http.StatusUnauthorized, http.StatusNoContent, http.StatusUnauthorized}; !equalInts(got, want) {
		t.Errorf("answers after the rotation %v, want %v", got, want)
	}
	mu.Lock()
	n := len(fired)
	mu.Unlock()
	if n == 0 {
		t.Error("the accepted calls triggered nothing")
	}
	checkRotationLog(t, logs.String(), "WEBHOOK_SECRET_FILE", oldSecret, newSecret)
}

// TestLiveSecretHandlerKeepsTheOldHandlerOnABuildError: a secret the handler cannot be built
// with leaves the one before in place, with an error in the log.
func TestLiveSecretHandlerKeepsTheOldHandlerOnABuildError(t *testing.T) {
	cfg := &config.Config{}
	cfg.SCIM.Token, cfg.SCIM.TokenFile = "scim-old", secretFile(t, "scim-old")
	var logs syncBuffer
	log := zerolog.New(&logs)
	secret := cfg.LiveSCIMToken(log)
	old := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	h := liveSecretHandler(secret, cfg.SCIM.Token, old, func(string) (http.Handler, error) {
		return nil, io.ErrUnexpectedEOF
	}, log)
	rewrite(t, cfg.SCIM.TokenFile, "scim-new")
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/scim/v2/Users", nil))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("answer %d, want the old handler's 401", rec.Code)
		}
	}
	if !strings.Contains(logs.String(), "The new secret cannot be used; keeping the one before") {
		t.Errorf("no error logged:\n%s", logs.String())
	}
	if _, wrapped := liveSecretHandler(nil, "", old, nil, log).(*liveHandler); wrapped {
		t.Error("without a file the handler is wrapped all the same")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
