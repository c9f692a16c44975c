package appservice

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Registration is an appservice registration file as Synapse reads it
// (app_service_config_files). It holds both tokens: keep it secret, since the as_token can act
// as any local user.
type Registration struct {
	ID string
	// URL is where the homeserver pushes transactions; empty is written as null (no pushes).
	URL             string
	ASToken         string
	HSToken         string
	SenderLocalpart string
	// RateLimited is true when the homeserver rate-limits the appservice; Synapse's default when
	// the key is missing is true.
	RateLimited bool
	Namespaces  Namespaces
}

// Namespaces are the users, aliases and rooms an appservice claims.
type Namespaces struct {
	Users   []Namespace `yaml:"users"`
	Aliases []Namespace `yaml:"aliases"`
	Rooms   []Namespace `yaml:"rooms"`
}

// Namespace is one regex of a registration. Synapse applies it with Python's re.match: anchored
// at the start only, so generated regexes carry both ^ and $.
type Namespace struct {
	Exclusive bool   `yaml:"exclusive"`
	Regex     string `yaml:"regex"`
}

// registrationFile is the on-disk shape. url is a node so that a missing key can be told apart
// from an explicit null, as Synapse does.
type registrationFile struct {
	ID              string     `yaml:"id"`
	URL             yaml.Node  `yaml:"url"`
	ASToken         string     `yaml:"as_token"`
	HSToken         string     `yaml:"hs_token"`
	SenderLocalpart string     `yaml:"sender_localpart"`
	RateLimited     *bool      `yaml:"rate_limited"`
	Namespaces      Namespaces `yaml:"namespaces"`
}

const tokenLength = 64

// Synapse's rule for localparts of new users.
var localpartRe = regexp.MustCompile(`^[a-z0-9._=/+-]+$`)

// GenerateRegistration makes a new registration with fresh random tokens. Its user namespace
// covers every user of domain, non-exclusively: the bot must act as users that log in through
// SSO and own their accounts, and an exclusive namespace would stop those accounts from being
// created and hide them from the user directory. There is deliberately no second, exclusive
// entry reserving the bot's own ID: the bot's account is registered when the program starts, so
// the name is taken anyway, and a single entry keeps the file's effect easy to reason about.
//
// url may be empty: the homeserver then pushes nothing (no admin-room commands).
func GenerateRegistration(id, url, senderLocalpart, domain string) (*Registration, error) {
	switch {
	case id == "":
		return nil, errors.New("generate registration: the appservice id is empty: pick a short name such as authentik-sync")
	case strings.Contains(id, "|"):
		return nil, fmt.Errorf("generate registration: the appservice id %q contains '|', which Synapse rejects", id)
	case !localpartRe.MatchString(senderLocalpart):
		return nil, fmt.Errorf("generate registration: sender_localpart %q is not a valid localpart: use lowercase letters, digits and ._=/+-", senderLocalpart)
	case domain == "":
		return nil, errors.New("generate registration: the homeserver domain is empty: set it to the server name in user IDs")
	case domain == "example.com":
		return nil, errors.New("generate registration: the homeserver domain is still the placeholder example.com: set it to your server name first")
	}
	if err := checkPushURL(url); err != nil {
		return nil, fmt.Errorf("generate registration: %w", err)
	}
	asToken, err := randomToken()
	if err != nil {
		return nil, err
	}
	hsToken, err := randomToken()
	if err != nil {
		return nil, err
	}
	return &Registration{
		ID:              id,
		URL:             url,
		ASToken:         asToken,
		HSToken:         hsToken,
		SenderLocalpart: senderLocalpart,
		RateLimited:     false,
		Namespaces: Namespaces{
			Users:   []Namespace{{Exclusive: false, Regex: "^@.*:" + regexp.QuoteMeta(domain) + "$"}},
			Aliases: []Namespace{},
			Rooms:   []Namespace{},
		},
	}, nil
}

func checkPushURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("appservice url %q is not an http(s) address such as http://127.0.0.1:29333", raw)
	}
	return nil
}

func randomToken() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	// Bytes at or above the largest multiple of len(alphabet) are dropped so every character is
	// equally likely.
	const limit = 256 - 256%len(alphabet)
	token := make([]byte, 0, tokenLength)
	buf := make([]byte, tokenLength)
	for len(token) < tokenLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("generate registration token: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(token) < tokenLength {
				token = append(token, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(token), nil
}

// LoadRegistration reads a registration file, checking what Synapse checks.
func LoadRegistration(path string) (*Registration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read appservice registration: %w (generate one first)", err)
	}
	var f registrationFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parse appservice registration %s: %w", path, err)
	}
	var missing []string
	for _, field := range []struct{ key, val string }{
		{"id", f.ID}, {"as_token", f.ASToken}, {"hs_token", f.HSToken}, {"sender_localpart", f.SenderLocalpart},
	} {
		if field.val == "" {
			missing = append(missing, field.key)
		}
	}
	if f.URL.Kind == 0 {
		missing = append(missing, "url (a string, or null for no pushes)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("appservice registration %s lacks %s: regenerate it or add the keys", path, strings.Join(missing, ", "))
	}
	r := &Registration{
		ID:              f.ID,
		ASToken:         f.ASToken,
		HSToken:         f.HSToken,
		SenderLocalpart: f.SenderLocalpart,
		RateLimited:     f.RateLimited == nil || *f.RateLimited,
		Namespaces:      f.Namespaces,
	}
	if f.URL.ShortTag() != "!!null" {
		if err := f.URL.Decode(&r.URL); err != nil || f.URL.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("appservice registration %s: url must be a string or null", path)
		}
		if err := checkPushURL(r.URL); err != nil {
			return nil, fmt.Errorf("appservice registration %s: %w", path, err)
		}
	}
	return r, nil
}

// Save writes the registration readable by its owner only, replacing any previous file at once.
func (r *Registration) Save(path string) error {
	var urlNode yaml.Node
	if r.URL == "" {
		urlNode = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	} else {
		urlNode = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: r.URL}
	}
	rateLimited := r.RateLimited
	f := registrationFile{
		ID:              r.ID,
		URL:             urlNode,
		ASToken:         r.ASToken,
		HSToken:         r.HSToken,
		SenderLocalpart: r.SenderLocalpart,
		RateLimited:     &rateLimited,
		Namespaces:      r.Namespaces,
	}
	var body strings.Builder
	body.WriteString("# Appservice registration for authentik-matrix-sync. List this file in the homeserver's\n" +
		"# app_service_config_files and restart it. Keep it secret: the as_token can act as any local user.\n")
	enc := yaml.NewEncoder(&body)
	enc.SetIndent(2)
	if err := enc.Encode(&f); err != nil {
		return fmt.Errorf("encode appservice registration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode appservice registration: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".registration-*.yaml")
	if err != nil {
		return fmt.Errorf("save appservice registration to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save appservice registration to %s: %w", path, err)
	}
	if _, err := tmp.WriteString(body.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("save appservice registration to %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save appservice registration to %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save appservice registration to %s: %w", path, err)
	}
	return nil
}
