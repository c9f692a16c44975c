package config

import (
	"strings"
	"testing"
)

// TestYAMLSyntaxErrorsHideFileContent: a file that does not parse may hold a token anywhere; the
// error keeps the line and the kind of mistake but none of the file's text.
func TestYAMLSyntaxErrorsHideFileContent(t *testing.T) {
	tests := []struct {
		name, file, keep string
	}{
		{"token written as an alias", "authentik:\n  token: *" + authentikToken + "\n", "unknown anchor"},
		{"token after a tab", "authentik:\n\ttoken: " + authentikToken + "\n", "line 2"},
		{"unclosed quote", "authentik: {token: '" + authentikToken + "\n", "line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "config.yaml", tc.file, 0o600)
			_, err := Load(path, envFunc(map[string]string{}))
			if err == nil {
				t.Fatal("a broken file loaded")
			}
			if strings.Contains(err.Error(), authentikToken) {
				t.Errorf("error echoes the token: %v", err)
			}
			if !strings.Contains(err.Error(), tc.keep) || !strings.Contains(err.Error(), "not valid YAML") {
				t.Errorf("error %q lost %q", err, tc.keep)
			}
		})
	}
}
