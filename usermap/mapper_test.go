package usermap

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestLocalpartMatchesSynapse(t *testing.T) {
	// Expected values were produced by Synapse's own map_username_to_mxid_localpart.
	tests := map[string]string{
		"Alice@corp":     "alice=40corp",
		"_x":             "=5fx",
		"Bob.Smith@corp": "bob.smith=40corp",
		"ÄÖ":             "=c3=84=c3=96",
		"a b":            "a=20b",
		"=":              "=3d",
		"UPPER/+":        "upper/+",
		"a_b":            "a_b",
		"plain":          "plain",
	}
	for in, want := range tests {
		if got := Localpart(in); got != want {
			t.Errorf("Localpart(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMap(t *testing.T) {
	alice := Identity{PK: 7, Username: "Alice@corp", Email: "a.lice@example.org", UID: "abc123",
		Attributes: map[string]any{"matrix_id": "", "dept": "Ops"}}
	tests := []struct {
		name      string
		template  string
		attribute string
		user      Identity
		want      id.UserID
		wantErr   string
	}{
		{name: "default template", user: alice, want: "@alice=40corp:hs.example"},
		{name: "email localpart", template: "@{email_localpart}:{server}", user: alice, want: "@a.lice:hs.example"},
		{name: "prefix, uid and literal server", template: "@ak_{uid}:other.example", user: alice, want: "@ak_abc123:other.example"},
		{name: "pk", template: "@u{pk}:{server}", user: alice, want: "@u7:hs.example"},
		{name: "attribute placeholder", template: "@{attr:dept}.{username}:{server}", user: alice, want: "@ops.alice=40corp:hs.example"},
		{name: "attribute override wins", attribute: "matrix_id",
			user: Identity{Username: "bob", Attributes: map[string]any{"matrix_id": "@robert:elsewhere.example"}}, want: "@robert:elsewhere.example"},
		{name: "empty attribute falls back to the template", attribute: "matrix_id", user: alice, want: "@alice=40corp:hs.example"},
		{name: "invalid attribute is an error, not a fallback", attribute: "matrix_id",
			user: Identity{Username: "bob", Attributes: map[string]any{"matrix_id": "robert"}}, wantErr: "not a Matrix user ID"},
		{name: "non-string attribute", attribute: "matrix_id",
			user: Identity{Username: "bob", Attributes: map[string]any{"matrix_id": 5.0}}, wantErr: "not a string"},
		{name: "missing email", template: "@{email_localpart}:{server}", user: Identity{Username: "bob"}, wantErr: "no value for {email_localpart}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := New(tt.template, tt.attribute, "hs.example")
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Map(tt.user)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Map = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Map = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNewRejectsBadTemplates(t *testing.T) {
	for tmpl, want := range map[string]string{
		"{username}:{server}":     "must start with @",
		"@{username}":             "must look like @localpart:server",
		"@{username}:":            "must look like @localpart:server",
		"@{nope}:{server}":        "unknown placeholder {nope}",
		"@{username:{server}":     "unknown placeholder",
		"@{username}:{server":     "unclosed {",
		"@Big{username}:{server}": "not valid in a Matrix localpart",
	} {
		if _, err := New(tmpl, "", "hs"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%q) error = %v, want it to contain %q", tmpl, err, want)
		}
	}
}
