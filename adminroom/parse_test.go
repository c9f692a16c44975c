package adminroom

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testSyntaxes() []Syntax {
	return syntaxes((&Bot{opts: Options{Prefix: DefaultPrefix}}).commands())
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		addressed bool
		want      Parsed
		errHas    string // "" means no error
		unknown   bool
	}{
		{"not for the bot", "hello there", false, Parsed{Args: []string{}}, "", false},
		{"prefix glued to a word is not the prefix", "!syncing status", false, Parsed{Args: []string{}}, "", false},
		{"bare prefix means help", "!sync", true, Parsed{Name: "help", Args: []string{}}, "", false},
		{"simple command", "!sync status", true, Parsed{Name: "status", Args: []string{}}, "", false},
		{"extra spaces and tabs", "  !sync \t  cancel   @a:x   !r:x  ", true, Parsed{Name: "cancel", Args: []string{"@a:x", "!r:x"}}, "", false},
		{"command name is case-insensitive", "!sync STATUS", true, Parsed{Name: "status", Args: []string{}}, "", false},
		{"alias", "!sync st", true, Parsed{Name: "status", Args: []string{}}, "", false},
		{"double quotes keep spaces", `!sync help "cancel"`, true, Parsed{Name: "help", Args: []string{"cancel"}}, "", false},
		{"single quotes", `!sync audit '@a:x'`, true, Parsed{Name: "audit", Args: []string{"@a:x"}}, "", false},
		{"escaped quote inside double quotes", `!sync help "a\"b"`, true, Parsed{Name: "help", Args: []string{`a"b`}}, "", false},
		{"unclosed quote", `!sync help "cancel`, true, Parsed{}, "quote is not closed", false},
		{"unknown command gives a help hint", "!sync frobnicate", true, Parsed{}, "Say !sync help", true},
		{"missing argument gives the usage line", "!sync cancel", true, Parsed{}, "Usage: !sync cancel @user [room]", false},
		{"too many arguments", "!sync status now", true, Parsed{}, "Usage: !sync status", false},
		{"not a user ID", "!sync exempt alice", true, Parsed{}, "not a Matrix user ID", false},
		{"user ID without server", "!sync exempt @alice", true, Parsed{}, "not a Matrix user ID", false},
		{"not a room ID", "!sync cancel @a:x room:x", true, Parsed{}, "neither a room ID", false},
		{"a room alias", "!sync cancel @a:x #room:x", true, Parsed{Name: "cancel", Args: []string{"@a:x", "#room:x"}}, "", false},
		{"room version 12 ID", "!sync cancel @a:x !opaque", true, Parsed{Name: "cancel", Args: []string{"@a:x", "!opaque"}}, "", false},
		{"optional argument left out", "!sync audit", true, Parsed{Name: "audit", Args: []string{}}, "", false},
		{"longest ID the specification allows", "!sync why @" + strings.Repeat("a", 240) + ":example.org !" + strings.Repeat("r", 240) + ":example.org", true,
			Parsed{Name: "why", Args: []string{"@" + strings.Repeat("a", 240) + ":example.org", "!" + strings.Repeat("r", 240) + ":example.org"}}, "", false},
		{"oversized command names the limit", "!sync why @" + strings.Repeat("a", 2000) + ":x", true, Parsed{}, "at most 1024 bytes", false},
		{"oversized chat that is no command stays ignored", strings.Repeat("hello ", 2000), false, Parsed{Args: []string{}}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, addressed, err := ParseCommand(DefaultPrefix, tc.body, testSyntaxes())
			if addressed != tc.addressed {
				t.Fatalf("addressed %v, want %v", addressed, tc.addressed)
			}
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if got.Args == nil && tc.want.Args != nil {
					got.Args = []string{}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %#v, want %#v", got, tc.want)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(pe.Msg, tc.errHas) || pe.Unknown != tc.unknown {
				t.Fatalf("error %#v, want a ParseError containing %q (unknown %v)", err, tc.errHas, tc.unknown)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	s := Syntax{Name: "cancel", Args: []Arg{{Name: "@user"}, {Name: "room", Optional: true}}}
	if got := s.Usage(); got != "cancel @user [room]" {
		t.Errorf("usage %q", got)
	}
}

// FuzzParseCommand checks that no message makes the parser panic, and that what it accepts is
// a known command with an acceptable number of arguments.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"!sync status", `!sync cancel "@a:x" '!r:x'`, "!sync", "!sync \"", "hello", "!sync help \\"} {
		f.Add(s)
	}
	syns := testSyntaxes()
	f.Fuzz(func(t *testing.T, body string) {
		p, addressed, err := ParseCommand(DefaultPrefix, body, syns)
		if !addressed || err != nil {
			if !addressed && err != nil {
				t.Fatalf("an error for a message not addressed to the bot: %v", err)
			}
			return
		}
		for _, s := range syns {
			if s.Name == p.Name {
				if len(p.Args) > len(s.Args) {
					t.Fatalf("%q accepted with %d args, at most %d", body, len(p.Args), len(s.Args))
				}
				return
			}
		}
		t.Fatalf("%q parsed to unknown command %q", body, p.Name)
	})
}
