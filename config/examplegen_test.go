package config

// This file builds config.example.yaml, the commented example, from the same index as the
// reference (docIndex), and fails when the committed file differs from what it builds:
//
//   - every key but the tuning ones, in the Config struct's order and nesting;
//   - above each key its doc comment (paragraphs, lists and code blocks kept), the default and the
//     variables with names of their own that set it;
//   - as its value the field's example tag if it has one, else its default; a key tagged
//     doc:"unset" is shown commented out (best left unset);
//   - a list of sections (sync.mappings) shows the keys of an entry, one sample entry made of the
//     entry fields' example tags, and then the code blocks of the list's doc comment, which are
//     further entries, commented out.
//
// The hand-written part is the introduction (testdata/example-header.yaml).
//
// Regenerate with: go test ./config -run TestConfigExample -update (or make docs).

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	exampleHeaderPath      = "testdata/example-header.yaml"
	exampleRegenerate      = "go test ./config -run TestConfigExample -update"
	exampleWidth           = 100 // columns of a comment line, its indentation included
	exampleIndent          = "    "
	exampleGeneratedNotice = "# Generated from the structs in config/ by `" + exampleRegenerate + "` (or\n" +
		"# `make docs`). Edit a field's doc comment or example tag, or config/" + exampleHeaderPath + ",\n" +
		"# and regenerate.\n"
)

func TestConfigExample(t *testing.T) {
	got, err := buildExample()
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, examplePath, got, exampleRegenerate)
}

// exampleWriter writes config.example.yaml.
type exampleWriter struct {
	d *docIndex
	b strings.Builder
}

func buildExample() ([]byte, error) {
	d, err := newDocIndex()
	if err != nil {
		return nil, err
	}
	header, err := os.ReadFile(exampleHeaderPath)
	if err != nil {
		return nil, err
	}
	w := &exampleWriter{d: d}
	w.b.Write(header)
	w.b.WriteString("#\n" + exampleGeneratedNotice)
	if err := w.keys(reflect.TypeFor[Config](), "", 0); err != nil {
		return nil, err
	}
	if len(d.missing) > 0 {
		return nil, fmt.Errorf("these keys have no doc comment, which config.example.yaml needs; add one to each field:\n  %s", strings.Join(d.missing, "\n  "))
	}
	return []byte(w.b.String()), nil
}

// keys writes the keys of the struct t, whose path is path, at the given depth.
func (w *exampleWriter) keys(t reflect.Type, path string, depth int) error {
	ind := strings.Repeat(exampleIndent, depth)
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		key := joinKey(path, name)
		r, ok := w.d.byKey[key]
		if !ok {
			return fmt.Errorf("%s is not in the reference's rows", key)
		}
		if !w.d.shown(r) {
			continue
		}
		if depth == 0 {
			w.b.WriteString("\n")
		}
		isList := r.isGroup && r.typ.Kind() == reflect.Slice
		var examples []string
		for _, b := range w.d.doc(r, false) {
			if b.code != "" && isList {
				examples = append(examples, b.code)
				continue
			}
			w.block(ind, b)
		}
		if !r.isGroup {
			if s := w.defaultText(r); s != "" {
				w.comment(ind, s)
			}
		}
		if s := w.envText(r); s != "" {
			w.comment(ind, s)
		}
		switch {
		case r.isGroup && !isList:
			w.b.WriteString(ind + name + ":\n")
			if err := w.keys(elemType(r.typ), key, depth+1); err != nil {
				return err
			}
		case isList:
			w.b.WriteString(ind + name + ":\n")
			entryInd := ind + exampleIndent
			w.comment(entryInd, "The keys of each entry:")
			w.entryKeys(elemType(r.typ), key+"[]", entryInd, "")
			if err := w.sampleEntry(elemType(r.typ), entryInd); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			for _, code := range examples {
				// The lines are entries to uncomment, written at the entries' indentation; a line
				// that is a YAML comment already (# More examples…) stays one.
				for _, line := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
					if !strings.HasPrefix(line, "#") {
						line = "# " + line
					}
					w.b.WriteString(strings.TrimRight(entryInd+line, " ") + "\n")
				}
			}
		default:
			value, err := w.value(r, f)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			line := name + ":"
			if value != "" {
				line += " " + value
			}
			if f.Tag.Get("doc") == "unset" {
				line = "# " + line
			}
			w.b.WriteString(ind + line + "\n")
		}
	}
	return nil
}

