package webhook

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseBody checks that no body, however hostile, makes the parser panic or hang, and that
// a group it reports is one the body spelled out.
func FuzzParseBody(f *testing.F) {
	f.Add([]byte(defaultBody))
	f.Add([]byte(`{"group": "staff"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := ParseBody(body)
		if c.Group != "" && c.Model != ModelGroup {
			t.Fatalf("group %q reported for model %q", c.Group, c.Model)
		}
		if c.Group != "" && !utf8.ValidString(c.Group) && utf8.Valid(body) {
			t.Fatalf("invalid UTF-8 group %q from a valid UTF-8 body", c.Group)
		}
	})
}
