package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the configuration: the YAML file at path (none when path is ""), then the
// environment through env, which overrides the file field by field, then the appservice
// registration file if one is configured. It fills defaults and validates everything; the
// returned error is an *Error listing every problem, or a plain error when the file itself cannot
// be read. env is os.LookupEnv in production.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	c, ps, err := load(path, env)
	if err != nil {
		return nil, err
	}
	ps = append(ps, c.check(false)...)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadForGenerate is Load for generating a registration (-g): the registration file may not
// exist yet, and only the settings that go into a registration are validated.
func LoadForGenerate(path string, env func(string) (string, bool)) (*Config, error) {
	c, ps, err := load(path, env)
	if err != nil {
		return nil, err
	}
	ps = append(ps, c.check(true)...)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// loader carries what one Load call collects.
type loader struct {
	env      func(string) (string, bool)
	problems problems
	warnings []string
}

func load(path string, env func(string) (string, bool)) (*Config, problems, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	l := &loader{env: env}
	c := withDefaults()
	if path != "" {
		if err := l.readFile(c, path); err != nil {
			return nil, nil, err
		}
	}
	l.applyPathEnv(c)
	l.applyEnv(c)
	l.resolveSecretFiles(c)
	l.mergeRegistration(c)
	l.fillDerived(c)
	l.normalise(c)
	l.warn(c)
	c.Warnings = l.warnings
	return c, l.problems, nil
}

// withDefaults presets the settings whose zero value is meaningful, so that an explicit zero or
// empty value in the file (grace_period: 0s, listen: "") survives. The other defaults are filled
// after the file and the environment are read, because "empty" there means "not set".
func withDefaults() *Config {
	c := &Config{}
	c.Appservice.Hostname = DefaultAppserviceHostname
	c.Appservice.Port = DefaultAppservicePort
	c.Authentik.PageSize = DefaultPageSize
	c.Authentik.Timeout = DefaultAuthentikTimeout
	c.Sync.Interval = DefaultInterval
	c.Sync.GracePeriod = DefaultGracePeriod
	c.UserMapping.Attribute = DefaultUserAttribute
	c.UserMapping.Source = SourceTemplate
	c.UserMapping.ExternalID.Subject = DefaultExternalSubject
	c.UserMapping.ExternalID.Refresh = DefaultExternalRefresh
	c.Database.BackupRetention = DefaultBackupRetention
	c.Database.MaxOpenConns = DefaultMaxOpenConns
	c.Database.MaxIdleConns = DefaultMaxIdleConns
	c.Metrics.Listen = DefaultMetricsListen
	c.Sync.MaxRemovalsPerCycle = DefaultMaxRemovals
	c.Sync.MaxRemovalFraction = DefaultMaxRemovalFraction
	c.Sync.MaxBackoff = DefaultMaxBackoff
	c.Sync.MaxConcurrentWrites = DefaultMaxConcurrentWrites
	c.Sync.FullResyncInterval = DefaultFullResyncInterval
	c.Admin.CommandPrefix = DefaultCommandPrefix
	c.Audit.MaxAge = DefaultAuditMaxAge
	c.Audit.MaxRows = DefaultAuditMaxRows
	c.Webhook.Header = DefaultWebhookHeader
	c.Webhook.Debounce = DefaultWebhookDebounce
	scimDefaults(c)
	return c
}

// readFile decodes the YAML file into c. Unknown keys and values of the wrong type become
// problems; a file that cannot be read or parsed at all is returned as an error, since nothing
// after it would make sense.
func (l *loader) readFile(c *Config, path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config file %s does not exist: create it from config.example.yaml, or run without -c and $CONFIG_FILE to use environment variables only: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("read config file %s: check the path and its permissions: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(c)
	var typeErr *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &typeErr):
		// The decoder's messages give the line; the node tree gives the key written there.
		var doc yaml.Node
		_ = yaml.Unmarshal(data, &doc)
		values := yamlValues(&doc)
		for _, msg := range typeErr.Errors {
			l.problems.addPlain("config file %s, %s", path, explainYAMLError(msg, values))
		}
	default:
		return fmt.Errorf("config file %s is not valid YAML: fix it by comparing with config.example.yaml: %w", path, yamlSyntaxError{err})
	}
	l.listenAlias(c, data, path)
	for _, secret := range c.secrets() {
		if *secret != "" {
			l.checkPrivate(path, "config file")
			break
		}
	}
	return nil
}

