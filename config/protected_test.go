package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseProtectedEntry(t *testing.T) {
	tests := []struct {
		entry   string
		matches []string // Matrix IDs the entry protects
		misses  []string // and some it does not
		wantErr string
	}{
		{entry: "@admin:example.com", matches: []string{"@admin:example.com"}, misses: []string{"@admin2:example.com", "@Admin:example.com"}},
		{entry: `/@ops-.*:example\.com/`, matches: []string{"@ops-anna:example.com", "@ops-:example.com"},
			misses: []string{"@ops-anna:example.com.evil", "@xops-anna:example.com", "@ops-anna:exampleXcom"}},
		{entry: `re:@(root|admin):example\.com`, matches: []string{"@root:example.com", "@admin:example.com"}, misses: []string{"@rooted:example.com"}},
		{entry: `/(?i)@BOSS:example\.com/`, matches: []string{"@boss:example.com"}},
		{entry: "/a/b/", matches: []string{"a/b"}},
		{entry: "", wantErr: "an entry is empty"},
		{entry: "admin", wantErr: `"admin" is neither a Matrix ID (@localpart:server) nor a pattern (/…/ or re:…)`},
		{entry: "@admin", wantErr: `"@admin" is not a Matrix user ID`},
		{entry: "//", wantErr: `"//" is an empty pattern`},
		{entry: "re:", wantErr: `"re:" is an empty pattern`},
		{entry: "/[a-/", wantErr: `pattern "/[a-/" is not a valid regular expression (missing closing ]: "[a-")`},
		{entry: "re:a)|(b", wantErr: `pattern "re:a)|(b" is not a valid regular expression`},
	}
	for _, tc := range tests {
		t.Run(tc.entry, func(t *testing.T) {
			e, err := ParseProtectedEntry(tc.entry)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			protects := func(u string) bool {
				if e.Pattern != nil {
					return e.Pattern.MatchString(u)
				}
				return string(e.User) == u
			}
			for _, u := range tc.matches {
				if !protects(u) {
					t.Errorf("%s does not protect %s", tc.entry, u)
				}
			}
			for _, u := range tc.misses {
				if protects(u) {
					t.Errorf("%s protects %s", tc.entry, u)
				}
			}
		})
	}
}

func TestProtectedUsersFromYAMLAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	yaml := `homeserver: {address: "https://matrix.example.com"}
matrix: {user_id: "@bot:example.com"}
authentik: {url: "https://auth.example.com"}
protected_users:
  - "@admin:example.com"
  - '/@ops-.*:example\.com/'
  - 're:@svc-[a-z]{2,8}:example\.com'
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"AUTHENTIK_TOKEN": authentikToken, "MATRIX_ACCESS_TOKEN": matrixToken}
	c, err := Load(path, envFunc(secrets))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"@admin:example.com", `/@ops-.*:example\.com/`, `re:@svc-[a-z]{2,8}:example\.com`}
	if !slices.Equal(c.ProtectedUsers, want) {
		t.Errorf("from YAML: %q, want %q", c.ProtectedUsers, want)
	}
	entries := c.Protected()
	if len(entries) != 3 || entries[0].User != "@admin:example.com" || !entries[2].Pattern.MatchString("@svc-ci:example.com") {
		t.Errorf("parsed: %+v", entries)
	}

	// The environment replaces the file's list; blanks and a trailing comma are ignored.
	c, err = Load(path, envFunc(with(secrets, map[string]string{"PROTECTED_USERS": " @root:example.com , /@ops-.*:example\\.com/,"})))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"@root:example.com", `/@ops-.*:example\.com/`}; !slices.Equal(c.ProtectedUsers, want) {
		t.Errorf("from the environment: %q, want %q", c.ProtectedUsers, want)
	}

	// None configured: nil, as when the example's "protected_users: []" is loaded.
	c = mustLoad(t, "", clientEnv())
	if c.ProtectedUsers != nil || len(c.Protected()) != 0 {
		t.Errorf("without protected_users: %q", c.ProtectedUsers)
	}
}

func TestProtectedUsersProblems(t *testing.T) {
	_, err := Load("", envFunc(with(clientEnv(), map[string]string{"PROTECTED_USERS": "@admin:example.com,/[oops/,admin"})))
	if err == nil {
		t.Fatal("bad entries were accepted")
	}
	for _, want := range []string{
		`protected users (protected_users / PROTECTED_USERS): entry #2: pattern "/[oops/" is not a valid regular expression`,
		`protected users (protected_users / PROTECTED_USERS): entry #3: "admin" is neither a Matrix ID`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "entry #1") {
		t.Errorf("the valid entry is reported: %v", err)
	}
}