// block writes one block of a doc comment as YAML comment lines.
func (w *exampleWriter) block(ind string, b docBlock) {
	switch {
	case b.text != "":
		w.comment(ind, b.text)
	case b.items != nil:
		for _, it := range b.items {
			w.wrap(ind+"#   - ", ind+"#     ", it)
		}
	case b.code != "":
		for _, line := range strings.Split(strings.TrimRight(b.code, "\n"), "\n") {
			w.b.WriteString(strings.TrimRight(ind+"#   "+line, " ") + "\n")
		}
	}
}

func (w *exampleWriter) comment(ind, text string) {
	w.wrap(ind+"# ", ind+"# ", text)
}

// wrap writes text as comment lines of at most exampleWidth columns (a longer word stands alone),
// the first starting with first and the others with rest.
func (w *exampleWriter) wrap(first, rest, text string) {
	line := first
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > exampleWidth {
			w.b.WriteString(line + "\n")
			line, empty = rest, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	w.b.WriteString(line + "\n")
}

// defaultText is the row's "Required" and "Default:" line, or "" when it has neither.
func (w *exampleWriter) defaultText(r row) string {
	var s string
	req := w.d.required[r.key]
	note := strings.ReplaceAll(defaultNotes[r.key], "`", "")
	if strings.HasPrefix(note, "required") && req == "" {
		req, note = note, "" // "required with source: synapse_external_id" is no default
	}
	if req != "" {
		s = strings.ToUpper(req[:1]) + req[1:] + "."
	}
	var def []string
	if v, ok := r.value(w.d.base); ok && !isEmpty(v) {
		def = append(def, formatValue(v))
	}
	if note != "" {
		def = append(def, note)
	}
	if len(def) > 0 {
		if s != "" {
			s += " "
		}
		s += "Default: " + strings.Join(def, "; ")
	}
	return s
}

// envText is the row's "Env:" line: the variables with names of their own that set the key, and
// how they write it. (Every key also has its AMS_ variable, which the header explains.)
func (w *exampleWriter) envText(r row) string {
	var parts []string
	for _, v := range w.d.env[r.key] {
		p := v.name
		if v.form != "" {
			p += " (" + strings.ReplaceAll(v.form, "`", "") + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	return "Env: " + strings.Join(parts, ", ")
}

// entryKeys writes, commented, each key of a list entry of type t with its description, nested
// sections indented under their key.
func (w *exampleWriter) entryKeys(t reflect.Type, path, ind, lead string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		r := w.d.byKey[joinKey(path, name)]
		text := runOn(w.d.doc(r, false))
		// "rejoin: with force, …" rather than "rejoin: rejoin, with force, …".
		if rest, ok := strings.CutPrefix(text, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, ", ")) {
			text = strings.TrimLeft(rest, ", ")
		}
		if note := defaultNotes[r.key]; note != "" {
			text += " Default: " + strings.ReplaceAll(note, "`", "") + "."
		}
		w.wrap(ind+"# "+lead+name+": ", ind+"# "+lead+"    ", text)
		if r.isGroup {
			w.entryKeys(elemType(r.typ), r.key, ind, lead+"  ")
		}
	}
}

// sampleEntry writes one entry of a list of t, made of the example tags of t's fields.
func (w *exampleWriter) sampleEntry(t reflect.Type, ind string) error {
	prefix := "- "
	for i := range t.NumField() {
		f := t.Field(i)
		ex, ok := f.Tag.Lookup("example")
		if !ok {
			continue
		}
		w.b.WriteString(ind + prefix + yamlName(f) + ": " + yamlString(ex) + "\n")
		prefix = "  "
	}
	if prefix == "- " {
		return fmt.Errorf("no field of %s has an example tag, so the example has no entry to show", t.Name())
	}
	return nil
}

// value is the key's value in the example: its example tag, else its default.
func (w *exampleWriter) value(r row, f reflect.StructField) (string, error) {
	if ex, ok := f.Tag.Lookup("example"); ok {
		if f.Type.Kind() != reflect.String {
			return "", fmt.Errorf("an example tag is only read on a string field")
		}
		return yamlString(ex), nil
	}
	v, ok := r.value(w.d.base)
	if !ok {
		return "", fmt.Errorf("no default value to show")
	}
	return exampleValue(v), nil
}

// exampleValue writes v as a YAML value: durations like 90s or 24h, lists in flow style, strings
// quoted only when YAML would read them otherwise; a nil pointer is left empty (YAML's null).
func exampleValue(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]() || v.Type() == reflect.TypeFor[Duration]():
		return formatDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.String:
		return yamlString(v.String())
	case v.Kind() == reflect.Slice:
		var items []string
		for i := range v.Len() {
			items = append(items, exampleValue(v.Index(i)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case v.Kind() == reflect.Float32 || v.Kind() == reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// yamlString writes s plain when YAML reads it back as that very string, else in double quotes.
func yamlString(s string) string {
	var back map[string]any
	if s != "" && !strings.ContainsAny(s, "#'\"\\") && yaml.Unmarshal([]byte("v: "+s), &back) == nil {
		if str, ok := back["v"].(string); ok && str == s {
			return s
		}
	}
	return strconv.Quote(s)
}

func TestExampleValuesReadBack(t *testing.T) {
	for _, s := range []string{"", "plain", "!sync", "#staff:example.com", "@{username}:{server}", "yes", "null", "8",
		"0.25", "a: b", "- x", "[x]", "{x}", "x #y", `quo"te`, `back\slash`, " lead", "trail ", "https://matrix.example.com",
		"127.0.0.1:9100", "*star", "&anchor", "%pct", "'single'"} {
		var back map[string]any
		written := exampleValue(reflect.ValueOf(s))
		if err := yaml.Unmarshal([]byte("v: "+written), &back); err != nil {
			t.Errorf("%q written as %s does not read back: %v", s, written, err)
			continue
		}
		if got, ok := back["v"].(string); !ok || got != s {
			t.Errorf("%q written as %s reads back as %#v", s, written, back["v"])
		}
	}
	for _, tc := range []struct {
		v    any
		want string
	}{
		{24 * time.Hour, "24h"}, {90 * time.Second, "1m30s"}, {0.25, "0.25"}, {true, "true"}, {[]string{}, "[]"},
		{[]string{"@a:x", "b"}, `["@a:x", b]`}, {(*Duration)(nil), ""}, {Duration(72 * time.Hour), "72h"},
	} {
		if got := exampleValue(reflect.ValueOf(tc.v)); got != tc.want {
			t.Errorf("exampleValue(%#v) = %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestExampleWrap(t *testing.T) {
	var w exampleWriter
	long := strings.Repeat("word ", 40) + strings.Repeat("x", 120)
	w.wrap("    # ", "    #   ", long)
	lines := strings.Split(strings.TrimSuffix(w.b.String(), "\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("wrapped into %d lines: %q", len(lines), lines)
	}
	for i, l := range lines {
		if len(l) > exampleWidth && strings.Contains(strings.TrimSpace(strings.TrimPrefix(l, "    #")), " ") {
			t.Errorf("line %d is %d columns and could have been broken: %q", i+1, len(l), l)
		}
		if i > 0 && !strings.HasPrefix(l, "    #   ") {
			t.Errorf("line %d lacks the hanging indent: %q", i+1, l)
		}
	}
	if got := strings.Join(strings.Fields(strings.ReplaceAll(w.b.String(), "#", "")), " "); got != strings.Join(strings.Fields(long), " ") {
		t.Errorf("wrapping changed the words: %q", got)
	}
}
