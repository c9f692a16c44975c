package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// buildBot builds the binary the way `make build` does.
func buildBot(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "authentik-matrix-sync")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/authentik-matrix-sync")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the bot (go build ./cmd/authentik-matrix-sync): %w\n%s", err, out)
	}
	return bin, nil
}

// botConfig is what the demo's config.yaml is made of.
type botConfig struct {
	HomeserverURL  string
	ServerName     string
	Registration   string
	AppservicePort int
	BotUsername    string
	AuthentikURL   string
	AuthentikToken string
	Interval       time.Duration
	GracePeriod    time.Duration
	Rooms          []demoRoom
	Template       string
	Attribute      string
	DataDir        string
	HealthListen   string
}

// configTemplate is a config file an operator could have written; the newcomer reads it in
// .demo/config.yaml. Strings are quoted with %q: Go's quoting is valid YAML for them, and '#'
// starts a comment in YAML.
var configTemplate = template.Must(template.New("config.yaml").Parse(`# authentik-matrix-sync configuration written by the demo (e2e/demo).
# Every key is explained in config.example.yaml at the repository root.
homeserver:
  address: {{printf "%q" .HomeserverURL}}
  domain: {{printf "%q" .ServerName}}
appservice:
  # Written by: authentik-matrix-sync -c config.yaml -g -r registration.yaml
  # Synapse loads it through app_service_config_files in .demo/synapse/homeserver.yaml.
  registration: {{printf "%q" .Registration}}
  address: "http://127.0.0.1:{{.AppservicePort}}"
  hostname: 127.0.0.1
  port: {{.AppservicePort}}
  bot_username: {{printf "%q" .BotUsername}}
authentik:
  url: {{printf "%q" .AuthentikURL}}
  token: {{printf "%q" .AuthentikToken}}
sync:
  interval: {{.Interval}}
  # Demo value: the default is 24h.
  grace_period: {{.GracePeriod}}
  remove_action: kick
  mappings:
{{- range .Rooms}}
    - group: {{printf "%q" .Group}}
      {{if .Space}}space{{else}}room{{end}}: "#{{.Alias}}:{{$.ServerName}}"
      method: {{.Method}}
{{- end}}
user_mapping:
  template: {{printf "%q" .Template}}
  attribute: {{printf "%q" .Attribute}}
database:
  data_dir: {{printf "%q" .DataDir}}
logging:
  level: info
  format: json
health:
  listen: {{printf "%q" .HealthListen}}
`))

func writeBotConfig(path string, cfg botConfig) error {
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, cfg); err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	// 0600: the bot warns about a config file others can read, as it holds tokens.
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write the bot's config: %w", err)
	}
	return nil
}

// generateRegistration runs the bot's -g, as docs/install.md tells operators to.
func generateRegistration(ctx context.Context, bin, configPath, registrationPath string) error {
	cmd := exec.CommandContext(ctx, bin, "-c", configPath, "-g", "-r", registrationPath)
	cmd.Dir = filepath.Dir(configPath)
	cmd.Env = botEnv(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate the appservice registration (%s -g): %w\n%s", bin, err, out)
	}
	return nil
}

// botEnv is environ without the variables the bot reads. They override its config file, so values
// the newcomer exported for a real setup must not reach the demo's bot.
func botEnv(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "AUTHENTIK_URL", "AUTHENTIK_TOKEN", "AUTHENTIK_TOKEN_FILE", "MATRIX_HOMESERVER_URL", "MATRIX_USER_ID",
			"MATRIX_ACCESS_TOKEN", "MATRIX_ACCESS_TOKEN_FILE", "SYNC_MAPPINGS", "JOIN_METHOD", "SYNC_INTERVAL_SECONDS",
			"CLEANUP_GRACE_PERIOD_MINUTES", "REMOVE_ACTION", "DB_BACKUP_RETENTION_COUNT", "LOG_LEVEL", "LOG_FORMAT",
			"DATA_DIR", "FORCE_JOIN_VIA", "APPSERVICE_REGISTRATION", "APPSERVICE_AS_TOKEN", "APPSERVICE_AS_TOKEN_FILE",
			"APPSERVICE_HS_TOKEN", "APPSERVICE_HS_TOKEN_FILE", "HEALTH_LISTEN", "CONFIG_FILE":
			return true
		}
		return false
	})
}

// botProcess is the running bot.
type botProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

// startBot runs the bot with its log going both to .demo/bot.log and to summary.
func startBot(bin, configPath, dir string, summary io.Writer) (*botProcess, error) {
	logFile, err := os.Create(filepath.Join(dir, "bot.log"))
	if err != nil {
		return nil, fmt.Errorf("create the bot's log: %w", err)
	}
	// Not CommandContext: the bot is stopped with SIGTERM, to show its clean shutdown.
	cmd := exec.Command(bin, "-c", configPath)
	cmd.Dir = dir
	cmd.Env = botEnv(os.Environ())
	// One writer for both streams: exec then copies them through one pipe, in order.
	w := io.MultiWriter(logFile, summary)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the bot %s: %w", bin, err)
	}
	p := &botProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits; the bot gets 15 s to finish its cycle before it is killed.
func (p *botProcess) stop(out *console) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		out.say("The bot did not stop within 15 s of SIGTERM and was killed; see .demo/bot.log.")
	}
}
