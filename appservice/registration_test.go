package appservice

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestGenerateSaveLoadRoundTrip(t *testing.T) {
	for _, url := range []string{"http://127.0.0.1:29333", ""} {
		t.Run("url="+url, func(t *testing.T) {
			reg, err := GenerateRegistration("authentik-sync", url, "authentik-sync", "matrix.example.org")
			if err != nil {
				t.Fatal(err)
			}
			token := regexp.MustCompile(`^[A-Za-z0-9]{64}$`)
			if !token.MatchString(reg.ASToken) || !token.MatchString(reg.HSToken) || reg.ASToken == reg.HSToken {
				t.Errorf("tokens %q / %q: want two different 64-character alphanumeric tokens", reg.ASToken, reg.HSToken)
			}
			want := []Namespace{{Exclusive: false, Regex: `^@.*:matrix\.example\.org$`}}
			if !reflect.DeepEqual(reg.Namespaces.Users, want) || reg.RateLimited {
				t.Errorf("namespaces %+v, rate_limited %v", reg.Namespaces.Users, reg.RateLimited)
			}

			path := filepath.Join(t.TempDir(), "registration.yaml")
			if err := reg.Save(path); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("file mode %v, want 0600", perm)
			}
			loaded, err := LoadRegistration(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(loaded, reg) {
				t.Errorf("round trip:\n saved  %+v\n loaded %+v", reg, loaded)
			}

			// Synapse reads the file as plain YAML: check the keys and types it expects.
			var raw map[string]any
			data, _ := os.ReadFile(path)
			if err := yaml.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			if u, present := raw["url"]; !present || (url == "" && u != nil) || (url != "" && u != url) {
				t.Errorf("url in file = %#v (present %v), want %q or null", u, present, url)
			}
			if raw["rate_limited"] != false || raw["sender_localpart"] != "authentik-sync" || raw["id"] != "authentik-sync" {
				t.Errorf("file = %v", raw)
			}
		})
	}
}

func TestSaveTightensExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registration.yaml")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg, err := GenerateRegistration("a", "", "bot", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Save(path); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %v after overwriting a 0644 file, want 0600", perm)
	}
}

func TestGenerateRegistrationRefuses(t *testing.T) {
	tests := []struct {
		name, id, url, localpart, domain, want string
	}{
		{"placeholder domain", "a", "", "bot", "example.com", "example.com"},
		{"empty domain", "a", "", "bot", "", "domain is empty"},
		{"empty id", "", "", "bot", "example.org", "id is empty"},
		{"pipe in id", "a|b", "", "bot", "example.org", "'|'"},
		{"bad localpart", "a", "", "Bot!", "example.org", "not a valid localpart"},
		{"bad url", "a", "localhost:29333", "bot", "example.org", "not an http(s) address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := GenerateRegistration(tt.id, tt.url, tt.localpart, tt.domain)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v; want one saying %q", err, tt.want)
			}
		})
	}
}

func TestLoadRegistration(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    *Registration
		wantErr string
	}{
		{
			name: "written by hand, rate_limited defaults to true like Synapse",
			file: "id: sync\nurl: null\nas_token: a\nhs_token: h\nsender_localpart: bot\nnamespaces:\n  users:\n    - exclusive: false\n      regex: '^@.*:example\\.org$'\n",
			want: &Registration{ID: "sync", ASToken: "a", HSToken: "h", SenderLocalpart: "bot", RateLimited: true,
				Namespaces: Namespaces{Users: []Namespace{{Regex: `^@.*:example\.org$`}}}},
		},
		{
			name:    "missing keys are all named",
			file:    "id: sync\nas_token: a\n",
			wantErr: "lacks hs_token, sender_localpart, url",
		},
		{
			name:    "url must be a string",
			file:    "id: sync\nurl: [1]\nas_token: a\nhs_token: h\nsender_localpart: bot\n",
			wantErr: "url must be a string or null",
		},
		{
			name:    "not YAML",
			file:    "id: [unclosed\n",
			wantErr: "parse appservice registration",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "registration.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadRegistration(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v; want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := LoadRegistration(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "generate one first") {
		t.Errorf("missing file: %v", err)
	}
}
