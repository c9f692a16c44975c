package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// lookup returns a variable's trimmed value; set-but-empty counts as unset, because Compose files
// often carry "- NAME=" lines for values given elsewhere.
func (l *loader) lookup(name string) (string, bool) {
	v, ok := l.env(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// applyEnv lets the environment override the file, one field at a time.
func (l *loader) applyEnv(c *Config) {
	str := func(name string, field *string) {
		if v, ok := l.lookup(name); ok {
			*field = v
		}
	}
	str("MATRIX_HOMESERVER_URL", &c.Homeserver.Address)
	str("MATRIX_USER_ID", &c.Matrix.UserID)
	str("FORCE_JOIN_VIA", &c.Matrix.ForceJoinVia)
	str("APPSERVICE_REGISTRATION", &c.Appservice.Registration)
	str("AUTHENTIK_URL", &c.Authentik.URL)
	str("JOIN_METHOD", &c.Sync.JoinMethod)
	str("REMOVE_ACTION", &c.Sync.RemoveAction)
	str("DATA_DIR", &c.Database.DataDir)
	str("DATABASE_URL", &c.Database.URI)
	str("DATABASE_SCHEMA", &c.Database.Schema)
	str("PG_DUMP", &c.Database.PgDump)
	str("LOG_LEVEL", &c.Logging.Level)
	str("LOG_FORMAT", &c.Logging.Format)
	// Unlike the others, an empty METRICS_LISTEN or HEALTH_LISTEN (its older name) means
	// something: no HTTP listener. The newer name wins when both are set.
	for _, name := range []string{"HEALTH_LISTEN", "METRICS_LISTEN"} {
		if v, ok := l.env(name); ok {
			c.Metrics.Listen = strings.TrimSpace(v)
		}
	}
	c.Health.Listen = c.Metrics.Listen
	l.envBool("METRICS_PPROF", sMetricsPprof, &c.Metrics.Pprof)

	if n, ok := l.envCount("SYNC_INTERVAL_SECONDS", sInterval, "seconds", "60", int64(time.Second)); ok {
		c.Sync.Interval = time.Duration(n) * time.Second
	}
	if n, ok := l.envCount("CLEANUP_GRACE_PERIOD_MINUTES", sGracePeriod, "minutes", "1440", int64(time.Minute)); ok {
		c.Sync.GracePeriod = time.Duration(n) * time.Minute
	}
	if n, ok := l.envCount("DB_BACKUP_RETENTION_COUNT", sBackupRetention, "backups", "3", 1); ok {
		c.Database.BackupRetention = int(n)
	}

	l.envSecret("AUTHENTIK_TOKEN", sAuthentikToken, sAuthentikFile, &c.Authentik.Token, &c.Authentik.TokenFile)
	l.envSecret("MATRIX_ACCESS_TOKEN", sAccessToken, sAccessTokenFile, &c.Matrix.AccessToken, &c.Matrix.AccessTokenFile)
	l.envSecret("APPSERVICE_AS_TOKEN", sASToken, sASTokenFile, &c.Appservice.ASToken, nil)
	l.envSecret("APPSERVICE_HS_TOKEN", sHSToken, sHSTokenFile, &c.Appservice.HSToken, nil)

	l.applyAdminEnv(c)
	l.applyAuditEnv(c)
	l.applyBackoffEnv(c)
	l.applyScaleEnv(c)
	l.applyWebhookEnv(c)
	l.applySCIMEnv(c)
	l.applyMASEnv(c)
	l.applyProtectedEnv(c)
	l.applyLifecycleEnv(c)
	if v, ok := l.lookup("SYNC_MAPPINGS"); ok {
		if mappings, ok := l.parseMappings(v); ok {
			c.Sync.Mappings = mappings
		}
	}
}

// envCount parses a non-negative whole number that still fits in an int64 once multiplied by
// scale (nanoseconds per unit for durations); it reports false (and records a
// problem) when the variable is unset or unusable, leaving the field as it was.
func (l *loader) envCount(name string, s setting, what, example string, scale int64) (int64, bool) {
	v, ok := l.lookup(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || (err == nil && n > math.MaxInt64/scale):
		l.problems.add(s, "%s is too large; write a whole number of %s such as %s", quote(v), what, example)
	case err != nil:
		l.problems.add(s, "%s is not a whole number of %s; write digits only, such as %s", quote(v), what, example)
	case n < 0:
		l.problems.add(s, "%s is negative; write a whole number of %s such as %s", quote(v), what, example)
	default:
		return n, true
	}
	return 0, false
}

// envBool reads a true/false variable (any spelling strconv.ParseBool accepts) into field; an
// unset variable leaves it as it was.
func (l *loader) envBool(name string, s setting, field *bool) {
	v, ok := l.lookup(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.problems.add(s, "%s is not true or false", quote(v))
		return
	}
	*field = b
}

// envSecret applies NAME and NAME_FILE. With a file field, the path is kept for
// resolveSecretFiles (so a file named in YAML and one named in the environment behave alike);
// without one, the file is read here.
func (l *loader) envSecret(name string, s, fileSetting setting, value, file *string) {
	v, hasValue := l.lookup(name)
	path, hasFile := l.lookup(name + "_FILE")
	switch {
	case hasValue && hasFile:
		l.problems.add(s, "both %s and %s_FILE are set; keep one of them", name, name)
	case hasValue:
		*value = v
		if file != nil {
			*file = ""
		}
	case hasFile && file != nil:
		*file = path
		*value = ""
	case hasFile:
		if token, ok := l.readSecretFile(fileSetting, path); ok {
			*value = token
		}
	}
}

// mappingsExample is shown in messages about SYNC_MAPPINGS.
const mappingsExample = `[{"group":"Admins","space":"!admins:example.com"}]`

// parseMappings decodes SYNC_MAPPINGS. Unknown keys are refused so that a typo ("metod") does
// not silently fall back to the global join method.
func (l *loader) parseMappings(v string) ([]Mapping, bool) {
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	var mappings []Mapping
	if err := dec.Decode(&mappings); err != nil {
		l.problems.add(sMappings, "%s; write a JSON array such as %s", explainJSONError(err, len(v)), mappingsExample)
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		l.problems.add(sMappings, "unexpected text after the JSON array at byte %d; write a single array such as %s", dec.InputOffset(), mappingsExample)
		return nil, false
	}
	return mappings, true
}

func explainJSONError(err error, length int) string {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(syntaxErr.Error(), "json: "))
	case errors.As(err, &typeErr):
		where := "the value"
		if typeErr.Field != "" {
			where = fmt.Sprintf("%q", typeErr.Field)
		}
		return fmt.Sprintf("wrong JSON type at byte %d: %s is a JSON %s, where %s is expected", typeErr.Offset, where, typeErr.Value, jsonKind(typeErr.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf("malformed JSON at byte %d: the text ends before the array is closed", length)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return unknownMappingKey(strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return fmt.Sprintf("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
}

// unknownMappingKey answers a SYNC_MAPPINGS key that Mapping does not have; quoted is the key
// as encoding/json quotes it.
func unknownMappingKey(quoted string) string {
	keys := mappingJSONKeys()
	hint := ""
	if key, err := strconv.Unquote(quoted); err == nil {
		if guess := closest(key, keys); guess != "" {
			hint = fmt.Sprintf("did you mean %q? ", guess)
		}
	}
	return fmt.Sprintf("a mapping has the unknown key %s (%sknown keys: %s)", quoted, hint, strings.Join(keys, ", "))
}

// mappingJSONKeys lists the keys a SYNC_MAPPINGS entry takes, read from Mapping's json tags so
// that a new field is named without anyone remembering to.
func mappingJSONKeys() []string {
	var keys []string
	t := reflect.TypeFor[Mapping]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && t.Field(i).IsExported() {
			keys = append(keys, name)
		}
	}
	return keys
}

// jsonKind says in JSON terms what a Go type expects.
func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array of mappings"
	default:
		return "an object with group and space"
	}
}

// quote shows a value in a message, shortened so that a pasted blob does not flood the log.
func quote(v string) string {
	const max = 80
	if len(v) > max {
		return strconv.Quote(v[:max]) + "…"
	}
	return strconv.Quote(v)
}
