package webhook

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Change is what a webhook body says changed. Every field may be empty: a body Authentik's
// transport sends can be anything its body mapping returns.
type Change struct {
	// Action is the event's action, such as model_updated.
	Action string
	// Model is the changed object's app and model, such as authentik_core.group.
	Model string
	// Name is the changed object's name: a group's name, a user's display name.
	Name string
	// Group is the changed group's name when the object is a group (or the body named one).
	Group string
}

// Authentik's models whose events this package understands.
const (
	ModelGroup = "authentik_core.group"
	ModelUser  = "authentik_core.user"
)

// ParseBody reads a webhook body. It understands three shapes and gives an empty Change for
// anything else (empty, not JSON, malformed):
//   - the body mapping this project documents: {"action": "...", "model": {"app", "model_name",
//     "pk", "name"}}, the event's own context.model;
//   - a hand-made call: {"group": "<name>"};
//   - Authentik's default body, whose "body" is the event summary "<action>: <context>" with the
//     context written as a Python dict (not JSON), holding the same "model".
func ParseBody(body []byte) Change {
	var top map[string]any
	if err := json.Unmarshal(body, &top); err != nil {
		return Change{}
	}
	if m, ok := top["model"].(map[string]any); ok {
		c := changeOf(m)
		c.Action, _ = top["action"].(string)
		return c
	}
	if g, ok := top["group"].(string); ok {
		return Change{Group: g, Name: g, Model: ModelGroup}
	}
	if summary, ok := top["body"].(string); ok {
		return parseSummary(summary)
	}
	return Change{}
}

// changeOf reads a context.model: {"app": "authentik_core", "model_name": "group", "pk": …,
// "name": …}.
func changeOf(m map[string]any) Change {
	app, _ := m["app"].(string)
	model, _ := m["model_name"].(string)
	name, _ := m["name"].(string)
	c := Change{Name: name}
	if app != "" || model != "" {
		c.Model = app + "." + model
	}
	if c.Model == ModelGroup {
		c.Group = name
	}
	return c
}

// parseSummary reads Authentik's event summary, "<action>: <context as a Python dict>".
func parseSummary(s string) Change {
	action, rest, ok := strings.Cut(s, ": ")
	if !ok || strings.ContainsAny(action, " {") || !strings.HasPrefix(rest, "{") {
		return Change{}
	}
	v, err := parsePython(rest)
	if err != nil {
		return Change{Action: action}
	}
	ctx, _ := v.(map[string]any)
	m, _ := ctx["model"].(map[string]any)
	c := changeOf(m)
	c.Action = action
	return c
}

// maxPythonDepth bounds nesting, so that a hostile body cannot exhaust the stack.
const maxPythonDepth = 32

var errPython = errors.New("not a Python literal")

// parsePython reads a Python literal as repr() writes the JSON-like values of an event context:
// dicts, lists, tuples, strings in either quote with backslash escapes, numbers, True, False and
// None. Numbers and other bare words are kept as their text. Trailing text is an error.
func parsePython(s string) (any, error) {
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, errPython
	}
	return v, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPythonDepth {
		return nil, errPython
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errPython
	}
	switch c := p.s[p.i]; c {
	case '{':
		return p.dict(depth)
	case '[':
		return p.sequence(depth, ']')
	case '(':
		return p.sequence(depth, ')')
	case '\'', '"':
		return p.str(c)
	default:
		return p.word()
	}
}

func (p *pyParser) dict(depth int) (any, error) {
	p.i++ // {
	out := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, errPython
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if key, ok := k.(string); ok {
			out[key] = v
		}
		if !p.separator('}') {
			return nil, errPython
		}
	}
}

func (p *pyParser) sequence(depth int, end byte) (any, error) {
	p.i++ // [ or (
	var out []any
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return out, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if !p.separator(end) {
			return nil, errPython
		}
	}
}

// separator consumes a comma, or leaves the closing bracket for the caller's loop.
func (p *pyParser) separator(end byte) bool {
	p.space()
	if p.i >= len(p.s) {
		return false
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return true
	case end:
		return true
	}
	return false
}

func (p *pyParser) str(quote byte) (any, error) {
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == quote:
			p.i++
			return b.String(), nil
		case c == '\\':
			if err := p.escape(&b); err != nil {
				return nil, err
			}
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return nil, errPython
}

// escape decodes one backslash escape as Python's repr() writes them.
func (p *pyParser) escape(b *strings.Builder) error {
	if p.i+1 >= len(p.s) {
		return errPython
	}
	c := p.s[p.i+1]
	p.i += 2
	hex := 0
	switch c {
	case 'n':
		b.WriteByte('\n')
	case 't':
		b.WriteByte('\t')
	case 'r':
		b.WriteByte('\r')
	case '\\', '\'', '"':
		b.WriteByte(c)
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	default:
		b.WriteByte('\\')
		b.WriteByte(c)
	}
	if hex == 0 {
		return nil
	}
	if p.i+hex > len(p.s) {
		return errPython
	}
	n, err := strconv.ParseUint(p.s[p.i:p.i+hex], 16, 32)
	if err != nil || n > utf8.MaxRune {
		return errPython
	}
	p.i += hex
	b.WriteRune(rune(n))
	return nil
}

// word reads a bare token: a number, True, False, None, or anything up to a delimiter.
func (p *pyParser) word() (any, error) {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(",:{}[]() \t\n\r'\"", rune(p.s[p.i])) {
		p.i++
	}
	w := p.s[start:p.i]
	switch w {
	case "":
		return nil, errPython
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return w, nil
}
