package config

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"maunium.net/go/mautrix/id"
)

const sProtectedUsers setting = "protected users (protected_users / PROTECTED_USERS)"

// protectedExample is shown in messages about protected_users.
const protectedExample = `@admin:example.com or /@ops-.*:example\.com/`

// ProtectedEntry is one entry of protected_users: a Matrix ID, or a pattern the whole Matrix ID
// must match.
type ProtectedEntry struct {
	User id.UserID
	// Pattern is anchored as ^(?:…)$, so it matches whole IDs only; nil for a Matrix ID.
	Pattern *regexp.Regexp
}

// ParseProtectedEntry reads one entry of protected_users. An entry starting with @ is a Matrix
// ID (@localpart:server); one written /…/ or re:… is a regular expression (Go's RE2 syntax) that
// must match the whole Matrix ID, so /@ops-.*:example\.com/ protects @ops-anna:example.com but
// not @ops-anna:example.com.evil. Anything else is an error.
func ParseProtectedEntry(s string) (ProtectedEntry, error) {
	s = strings.TrimSpace(s)
	var expr string
	switch {
	case s == "":
		return ProtectedEntry{}, fmt.Errorf("an entry is empty; write a Matrix ID or a pattern such as %s", protectedExample)
	case strings.HasPrefix(s, "@"):
		if _, _, err := id.UserID(s).ParseAndValidateRelaxed(); err != nil {
			return ProtectedEntry{}, fmt.Errorf("%s is not a Matrix user ID; write it as @localpart:server, or as a pattern /…/", quote(s))
		}
		return ProtectedEntry{User: id.UserID(s)}, nil
	case len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/"):
		expr = s[1 : len(s)-1]
	case strings.HasPrefix(s, "re:"):
		expr = strings.TrimPrefix(s, "re:")
	default:
		return ProtectedEntry{}, fmt.Errorf("%s is neither a Matrix ID (@localpart:server) nor a pattern (/…/ or re:…); write it such as %s", quote(s), protectedExample)
	}
	if expr == "" {
		return ProtectedEntry{}, fmt.Errorf("%s is an empty pattern; write one such as %s", quote(s), protectedExample)
	}
	// Compiled alone first: the anchors must not turn a broken pattern such as "a)|(b" into one
	// that compiles and means something else.
	if _, err := regexp.Compile(expr); err != nil {
		return ProtectedEntry{}, fmt.Errorf("pattern %s is not a valid regular expression (%s); patterns use Go's RE2 syntax and match the whole Matrix ID", quote(s), regexpProblem(err))
	}
	return ProtectedEntry{Pattern: regexp.MustCompile("^(?:" + expr + ")$")}, nil
}

// regexpProblem is what the regexp package says is wrong, without its "error parsing regexp: "
// prefix.
func regexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String() + ": " + quote(se.Expr)
	}
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// Protected returns protected_users parsed; Load has refused any entry that does not parse, so
// none is left out in a loaded configuration.
func (c *Config) Protected() []ProtectedEntry {
	out := make([]ProtectedEntry, 0, len(c.ProtectedUsers))
	for _, s := range c.ProtectedUsers {
		if e, err := ParseProtectedEntry(s); err == nil {
			out = append(out, e)
		}
	}
	return out
}

// applyProtectedEnv reads PROTECTED_USERS, comma-separated (a pattern holding a comma belongs in
// the file).
func (l *loader) applyProtectedEnv(c *Config) {
	if len(c.ProtectedUsers) == 0 {
		c.ProtectedUsers = nil // "protected_users: []" in the file means the same as no key
	}
	v, ok := l.lookup("PROTECTED_USERS")
	if !ok {
		return
	}
	c.ProtectedUsers = nil
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.ProtectedUsers = append(c.ProtectedUsers, e)
		}
	}
}

// checkProtected validates protected_users, naming each entry that does not parse.
func (c *Config) checkProtected(ps *problems) {
	for i, s := range c.ProtectedUsers {
		if _, err := ParseProtectedEntry(s); err != nil {
			ps.add(sProtectedUsers, "entry #%d: %v", i+1, err)
		}
	}
}
