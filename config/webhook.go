package config

import "time"

// WebhookConfig is the listener for Authentik's notification webhooks (event-driven sync).
type WebhookConfig struct {
	// Listen is host:port of the webhook listener, which serves POST /webhook/authentik only;
	// empty disables it. It must be reachable from Authentik (unlike metrics.listen).
	Listen string `yaml:"listen"`
	// Secret is the shared secret Authentik sends with every call, at least 16 characters
	// (openssl rand -hex 32). Without one the endpoint answers 404. It is never logged.
	Secret string `yaml:"secret"`
	// SecretFile is a file holding the secret instead (one line).
	SecretFile string `yaml:"secret_file"`
	// Header is the header carrying the secret: Authorization means "Authorization: Bearer
	// <secret>"; any other name, such as X-Webhook-Secret, holds the secret itself.
	Header string `yaml:"header"`
	// Debounce gathers the calls of this window into one cycle (WEBHOOK_DEBOUNCE_MS).
	Debounce time.Duration `yaml:"debounce" doc:"tuning"`
}

const (
	sWebhookListen     setting = "webhook listener (webhook.listen / WEBHOOK_LISTEN)"
	sWebhookSecret     setting = "webhook secret (webhook.secret / WEBHOOK_SECRET)"
	sWebhookSecretFile setting = "webhook secret file (webhook.secret_file / WEBHOOK_SECRET_FILE)"
	sWebhookHeader     setting = "webhook header (webhook.header / WEBHOOK_HEADER)"
	sWebhookDebounce   setting = "webhook debounce (webhook.debounce / WEBHOOK_DEBOUNCE_MS)"
)

const (
	DefaultWebhookHeader   = "Authorization"
	DefaultWebhookDebounce = 250 * time.Millisecond
	// MaxWebhookDebounce keeps a typo from turning event-driven sync into slow polling.
	MaxWebhookDebounce = 5 * time.Minute
	// MinWebhookSecretLength rejects guessable secrets: the endpoint faces the network.
	MinWebhookSecretLength = 16
)

// applyWebhookEnv reads the WEBHOOK_* variables and the secret file, wherever it was named.
func (l *loader) applyWebhookEnv(c *Config) {
	w := &c.Webhook
	if v, ok := l.lookup("WEBHOOK_LISTEN"); ok {
		w.Listen = v
	}
	if v, ok := l.lookup("WEBHOOK_HEADER"); ok {
		w.Header = v
	}
	if n, ok := l.envCount("WEBHOOK_DEBOUNCE_MS", sWebhookDebounce, "milliseconds", "250", int64(time.Millisecond)); ok {
		w.Debounce = time.Duration(n) * time.Millisecond
	}
	l.envSecret("WEBHOOK_SECRET", sWebhookSecret, sWebhookSecretFile, &w.Secret, &w.SecretFile)
	l.resolveSecretFile("secret", &w.Secret, &w.SecretFile, sWebhookSecret, sWebhookSecretFile)
	if w.Listen != "" && w.Secret == "" {
		l.warnings = append(l.warnings, "webhook.listen / WEBHOOK_LISTEN is set but no webhook secret is: the webhook answers 404 to every call until webhook.secret / WEBHOOK_SECRET is set")
	}
}

// checkWebhook validates the webhook settings.
func (c *Config) checkWebhook(ps *problems) {
	w := c.Webhook
	if w.Listen != "" {
		checkListen(ps, sWebhookListen, w.Listen, "9200")
		if w.Listen == c.Metrics.Listen {
			ps.add(sWebhookListen, "%s is also metrics.listen / METRICS_LISTEN; give the webhook its own address", quote(w.Listen))
		}
	}
	if w.Secret != "" && len(w.Secret) < MinWebhookSecretLength {
		ps.add(sWebhookSecret, "is %d characters long; use at least %d random ones (for example: openssl rand -hex 32)", len(w.Secret), MinWebhookSecretLength)
	}
	if w.Header == "" || trimToken(w.Header) != w.Header {
		ps.add(sWebhookHeader, "%s is not an HTTP header name; use Authorization (the default) or a name such as X-Webhook-Secret", quote(w.Header))
	}
	if w.Debounce < 0 || w.Debounce > MaxWebhookDebounce {
		ps.add(sWebhookDebounce, "%s is out of range; use 0 to %s (default %s)", w.Debounce, MaxWebhookDebounce, DefaultWebhookDebounce)
	}
}

// trimToken keeps the characters this program allows in a header name (a subset of HTTP's), so
// that a name with any other differs from itself once trimmed.
func trimToken(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			out = append(out, c)
		}
	}
	return string(out)
}
