package harness

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
	"maunium.net/go/mautrix/id"
)

// RegisterUser creates an account through Synapse's shared-secret registration API, which works
// with registration disabled and needs no existing admin.
func (s *Synapse) RegisterUser(ctx context.Context, localpart, password string, admin bool) (User, error) {
	secret, err := s.sharedSecret()
	if err != nil {
		return User{}, err
	}
	const path = "/_synapse/admin/v1/register"
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := s.call(ctx, http.MethodGet, path, "", nil, &nonce); err != nil {
		return User{}, fmt.Errorf("register %s: get nonce: %w", localpart, err)
	}
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": localpart,
		"password": password,
		"admin":    admin,
		"mac":      registrationMAC(secret, nonce.Nonce, localpart, password, admin),
	}
	var resp struct {
		UserID      id.UserID `json:"user_id"`
		AccessToken string    `json:"access_token"`
	}
	if err := s.call(ctx, http.MethodPost, path, "", req, &resp); err != nil {
		return User{}, fmt.Errorf("register %s (admin=%t): %w", localpart, admin, err)
	}
	return User{ID: resp.UserID, Token: resp.AccessToken}, nil
}

// registrationMAC is the HMAC-SHA1 Synapse expects over the NUL-separated nonce, user name,
// password and admin flag.
func registrationMAC(secret, nonce, localpart, password string, admin bool) string {
	flag := "notadmin"
	if admin {
		flag = "admin"
	}
	mac := hmac.New(sha1.New, []byte(secret))
	for i, part := range []string{nonce, localpart, password, flag} {
		if i > 0 {
			mac.Write([]byte{0})
		}
		mac.Write([]byte(part))
	}
	return hex.EncodeToString(mac.Sum(nil))
}

// Login gets a fresh access token for an existing account.
func (s *Synapse) Login(ctx context.Context, localpart, password string) (User, error) {
	req := map[string]any{
		"type":       "m.login.password",
		"identifier": map[string]any{"type": "m.id.user", "user": localpart},
		"password":   password,
	}
	var resp struct {
		UserID      id.UserID `json:"user_id"`
		AccessToken string    `json:"access_token"`
	}
	if err := s.call(ctx, http.MethodPost, "/_matrix/client/v3/login", "", req, &resp); err != nil {
		return User{}, fmt.Errorf("log in as %s: %w", localpart, err)
	}
	return User{ID: resp.UserID, Token: resp.AccessToken}, nil
}

// ensureAdmin registers "admin", or logs in when a reused Dir already has it. The password is
// derived from the registration secret so a restarted demo finds it again without storing it.
func (s *Synapse) ensureAdmin(ctx context.Context) (User, error) {
	secret, err := s.sharedSecret()
	if err != nil {
		return User{}, err
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("harness admin password"))
	password := hex.EncodeToString(mac.Sum(nil))

	u, err := s.RegisterUser(ctx, adminLocalpart, password, true)
	if IsErrCode(err, "M_USER_IN_USE") {
		u, err = s.Login(ctx, adminLocalpart, password)
	}
	if err != nil {
		return User{}, fmt.Errorf("set up the server admin: %w; log tail:\n%s", err, s.LogTail(20))
	}
	return u, nil
}

// sharedSecret reads the registration secret from the config Start wrote; reading it each time
// keeps the secret out of the Synapse value that tests print.
func (s *Synapse) sharedSecret() (string, error) {
	path := filepath.Join(s.Dir, configName)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read registration secret: %w", err)
	}
	var cfg struct {
		Secret string `yaml:"registration_shared_secret"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("read registration secret from %s: %w", path, err)
	}
	if cfg.Secret == "" {
		return "", fmt.Errorf("read registration secret: %s has no registration_shared_secret", path)
	}
	return cfg.Secret, nil
}

// UserExists asks the admin API whether the account exists (deactivated accounts count).
func (s *Synapse) UserExists(ctx context.Context, user id.UserID) (bool, error) {
	err := s.call(ctx, http.MethodGet, apiPath("/_synapse/admin/v2/users", string(user)), s.AdminToken, nil, nil)
	var me *MatrixError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &me) && me.Status == http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("check whether %s exists: %w", user, err)
	}
}