// checkPrivate warns when a file holding secrets can be read by users other than its owner.
func (l *loader) checkPrivate(path, what string) {
	fi, err := os.Stat(path)
	if err != nil {
		return
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		l.warnings = append(l.warnings, fmt.Sprintf("%s %s holds secrets and is readable by group or others (mode %04o): chmod 600 %s", what, path, perm, path))
	}
}

// maxSecretFileSize is far above any token; a larger file is the wrong file.
const maxSecretFileSize = 64 << 10

// readSecretFile returns the token held in path, without its trailing newline.
func (l *loader) readSecretFile(s setting, path string) (string, bool) {
	token, err := readSecret(path)
	if err != nil {
		l.problems.add(s, "%s", err)
		return "", false
	}
	l.checkPrivate(path, "secrets file")
	return token, true
}

// readSecret reads the token held in path, without its trailing newline; the error says what is
// wrong with the file (never its content) and how to fix it.
func readSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot open %s (%v); check the path and that the file is readable by user %d", path, cause(err), os.Getuid())
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s (%v); check that it is a regular file", path, cause(err))
	}
	switch token := strings.TrimRight(string(data), " \t\r\n"); {
	case len(data) > maxSecretFileSize:
		return "", fmt.Errorf("%s is larger than %d KiB; it must hold only the token: check the path", path, maxSecretFileSize>>10)
	case token == "":
		return "", fmt.Errorf("%s is empty; write the token into it", path)
	case strings.ContainsAny(token, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line; it must hold only the token", path)
	default:
		return token, nil
	}
}

// resolveSecretFiles reads the token files named in the config file or by *_FILE variables.
func (l *loader) resolveSecretFiles(c *Config) {
	l.resolveSecretFile("token", &c.Authentik.Token, &c.Authentik.TokenFile, sAuthentikToken, sAuthentikFile)
	l.resolveSecretFile("token", &c.Matrix.AccessToken, &c.Matrix.AccessTokenFile, sAccessToken, sAccessTokenFile)
}

// resolveSecretFile reads *file into *value when a file is named and no value is set; noun
// ("token" or "secret") names the secret in the message when both are set.
func (l *loader) resolveSecretFile(noun string, value, file *string, s, fileSetting setting) {
	switch {
	case *file == "":
	case *value != "":
		l.problems.add(s, "both the %s and a %s file are set; keep one of them", noun, noun)
	default:
		if secret, ok := l.readSecretFile(fileSetting, *file); ok {
			*value = secret
		}
	}
}

// registrationFile is the part of an appservice registration this program reads. Other keys
// (namespaces, rate_limited) are the homeserver's business and are ignored here.
type registrationFile struct {
	ID              string  `yaml:"id"`
	URL             *string `yaml:"url"`
	ASToken         string  `yaml:"as_token"`
	HSToken         string  `yaml:"hs_token"`
	SenderLocalpart string  `yaml:"sender_localpart"`
}

// mergeRegistration takes the appservice settings from the registration file, which is what the
// homeserver believes: values set in the config as well must agree with it. A missing file is
// left to validation, because generating a registration (-g) needs no file.
func (l *loader) mergeRegistration(c *Config) {
	path := c.Appservice.Registration
	if path == "" {
		return
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		l.problems.add(sRegistration, "cannot read %s (%v); check its permissions", path, cause(err))
		return
	}
	l.checkPrivate(path, "appservice registration")
	var reg registrationFile
	if err := yaml.Unmarshal(data, &reg); err != nil {
		l.problems.add(sRegistration, "%s is not a valid registration file (%v); regenerate it with -g", path, yamlSyntaxError{err})
		return
	}
	agree := func(s setting, field *string, fromFile string, secret bool) {
		switch {
		case fromFile == "":
		case *field == "":
			*field = fromFile
		case strings.TrimRight(*field, "/") == strings.TrimRight(fromFile, "/"):
		case secret:
			l.problems.add(s, "differs from the one in the registration file %s; remove it from the config (the registration's is used) or make them equal", path)
		default:
			l.problems.add(s, "%s differs from %s in the registration file %s; remove it from the config (the registration's is used) or make them equal", quote(*field), quote(fromFile), path)
		}
	}
	agree(sAppserviceID, &c.Appservice.ID, reg.ID, false)
	if reg.URL != nil {
		agree(sAppserviceAddress, &c.Appservice.Address, *reg.URL, false)
	}
	agree(sBotUsername, &c.Appservice.BotUsername, reg.SenderLocalpart, false)
	agree(sASToken, &c.Appservice.ASToken, reg.ASToken, true)
	agree(sHSToken, &c.Appservice.HSToken, reg.HSToken, true)
}

// cause drops the path from a file error, since messages name the path themselves.
func cause(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}
