package harness

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

const logConfigName = "homeserver.log.config"

// generateConfig lets Synapse write its own config, signing key and secrets, so the harness only
// overrides what tests need and follows whatever else a new Synapse release defaults to.
func generateConfig(ctx context.Context, python, dir, serverName string) error {
	cmd := exec.CommandContext(ctx, python, "-m", "synapse.app.homeserver",
		"--server-name", serverName, "--config-path", configName,
		"--generate-config", "--report-stats=no")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate synapse config in %s: %w\n%s\n(if Synapse is missing or broken, rerun `make synapse`)",
			dir, err, out)
	}
	return nil
}

// testSettings are the values the harness forces on every start.
type testSettings struct {
	Dir                     string
	Port                    int
	AppserviceRegistrations []string
}

// rewriteConfig loads the config as YAML, applies the test settings and writes it back. The file
// is never appended to: the generated one ends in a comment without a newline.
func rewriteConfig(path, serverName string, s testSettings) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read synapse config: %w", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("parse synapse config %s: %w", path, err)
	}
	if cfg == nil {
		return fmt.Errorf("synapse config %s is empty; delete it so Start generates a new one", path)
	}
	if got, _ := cfg["server_name"].(string); got != serverName {
		return fmt.Errorf("synapse config %s is for server %q, not %q: use another Dir or delete it",
			path, got, serverName)
	}
	applyTestSettings(cfg, s)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode synapse config: %w", err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("write synapse config: %w", err)
	}
	logConfig := filepath.Join(s.Dir, logConfigName)
	if err := os.WriteFile(logConfig, logConfigYAML(filepath.Join(s.Dir, logName)), 0o644); err != nil {
		return fmt.Errorf("write synapse log config: %w", err)
	}
	return nil
}

func applyTestSettings(cfg map[string]any, s testSettings) {
	cfg["listeners"] = []any{map[string]any{
		"port":           s.Port,
		"bind_addresses": []any{"127.0.0.1"},
		"type":           "http",
		"tls":            false,
		"x_forwarded":    false,
		// The admin API is served on the client resource; federation is never needed.
		"resources": []any{map[string]any{"names": []any{"client"}, "compress": false}},
	}}
	cfg["database"] = map[string]any{
		"name": "sqlite3",
		"args": map[string]any{"database": filepath.Join(s.Dir, "homeserver.db")},
	}
	cfg["media_store_path"] = filepath.Join(s.Dir, "media_store")
	cfg["pid_file"] = filepath.Join(s.Dir, "homeserver.pid")
	cfg["log_config"] = filepath.Join(s.Dir, logConfigName)
	if secret, _ := cfg["registration_shared_secret"].(string); secret == "" {
		cfg["registration_shared_secret"] = rand.Text()
	}
	cfg["enable_registration"] = false
	// Every registration and login hashes a password; Synapse's default cost makes that a quarter
	// of a second, which adds up over tests that create many users.
	cfg["bcrypt_rounds"] = 4
	cfg["report_stats"] = false
	// No federation: nothing to fetch keys from, and no warning about matrix.org at every start.
	cfg["trusted_key_servers"] = []any{}
	cfg["suppress_key_server_warning"] = true
	cfg["presence"] = map[string]any{"enabled": false}
	regs := make([]any, len(s.AppserviceRegistrations))
	for i, r := range s.AppserviceRegistrations {
		regs[i] = r
	}
	cfg["app_service_config_files"] = regs

	// Tests create users, rooms and memberships in bursts that Synapse's defaults would answer with
	// 429 after about ten requests; rate limiting itself is not what the tests exercise.
	for key, value := range unlimitedRates() {
		cfg[key] = value
	}
}

// unlimitedRates returns the rate-limit settings (names as Synapse's ratelimiting config reads
// them) set far beyond anything a test does.
func unlimitedRates() map[string]any {
	rate := func() map[string]any { return map[string]any{"per_second": 10000, "burst_count": 100000} }
	return map[string]any{
		"rc_message":        rate(),
		"rc_registration":   rate(),
		"rc_room_creation":  rate(),
		"rc_joins_per_room": rate(),
		"rc_login": map[string]any{
			"address": rate(), "account": rate(), "failed_attempts": rate(),
		},
		"rc_joins": map[string]any{"local": rate(), "remote": rate()},
		"rc_invites": map[string]any{
			"per_room": rate(), "per_user": rate(), "per_issuer": rate(),
		},
	}
}

// logConfigYAML is a Python logging config writing warnings and errors straight to one file, with
// no buffering, so LogTail shows what happened up to the moment a test failed.
func logConfigYAML(logFile string) []byte {
	cfg := map[string]any{
		"version": 1,
		"formatters": map[string]any{
			"plain": map[string]any{"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
		},
		"handlers": map[string]any{
			"file": map[string]any{
				"class":     "logging.FileHandler",
				"formatter": "plain",
				"filename":  logFile,
				"encoding":  "utf8",
			},
		},
		"root":                     map[string]any{"level": "WARNING", "handlers": []any{"file"}},
		"disable_existing_loggers": false,
	}
	// Encoding a map of strings, numbers and maps cannot fail.
	out, _ := yaml.Marshal(cfg)
	return out
}
