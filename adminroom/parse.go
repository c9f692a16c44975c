package adminroom

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ArgKind says what an argument must look like.
type ArgKind int

const (
	// ArgWord is any word.
	ArgWord ArgKind = iota
	// ArgUser is a Matrix user ID (@local:server).
	ArgUser
	// ArgRoom is a Matrix room ID (!opaque:server, or !opaque in room version 12) or a room
	// alias (#name:server), which the bot resolves before the command runs.
	ArgRoom
)

// Arg is one argument of a command, as the usage line shows it.
type Arg struct {
	Name     string
	Kind     ArgKind
	Optional bool
}

// Syntax is the part of a command the parser needs: its names and arguments.
type Syntax struct {
	Name    string
	Aliases []string
	Args    []Arg
}

// Usage is the command's usage line, e.g. "cancel @user [room]".
func (s Syntax) Usage() string {
	parts := []string{s.Name}
	for _, a := range s.Args {
		if a.Optional {
			parts = append(parts, "["+a.Name+"]")
		} else {
			parts = append(parts, a.Name)
		}
	}
	return strings.Join(parts, " ")
}

// ParseError is a command the parser could not accept; its message is meant for the sender.
type ParseError struct {
	// Unknown is set for a command name the bot does not know.
	Unknown bool
	Msg     string
}

func (e *ParseError) Error() string { return e.Msg }

var errUnbalanced = errors.New("a quote is not closed")

// MaxCommandBytes bounds a command's length. The longest a command needs is two IDs, and the
// Matrix specification caps a user or room ID at 255 bytes.
const MaxCommandBytes = 1024

// Parsed is an accepted command: its syntax (by canonical name) and its arguments.
type Parsed struct {
	Name string
	Args []string
}

// ParseCommand reads a message body. addressed is false when the message is not for the bot
// (it does not start with the prefix as a word of its own). The error, when set, is a
// *ParseError whose text can be sent back as it is.
func ParseCommand(prefix, body string, commands []Syntax) (p Parsed, addressed bool, err error) {
	body = strings.TrimSpace(body)
	rest, ok := strings.CutPrefix(body, prefix)
	if !ok || prefix == "" || !startsWithSpace(rest) {
		return Parsed{}, false, nil
	}
	if len(body) > MaxCommandBytes {
		// Not read, and not echoed: a reply quoting it could exceed the 64 KiB of an event
		// and never arrive.
		return Parsed{}, true, &ParseError{Msg: fmt.Sprintf("That command is %d bytes long; a command is at most %d bytes. Say %s help.", len(body), MaxCommandBytes, prefix)}
	}
	words, err := splitWords(rest)
	if err != nil {
		return Parsed{}, true, &ParseError{Msg: fmt.Sprintf("Cannot read the command: %v. Say %s help.", err, prefix)}
	}
	if len(words) == 0 {
		words = []string{"help"}
	}
	name := strings.ToLower(words[0])
	var syn *Syntax
	for i := range commands {
		if commands[i].Name == name || contains(commands[i].Aliases, name) {
			syn = &commands[i]
			break
		}
	}
	if syn == nil {
		return Parsed{}, true, &ParseError{Unknown: true, Msg: fmt.Sprintf("Unknown command %q. Say %s help for the list.", words[0], prefix)}
	}
	args := words[1:]
	if err := checkArgs(*syn, args); err != nil {
		return Parsed{}, true, &ParseError{Msg: fmt.Sprintf("%v. Usage: %s %s", err, prefix, syn.Usage())}
	}
	return Parsed{Name: syn.Name, Args: args}, true, nil
}

// startsWithSpace is true for "" too: the prefix alone is a command.
func startsWithSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return s == "" || unicode.IsSpace(r)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkArgs(syn Syntax, args []string) error {
	required := 0
	for _, a := range syn.Args {
		if !a.Optional {
			required++
		}
	}
	if len(args) < required {
		return fmt.Errorf("%s needs %s", syn.Name, syn.Args[len(args)].Name)
	}
	if len(args) > len(syn.Args) {
		return fmt.Errorf("%s takes at most %d argument(s), got %d", syn.Name, len(syn.Args), len(args))
	}
	for i, v := range args {
		a := syn.Args[i]
		switch a.Kind {
		case ArgUser:
			if !looksLikeID(v, '@') {
				return fmt.Errorf("%q is not a Matrix user ID such as @alice:example.org", v)
			}
		case ArgRoom:
			if !looksLikeRoom(v) && !looksLikeID(v, '#') {
				return fmt.Errorf("%q is neither a room ID such as !abc:example.org nor an alias such as #staff:example.org", v)
			}
		}
	}
	return nil
}

// looksLikeID checks the sigil and a non-empty localpart and server, without whitespace.
func looksLikeID(v string, sigil byte) bool {
	if len(v) < 4 || v[0] != sigil || strings.ContainsFunc(v, unicode.IsSpace) {
		return false
	}
	local, server, ok := strings.Cut(v[1:], ":")
	return ok && local != "" && server != ""
}

// looksLikeRoom accepts !opaque:server and the server-less IDs of room version 12.
func looksLikeRoom(v string) bool {
	return looksLikeID(v, '!') || (len(v) > 1 && v[0] == '!' && !strings.ContainsFunc(v, unicode.IsSpace))
}

// splitWords splits on white space; "double" or 'single' quotes keep spaces inside a word, and
// a backslash inside double quotes escapes the next character.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '"' && r == '\\':
			escaped = true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, errUnbalanced
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
