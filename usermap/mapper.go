// Package usermap turns Authentik users into Matrix user IDs: Synapse's localpart rules, a
// configurable template, and a per-user attribute that overrides both.
package usermap

import (
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Identity is what the mapper may use of an Authentik user.
type Identity struct {
	PK         int
	Username   string
	Email      string
	UID        string
	Attributes map[string]any
}

// DefaultTemplate matches Synapse's usual Authentik OIDC setup (localpart from the username).
const DefaultTemplate = "@{username}:{server}"

// Mapper maps identities to Matrix IDs.
type Mapper struct {
	localpart []segment
	server    []segment
	attribute string
	srv       string
}

// segment is a literal run of the template, or a placeholder.
type segment struct {
	literal     string
	placeholder string // username, email_localpart, uid, pk, server, or attr:NAME
}

// New parses a template such as "@{username}:{server}". attribute names an Authentik user
// attribute holding a full Matrix ID that overrides the template ("" disables it); server fills
// {server}.
func New(template, attribute, server string) (*Mapper, error) {
	if template == "" {
		template = DefaultTemplate
	}
	if !strings.HasPrefix(template, "@") {
		return nil, fmt.Errorf("user mapping template %q must start with @", template)
	}
	segs, err := parseTemplate(template[1:])
	if err != nil {
		return nil, fmt.Errorf("user mapping template %q: %w", template, err)
	}
	// The localpart ends at the first literal ':'; the rest is the server name.
	m := &Mapper{attribute: attribute, srv: server}
	split := false
	for _, s := range segs {
		if !split && s.placeholder == "" {
			if i := strings.IndexByte(s.literal, ':'); i >= 0 {
				if i > 0 {
					m.localpart = append(m.localpart, segment{literal: s.literal[:i]})
				}
				if i+1 < len(s.literal) {
					m.server = append(m.server, segment{literal: s.literal[i+1:]})
				}
				split = true
				continue
			}
		}
		if split {
			m.server = append(m.server, s)
		} else {
			m.localpart = append(m.localpart, s)
		}
	}
	if !split || len(m.localpart) == 0 || len(m.server) == 0 {
		return nil, fmt.Errorf("user mapping template %q must look like @localpart:server, e.g. %s", template, DefaultTemplate)
	}
	for _, s := range m.localpart {
		if s.placeholder == "" && Localpart(s.literal) != s.literal {
			return nil, fmt.Errorf("user mapping template %q: literal %q is not valid in a Matrix localpart (use a-z 0-9 . _ - / +)", template, s.literal)
		}
	}
	return m, nil
}

func parseTemplate(t string) ([]segment, error) {
	var segs []segment
	for len(t) > 0 {
		open := strings.IndexByte(t, '{')
		if open < 0 {
			segs = append(segs, segment{literal: t})
			break
		}
		if open > 0 {
			segs = append(segs, segment{literal: t[:open]})
		}
		end := strings.IndexByte(t[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("unclosed { at %q", t[open:])
		}
		name := t[open+1 : open+end]
		switch {
		case name == "username", name == "email_localpart", name == "uid", name == "pk", name == "server":
		case strings.HasPrefix(name, "attr:") && len(name) > len("attr:"):
		default:
			return nil, fmt.Errorf("unknown placeholder {%s} (known: {username} {email_localpart} {uid} {pk} {server} {attr:NAME})", name)
		}
		segs = append(segs, segment{placeholder: name})
		t = t[open+end+1:]
	}
	return segs, nil
}

// Map returns the user's Matrix ID, or an error saying why there is none.
func (m *Mapper) Map(u Identity) (id.UserID, error) {
	if m.attribute != "" {
		if v, ok := u.Attributes[m.attribute]; ok && v != nil && v != "" {
			s, isString := v.(string)
			if !isString {
				return "", fmt.Errorf("attribute %s of Authentik user %q is not a string", m.attribute, u.Username)
			}
			uid := id.UserID(strings.TrimSpace(s))
			if err := validate(uid); err != nil {
				return "", fmt.Errorf("attribute %s of Authentik user %q: %w", m.attribute, u.Username, err)
			}
			return uid, nil
		}
	}
	var local, server strings.Builder
	for _, s := range m.localpart {
		v, err := m.value(s, u)
		if err != nil {
			return "", err
		}
		if s.placeholder != "" {
			v = Localpart(v)
		}
		local.WriteString(v)
	}
	for _, s := range m.server {
		v, err := m.value(s, u)
		if err != nil {
			return "", err
		}
		server.WriteString(v)
	}
	uid := id.UserID("@" + local.String() + ":" + server.String())
	if err := validate(uid); err != nil {
		return "", fmt.Errorf("user %q from Authentik: %w", u.Username, err)
	}
	return uid, nil
}

func (m *Mapper) value(s segment, u Identity) (string, error) {
	var v string
	switch {
	case s.placeholder == "":
		return s.literal, nil
	case s.placeholder == "username":
		v = u.Username
	case s.placeholder == "email_localpart":
		v, _, _ = strings.Cut(u.Email, "@")
	case s.placeholder == "uid":
		v = u.UID
	case s.placeholder == "pk":
		v = strconv.Itoa(u.PK)
	case s.placeholder == "server":
		v = m.srv
	default:
		name := strings.TrimPrefix(s.placeholder, "attr:")
		raw, ok := u.Attributes[name]
		if ok {
			v, _ = raw.(string)
		}
	}
	if v == "" {
		return "", fmt.Errorf("user %q from Authentik has no value for {%s} in the user mapping template", u.Username, s.placeholder)
	}
	return v, nil
}

// Localpart applies Synapse's mapping of a username to a localpart: ASCII lower-case, every byte
// outside a-z 0-9 . _ - / + written as =xx, and a leading underscore escaped too.
func Localpart(username string) string {
	var b strings.Builder
	for i := 0; i < len(username); i++ {
		c := username[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '/', c == '+',
			c == '_' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02x", c)
		}
	}
	return b.String()
}

func validate(uid id.UserID) error {
	local, server, err := uid.Parse()
	if err != nil || local == "" || server == "" {
		return fmt.Errorf("%q is not a Matrix user ID (want @localpart:server)", string(uid))
	}
	if len(uid) > 255 {
		return fmt.Errorf("%q is longer than 255 bytes", string(uid))
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("._=-/+", c) >= 0) {
			return fmt.Errorf("%q has a character %q that Matrix localparts do not allow", string(uid), c)
		}
	}
	return nil
}
