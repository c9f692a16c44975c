package config

import (
	"strings"
	"testing"
	"time"
)

const webhookSecret = "wh-SECRET-5e1f0c9a2b7d"

func TestWebhookSettings(t *testing.T) {
	dir := t.TempDir()
	secretFile := writeFile(t, dir, "webhook-secret", webhookSecret+"\n", 0o600)
	fileConfig := writeFile(t, dir, "config.yaml", "webhook:\n  listen: 0.0.0.0:9200\n  secret_file: "+secretFile+"\n  header: X-Webhook-Secret\n  debounce: 500ms\n", 0o600)
	tests := []struct {
		name    string
		path    string
		env     map[string]string
		want    WebhookConfig
		problem string // part of the expected problem; "" means valid
		warning string // part of an expected warning
	}{
		{"defaults: off", "", nil, WebhookConfig{Header: "Authorization", Debounce: DefaultWebhookDebounce}, "", ""},
		{"from the environment", "", map[string]string{"WEBHOOK_LISTEN": "0.0.0.0:9200", "WEBHOOK_SECRET": webhookSecret,
			"WEBHOOK_HEADER": "X-Authentik-Secret", "WEBHOOK_DEBOUNCE_MS": "250"},
			WebhookConfig{Listen: "0.0.0.0:9200", Secret: webhookSecret, Header: "X-Authentik-Secret", Debounce: 250 * time.Millisecond}, "", ""},
		{"secret from a file named in the environment", "", map[string]string{"WEBHOOK_LISTEN": ":9200", "WEBHOOK_SECRET_FILE": secretFile},
			WebhookConfig{Listen: ":9200", Secret: webhookSecret, SecretFile: secretFile, Header: "Authorization", Debounce: DefaultWebhookDebounce}, "", ""},
		{"from the file", fileConfig, nil,
			WebhookConfig{Listen: "0.0.0.0:9200", Secret: webhookSecret, SecretFile: secretFile, Header: "X-Webhook-Secret", Debounce: 500 * time.Millisecond}, "", ""},
		{"the environment's secret replaces the file's", fileConfig, map[string]string{"WEBHOOK_SECRET": webhookSecret + "2"},
			WebhookConfig{Listen: "0.0.0.0:9200", Secret: webhookSecret + "2", Header: "X-Webhook-Secret", Debounce: 500 * time.Millisecond}, "", ""},
		{"no debounce", "", map[string]string{"WEBHOOK_DEBOUNCE_MS": "0"}, WebhookConfig{Header: "Authorization"}, "", ""},
		{"listener without a secret", "", map[string]string{"WEBHOOK_LISTEN": ":9200"},
			WebhookConfig{Listen: ":9200", Header: "Authorization", Debounce: DefaultWebhookDebounce}, "", "answers 404"},
		{"both secret and file", "", map[string]string{"WEBHOOK_SECRET": webhookSecret, "WEBHOOK_SECRET_FILE": secretFile}, WebhookConfig{}, "keep one of them", ""},
		{"short secret", "", map[string]string{"WEBHOOK_SECRET": "short"}, WebhookConfig{}, "at least 16", ""},
		{"listen without a port", "", map[string]string{"WEBHOOK_LISTEN": "0.0.0.0"}, WebhookConfig{}, "not host:port", ""},
		{"listen with a bad port", "", map[string]string{"WEBHOOK_LISTEN": "0.0.0.0:http2"}, WebhookConfig{}, "no valid port", ""},
		{"listen on port 0", "", map[string]string{"WEBHOOK_LISTEN": "0.0.0.0:0"}, WebhookConfig{}, "no valid port", ""},
		{"listen shared with metrics", "", map[string]string{"WEBHOOK_LISTEN": "127.0.0.1:9100"}, WebhookConfig{}, "give the webhook its own address", ""},
		{"header with a space", "", map[string]string{"WEBHOOK_HEADER": "X Secret"}, WebhookConfig{}, "not an HTTP header name", ""},
		{"debounce not a number", "", map[string]string{"WEBHOOK_DEBOUNCE_MS": "2s"}, WebhookConfig{}, "WEBHOOK_DEBOUNCE_MS", ""},
		{"debounce too long", "", map[string]string{"WEBHOOK_DEBOUNCE_MS": "600000"}, WebhookConfig{}, "use 0 to 5m0s", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, envFunc(with(clientEnv(), tt.env)))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("want a problem mentioning %q, got %v", tt.problem, err)
				}
				if strings.Contains(err.Error(), webhookSecret) || strings.Contains(err.Error(), "short\"") {
					t.Errorf("the problem shows the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Webhook != tt.want {
				t.Errorf("webhook = %+v, want %+v", c.Webhook, tt.want)
			}
			warned := strings.Join(c.Warnings, "\n")
			if tt.warning != "" && !strings.Contains(warned, tt.warning) {
				t.Errorf("warnings %q lack %q", c.Warnings, tt.warning)
			}
			if strings.Contains(c.Redacted(), webhookSecret) {
				t.Error("Redacted shows the webhook secret")
			}
		})
	}
}
