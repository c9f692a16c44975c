package config

// This file builds docs/configuration.md, the configuration reference, from the config package
// itself, and fails when the committed file differs from what it builds:
//
//   - the keys, their nesting and their types come from the Config struct (reflection);
//   - the descriptions are the fields' doc comments (go/ast over this package's source), with Go
//     names rewritten into YAML keys and the values of the package's constants;
//   - the defaults are what load fills in when neither a file nor the environment says anything;
//   - the environment variables are found by trying: every variable name this package's source
//     spells out is set, alone, to a few probe values, and the fields that change are the ones it
//     sets (the setting names such as "sync interval (sync.interval / SYNC_INTERVAL_SECONDS)" are
//     checked against the result);
//   - "required" comes from the validation messages of an empty configuration.
//
// The hand-written parts are the introduction (testdata/reference-header.md) and defaultNotes
// below, for defaults that depend on other settings.
//
// Regenerate with: go test ./config -run TestConfigurationReference -update (or make docs).

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

var updateReference = flag.Bool("update", false, "rewrite ../docs/configuration.md and ../config.example.yaml from the config structs")

const (
	referencePath     = "../docs/configuration.md"
	regenerateCommand = "go test ./config -run TestConfigurationReference -update"
)

// defaultNotes says what the default of a key is when it is not a fixed value: when it depends on
// another setting, or on the mode, or for the keys of a list entry (which has no defaults of its
// own). It is shown in the Default column after the fixed default, if any. Keys here must exist.
var defaultNotes = map[string]string{
	"homeserver.domain":                        "the server part of `matrix.user_id`",
	"matrix.user_id":                           "appservice mode: `@<appservice.bot_username>:<homeserver.domain>`",
	"appservice.id":                            "or the registration's `id`",
	"appservice.address":                       "or the registration's `url`",
	"appservice.bot_username":                  "or the registration's `sender_localpart`; in appservice mode the localpart of `matrix.user_id` when that is set",
	"appservice.as_token":                      "from the registration file",
	"appservice.hs_token":                      "from the registration file",
	"user_mapping.server":                      "`homeserver.domain`",
	"database.type":                            "`postgres` when `database.uri` is a `postgres://` URL",
	"database.data_dir":                        "the container image uses `/app/data`",
	"sync.mappings[].method":                   "`sync.join_method`",
	"sync.mappings[].remove_action":            "`sync.remove_action`",
	"sync.mappings[].grace_period":             "`sync.grace_period`",
	"sync.mappings[].remove":                   "`true`",
	"sync.mappings[].create_if_missing.preset": "`private_chat`",
	"user_mapping.external_id.auth_provider":   "required with `source: synapse_external_id`",
}

// referenceHeaderPath holds the hand-written introduction of docs/configuration.md (Markdown, with
// links relative to docs/); the tables after it are generated.
const referenceHeaderPath = "testdata/reference-header.md"

func TestConfigurationReference(t *testing.T) {
	got, err := buildReference()
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, referencePath, got, regenerateCommand)
}

// checkGenerated fails when the committed file at path differs from got, or with -update
// rewrites it.
func checkGenerated(t *testing.T, path string, got []byte, regenerate string) {
	t.Helper()
	if *updateReference {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v; create it with: %s", path, err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: it differs from what the config structs give (first difference at line %d); regenerate it with: %s (or make docs)",
			filepath.Base(path), firstDifferentLine(got, want), regenerate)
	}
}

// TestSettingNamesAgreeWithTheEnvironment checks the "(key / VARIABLE)" part of every setting
// name against what the variables really set, so that error messages and the reference agree.
func TestSettingNamesAgreeWithTheEnvironment(t *testing.T) {
	src, err := parseSource(".")
	if err != nil {
		t.Fatal(err)
	}
	rows := referenceRows()
	known := map[string]bool{}
	for _, r := range rows {
		known[r.key] = true
	}
	env, err := probeEnvironment(src.envNames, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range src.settings {
		for _, ref := range settingRefs(s) {
			if !known[ref.key] {
				t.Errorf("setting %q names the key %s, which the Config struct does not have", s, ref.key)
				continue
			}
			if ref.env != "" && !slices.ContainsFunc(env[ref.key], func(v envVar) bool { return v.name == ref.env }) {
				t.Errorf("setting %q says %s sets %s, but setting %s alone does not change it", s, ref.env, ref.key, ref.env)
			}
		}
	}
}

func TestDefaultNotesNameRealKeys(t *testing.T) {
	known := map[string]bool{}
	for _, r := range referenceRows() {
		known[r.key] = true
	}
	for key := range defaultNotes {
		if !known[key] {
			t.Errorf("defaultNotes has a note for %s, which is no key of the Config struct; remove or rename it", key)
		}
	}
}

func TestDocRewriting(t *testing.T) {
	fields := map[string]string{"GracePeriod": "grace_period", "URL": "url"}
	consts := map[string]string{"RemoveKick": "kick"}
	for _, tc := range []struct{ field, in, want string }{
		{"GracePeriod", "GracePeriod is how long someone waits (X).", "How long someone waits (X)."},
		{"URL", "URL is the base URL.", "The base URL."},
		{"Other", "Other and GracePeriod use RemoveKick <here> | *x*.", "Other and `grace_period` use `kick` &lt;here&gt; \\| \\*x\\*."},
		{"Other", "X-Webhook-URL, URLs, GracePeriods and a_GracePeriod stay; (GracePeriod) does not.", "X-Webhook-URL, URLs, GracePeriods and a_GracePeriod stay; (`grace_period`) does not."},
	} {
		if got := rewriteDoc(tc.in, tc.field, false, nil, fields, consts, nil); got != tc.want {
			t.Errorf("rewriteDoc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func firstDifferentLine(a, b []byte) int {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(la), len(lb)) {
		if la[i] != lb[i] {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}

// row is one key of the reference.
type row struct {
	key     string       // sync.mappings[].group
	section string       // the top-level key it belongs to
	typ     reflect.Type // the field's type
	owner   reflect.Type // the struct declaring the field
	field   string       // the Go field name
	index   []int        // field indexes from Config; nil below a list or map entry
	json    string       // the JSON key path inside the parent list's variable, if any
	list    string       // the key of the list or map the row sits in, if any
	isGroup bool         // a struct, a list of structs or a map of structs: its keys follow
}

// referenceRows lists every YAML key of Config in declaration order, each section before its keys.
func referenceRows() []row {
	var rows []row
	var walk func(t reflect.Type, path, section string, index []int, json, list string)
	walk = func(t reflect.Type, path, section string, index []int, jsonPath, list string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			key := joinKey(path, name)
			sec := section
			if sec == "" {
				sec = key
			}
			var idx []int
			if index != nil || path == "" {
				idx = append(slices.Clone(index), i)
			}
			js := ""
			if jsonName, _, _ := strings.Cut(f.Tag.Get("json"), ","); jsonName != "" && jsonName != "-" && list != "" {
				js = joinKey(jsonPath, jsonName)
			}
			r := row{key: key, section: sec, typ: f.Type, owner: t, field: f.Name, index: idx, json: js, list: list}
			inner := f.Type
			if inner.Kind() == reflect.Pointer {
				inner = inner.Elem()
			}
			switch {
			case isSection(inner, t):
				r.isGroup = true
				rows = append(rows, r)
				walk(inner, key, sec, r.index, js, list)
			case inner.Kind() == reflect.Slice && isSection(inner.Elem(), t):
				r.isGroup = true
				rows = append(rows, r)
				walk(inner.Elem(), key+"[]", sec, nil, "", key)
			case inner.Kind() == reflect.Map && isSection(inner.Elem(), t):
				r.isGroup = true
				rows = append(rows, r)
				walk(inner.Elem(), key+".<name>", sec, nil, "", key)
			default:
				rows = append(rows, r)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", "", nil, "", "")
	return rows
}

// isSection reports whether t is one of this package's structs holding keys of its own (rather
// than a value type with its own YAML form, like Duration).
func isSection(t, parent reflect.Type) bool {
	return t.Kind() == reflect.Struct && t.PkgPath() == parent.PkgPath()
}

// value reads the row's field from c, if the row has one value (it is not inside a list entry
// and no pointer on the way is nil).
func (r row) value(c *Config) (reflect.Value, bool) {
	if r.index == nil {
		return reflect.Value{}, false
	}
	v := reflect.ValueOf(c).Elem()
	for _, i := range r.index {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}

// source is what the generator reads from this package's Go files.
type source struct {
	fieldDocs map[string]map[string]string // struct type name → field name → doc comment, as written
	fieldPos  map[string]map[string]string // struct type name → field name → file:line
	typeDocs  map[string]string            // struct type name → doc comment
	consts    map[string]string            // exported string constant → its value
	envNames  []string                     // every string literal shaped like an environment variable
	settings  []string                     // every constant of type setting
}

var envNameRe = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// parseSource reads the non-test Go files of dir.
func parseSource(dir string) (*source, error) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	src := &source{fieldDocs: map[string]map[string]string{}, fieldPos: map[string]map[string]string{},
		typeDocs: map[string]string{}, consts: map[string]string{}}
	names := map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gen.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					st, ok := spec.Type.(*ast.StructType)
					if !ok {
						continue
					}
					doc := spec.Doc
					if doc == nil {
						doc = gen.Doc
					}
					src.typeDocs[spec.Name.Name] = rawComment(doc)
					docs, pos := map[string]string{}, map[string]string{}
					for _, field := range st.Fields.List {
						text := rawComment(field.Doc)
						if text == "" {
							text = rawComment(field.Comment)
						}
						for _, n := range field.Names {
							docs[n.Name] = text
							p := fset.Position(n.Pos())
							pos[n.Name] = fmt.Sprintf("config/%s:%d", filepath.Base(p.Filename), p.Line)
						}
					}
					src.fieldDocs[spec.Name.Name], src.fieldPos[spec.Name.Name] = docs, pos
				case *ast.ValueSpec:
					if gen.Tok != token.CONST {
						continue
					}
					isSetting := false
					if id, ok := spec.Type.(*ast.Ident); ok && id.Name == "setting" {
						isSetting = true
					}
					for i, n := range spec.Names {
						if i >= len(spec.Values) {
							break
						}
						lit, ok := spec.Values[i].(*ast.BasicLit)
						if !ok || lit.Kind != token.STRING {
							continue
						}
						v, err := strconv.Unquote(lit.Value)
						if err != nil {
							continue
						}
						if isSetting {
							src.settings = append(src.settings, v)
						} else if n.IsExported() {
							src.consts[n.Name] = v
						}
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && envNameRe.MatchString(v) {
					names[v] = true
				}
			}
			return true
		})
	}
	for n := range names {
		src.envNames = append(src.envNames, n)
		// envSecret reads NAME and NAME + "_FILE".
		if !strings.HasSuffix(n, "_FILE") {
			src.envNames = append(src.envNames, n+"_FILE")
		}
	}
	sort.Strings(src.envNames)
	src.envNames = slices.Compact(src.envNames)
	return src, nil
}

// rawComment is a comment's text with its line breaks and indentation, which tell paragraphs,
// lists and code blocks apart (splitDoc).
func rawComment(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return g.Text()
}

// settingRef is one "key / VARIABLE" (or bare "key") pair in a setting's name.
type settingRef struct{ key, env string }

var settingParenRe = regexp.MustCompile(`\(([^()]*)\)\s*$`)

// settingRefs reads "webhook debounce (webhook.debounce / WEBHOOK_DEBOUNCE_MS)" and
// "HTTP listener (metrics.listen / METRICS_LISTEN, or health.listen / HEALTH_LISTEN)".
func settingRefs(s string) []settingRef {
	m := settingParenRe.FindStringSubmatch(s)
	if m == nil {
		return nil
	}
	var refs []settingRef
	for _, part := range regexp.MustCompile(`,\s*(?:or\s+)?`).Split(m[1], -1) {
		key, env, _ := strings.Cut(part, "/")
		key, env = strings.TrimSpace(key), strings.TrimSpace(env)
		if key == "" || strings.ContainsAny(key, " %") {
			continue
		}
		refs = append(refs, settingRef{key: key, env: env})
	}
	return refs
}

// envVar is one environment variable that sets a key, and how it is written.
type envVar struct {
	name string
	form string // "whole seconds", "comma-separated", "JSON", "a file holding it", or ""
}

// probeValues are tried for each variable; between them every kind of setting takes at least one.
func probeValues(secretFile string) []string {
	return []string{
		"7", "true", "0.5", "7m", "probe", "probe-value-0123456789abcdef0123456789",
		"@probe:probe.example", "@probe-a:probe.example,@probe-b:probe.example",
		"127.0.0.2:7", "https://probe.example", "postgres://probe@probe.example/probe",
		`[{"group":"probe","room":"!probe:probe.example"}]`, secretFile,
	}
}

// probeEnvironment finds, for every key, the variables that set it: each candidate name is set
// alone to each probe value, and the keys whose value then differs from the defaults are the ones
// it sets. The smallest set of keys any value changes counts, so that a value with side effects
// (a user ID that also fills homeserver.domain) does not attribute those too.
func probeEnvironment(names []string, rows []row) (map[string][]envVar, error) {
	dir, err := os.MkdirTemp("", "docgen")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("probe-secret-0123456789abcdef0123456789\n"), 0o600); err != nil {
		return nil, err
	}
	base, _, err := load("", nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]envVar{}
	for _, name := range names {
		var best []string
		forms := map[string]string{}
		for _, v := range probeValues(secretFile) {
			c, _, err := load("", envFunc(map[string]string{name: v}))
			if err != nil {
				continue
			}
			changed := changedKeys(rows, base, c)
			if len(changed) == 0 {
				continue
			}
			if best == nil || len(changed) < len(best) {
				best = changed
			}
			for _, key := range changed {
				if f := envForm(rows, key, name, v, secretFile, c); f != "" && forms[key] == "" {
					forms[key] = f
				}
			}
		}
		for _, key := range best {
			out[key] = append(out[key], envVar{name: name, form: forms[key]})
		}
	}
	return out, nil
}

// changedKeys lists the keys (not sections) whose values differ between a and b.
func changedKeys(rows []row, a, b *Config) []string {
	var keys []string
	for _, r := range rows {
		if r.isGroup && r.typ.Kind() != reflect.Slice && r.typ.Kind() != reflect.Map {
			continue
		}
		va, okA := r.value(a)
		vb, okB := r.value(b)
		if okA != okB || (okA && !reflect.DeepEqual(va.Interface(), vb.Interface())) {
			keys = append(keys, r.key)
		}
	}
	return keys
}

// envForm says how a variable writes the key's value, judged from what a probe value became.
func envForm(rows []row, key, name, probe, secretFile string, c *Config) string {
	i := slices.IndexFunc(rows, func(r row) bool { return r.key == key })
	r := rows[i]
	v, ok := r.value(c)
	if !ok {
		return ""
	}
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	isDuration := v.Type() == reflect.TypeFor[time.Duration]() || v.Type() == reflect.TypeFor[Duration]()
	switch {
	case probe == secretFile && strings.HasSuffix(name, "_FILE") && !strings.HasSuffix(key, "_file"):
		return "a file holding it"
	case isDuration && probe == "7":
		d := time.Duration(v.Int())
		for _, u := range []struct {
			unit time.Duration
			name string
		}{{time.Millisecond, "milliseconds"}, {time.Second, "seconds"}, {time.Minute, "minutes"}, {time.Hour, "hours"}, {24 * time.Hour, "days"}} {
			if d == 7*u.unit {
				return "whole " + u.name
			}
		}
	case isDuration && probe == "7m" && time.Duration(v.Int()) == 7*time.Minute:
		return "a duration such as `90m`"
	case r.typ.Kind() == reflect.Slice && r.isGroup:
		return "JSON"
	case r.typ.Kind() == reflect.Slice && strings.Contains(probe, ",") && v.Len() == 2:
		return "comma-separated"
	}
	return ""
}

// docIndex is what both generated files are written from: the keys, their docs, defaults and
// variables.
type docIndex struct {
	src       *source
	rows      []row
	byKey     map[string]row
	env       map[string][]envVar
	base      *Config           // what load fills in when nothing is set
	required  map[string]string // key → "required…"
	qualified map[string]string // Metrics.Listen → metrics.listen
	sectionOf map[string]string // a section's type name → its key
	missing   []string          // keys without a doc comment, found by doc
}

func newDocIndex() (*docIndex, error) {
	src, err := parseSource(".")
	if err != nil {
		return nil, err
	}
	rows := referenceRows()
	env, err := probeEnvironment(src.envNames, rows)
	if err != nil {
		return nil, err
	}
	base, _, err := load("", nil)
	if err != nil {
		return nil, err
	}
	d := &docIndex{src: src, rows: rows, byKey: map[string]row{}, env: env, base: base,
		required: requiredKeys(base), qualified: map[string]string{}, sectionOf: map[string]string{}}
	// Go names in doc comments become what an operator writes: a struct's fields their YAML keys,
	// a section's type its key, a constant its value.
	for _, r := range rows {
		d.byKey[r.key] = r
		if r.isGroup {
			d.sectionOf[elemType(r.typ).Name()] = r.key
		}
	}
	// Config's own fields are named like the services (Matrix, Authentik), so in prose they stay;
	// written with their field (Metrics.Listen) they are keys.
	for _, r := range rows {
		if len(r.index) == 2 {
			top := reflect.TypeFor[Config]().Field(r.index[0]).Name
			d.qualified[top+"."+r.field] = r.key
		}
	}
	return d, nil
}

// elemType is the struct (or value) type under t's pointers, slices and maps.
func elemType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	return t
}

// keysOf maps the fields of t to their YAML keys (none for Config, whose field names are the
// services' names).
func keysOf(t reflect.Type) map[string]string {
	m := map[string]string{}
	if t == reflect.TypeFor[Config]() {
		return m
	}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[t.Field(i).Name] = name
		}
	}
	return m
}

// doc is the row's description, split into blocks, with its Go names rewritten: in Markdown for
// a table cell (markdown), or as plain text for a YAML comment. A key without a doc comment is
// noted in d.missing.
func (d *docIndex) doc(r row, markdown bool) []docBlock {
	docs := d.src.fieldDocs[r.owner.Name()]
	text := docs[r.field]
	subject, isType, fields := r.field, false, keysOf(r.owner)
	if text == "" {
		// "Hostname and Port are …" documents Port too: the nearest doc above the field
		// counts when it names the field.
		var prev []string
		for i := range r.owner.NumField() {
			if f := r.owner.Field(i); f.Name != r.field {
				prev = append(prev, f.Name)
				continue
			}
			break
		}
		for i := len(prev) - 1; i >= 0; i-- {
			if p := docs[prev[i]]; p != "" {
				if regexp.MustCompile(`\b` + r.field + `\b`).MatchString(p) {
					text = p
				}
				break
			}
		}
	}
	if text == "" && r.isGroup {
		// A section without a doc of its own takes its type's.
		t := elemType(r.typ)
		text, subject, isType, fields = d.src.typeDocs[t.Name()], t.Name(), true, keysOf(t)
	}
	if text == "" {
		d.missing = append(d.missing, fmt.Sprintf("%s (field %s.%s, %s)", r.key, r.owner.Name(), r.field, d.src.fieldPos[r.owner.Name()][r.field]))
		return nil
	}
	blocks := splitDoc(text)
	for i := range blocks {
		rewrite := func(s string) string {
			return rewriteText(s, subject, isType && i == 0, i == 0, markdown, d.qualified, fields, d.src.consts, d.sectionOf)
		}
		blocks[i].text = rewrite(blocks[i].text)
		for j := range blocks[i].items {
			blocks[i].items[j] = rewrite(blocks[i].items[j])
		}
	}
	return blocks
}

// cell is the row's description in one line for the reference's table: paragraphs run on, a
// list's items follow their lead-in separated by semicolons, and code blocks (examples, which
// config.example.yaml shows) are left out.
func (d *docIndex) cell(r row) string {
	return runOn(d.doc(r, true))
}

// runOn puts a doc's blocks on one line: paragraphs run on, a list's items follow separated by
// semicolons, and code blocks are left out.
func runOn(blocks []docBlock) string {
	var parts []string
	for _, b := range blocks {
		switch {
		case b.text != "":
			parts = append(parts, b.text)
		case b.items != nil:
			parts = append(parts, strings.Join(b.items, "; ")+".")
		}
	}
	return strings.Join(parts, " ")
}

// tuning reports whether the row is a tuning key (doc:"tuning": an internal timing or capacity
// knob, or an older name), which the reference lists apart and the example leaves out.
func (r row) tuning() bool {
	f, ok := r.owner.FieldByName(r.field)
	return ok && f.Tag.Get("doc") == "tuning"
}

// shown reports whether the row has a place among the documented keys: it is no tuning key, and
// if it is a section, not one all of whose keys are.
func (d *docIndex) shown(r row) bool {
	if r.tuning() {
		return false
	}
	if !r.isGroup {
		return true
	}
	for _, inner := range d.rows {
		if strings.HasPrefix(inner.key, r.key+".") || strings.HasPrefix(inner.key, r.key+"[].") {
			if !inner.isGroup && d.shown(inner) {
				return true
			}
		}
	}
	return false
}

// docBlock is one block of a doc comment: a paragraph (text), a list (items) or a code block
// (code, verbatim). Paragraphs and items are one line each.
type docBlock struct {
	text  string
	items []string
	code  string
}

// splitDoc reads a doc comment as go/doc/comment does (gofmt keeps it in that form): paragraphs,
// lists ("  - item") and code blocks (lines indented with a tab).
func splitDoc(text string) []docBlock {
	var p comment.Parser
	var out []docBlock
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, b := range p.Parse(text).Content {
		switch b := b.(type) {
		case *comment.Paragraph:
			out = append(out, docBlock{text: oneLine(plainText(b.Text))})
		case *comment.Heading:
			out = append(out, docBlock{text: oneLine(plainText(b.Text))})
		case *comment.List:
			var items []string
			for _, it := range b.Items {
				var parts []string
				for _, c := range it.Content {
					if para, ok := c.(*comment.Paragraph); ok {
						parts = append(parts, oneLine(plainText(para.Text)))
					}
				}
				items = append(items, strings.Join(parts, " "))
			}
			out = append(out, docBlock{items: items})
		case *comment.Code:
			out = append(out, docBlock{code: b.Text})
		}
	}
	return out
}

func plainText(ts []comment.Text) string {
	var b strings.Builder
	for _, t := range ts {
		switch t := t.(type) {
		case comment.Plain:
			b.WriteString(string(t))
		case comment.Italic:
			b.WriteString(string(t))
		case *comment.Link:
			b.WriteString(plainText(t.Text))
		case *comment.DocLink:
			b.WriteString(plainText(t.Text))
		}
	}
	return b.String()
}

// buildReference renders docs/configuration.md.
func buildReference() ([]byte, error) {
	d, err := newDocIndex()
	if err != nil {
		return nil, err
	}
	rows, env, base, required := d.rows, d.env, d.base, d.required

	header, err := os.ReadFile(referenceHeaderPath)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Configuration reference\n\n"+
		"<!-- Generated from the structs in config/ (the introduction: config/%s) by\n"+
		"`%s` (or `make docs`).\n"+
		"Do not edit here: change a field's doc comment, or the introduction, and regenerate. -->\n\n",
		referenceHeaderPath, regenerateCommand)
	b.Write(header)
	// Tuning keys (doc:"tuning": internal timing and capacity knobs, older names) leave their
	// section for one of their own at the end; a section left without keys is not shown.
	var tuning []row
	var sections []string
	for _, r := range rows {
		if r.tuning() {
			tuning = append(tuning, r)
		}
		if r.key == r.section && d.shown(r) {
			sections = append(sections, r.key)
		}
	}
	sections = append(sections, "tuning")
	b.WriteString("\n**Sections:** ")
	for i, s := range sections {
		if i > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "[`%s`](#%s)", s, githubAnchor(s))
	}
	b.WriteString("\n")
	for _, r := range rows {
		if r.tuning() || !d.shown(d.byKey[r.section]) {
			continue
		}
		if r.key == r.section {
			fmt.Fprintf(&b, "\n## `%s`\n\n", r.key)
			if r.isGroup {
				fmt.Fprintf(&b, "%s\n\n", d.cell(r))
			}
			b.WriteString("| Key | Type | Default | Environment | Description |\n| --- | --- | --- | --- | --- |\n")
			if r.isGroup {
				continue
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.key, typeName(r.typ), defaultCell(r, base, required), envCell(r, env, rows), d.cell(r))
	}
	b.WriteString("\n## `tuning`\n\nInternal timing and capacity knobs, and older names of keys above. The defaults are measured " +
		"(see [Performance](performance.md)); leave them unless a maintainer asks you to change one. They are accepted " +
		"anywhere in the file and have their variables like every other key.\n\n")
	b.WriteString("| Key | Type | Default | Environment | Description |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range tuning {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.key, typeName(r.typ), defaultCell(r, base, required), envCell(r, env, rows), d.cell(r))
	}
	if len(d.missing) > 0 {
		return nil, fmt.Errorf("these keys have no doc comment, which docs/configuration.md needs as their description; add one to each field (\"Name is …\"):\n  %s", strings.Join(slices.Compact(d.missing), "\n  "))
	}
	return []byte(b.String()), nil
}

// requiredKeys maps the keys an empty configuration is refused without to what the validation
// says ("required", "required unless an appservice registration is configured").
func requiredKeys(base *Config) map[string]string {
	out := map[string]string{}
	for _, p := range base.check(false) {
		rest, ok := strings.CutPrefix(p.Message, "is required")
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, ";")
		for _, ref := range settingRefs(p.Setting) {
			if _, seen := out[ref.key]; !seen {
				out[ref.key] = "required" + rest
			}
		}
	}
	return out
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[time.Duration]() || t == reflect.TypeFor[Duration]():
		return "duration"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Struct:
		return "section"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem()) + "s"
	case t.Kind() == reflect.Map:
		if t.Elem().Kind() == reflect.Struct {
			return "map"
		}
		return "map of " + typeName(t.Elem()) + "s"
	}
	return t.String()
}

func defaultCell(r row, base *Config, required map[string]string) string {
	var parts []string
	if req := required[r.key]; req != "" {
		parts = append(parts, req)
	}
	if v, ok := r.value(base); ok && !r.isGroup && !isEmpty(v) {
		parts = append(parts, "`"+formatValue(v)+"`")
	} else if r.isGroup && (r.typ.Kind() == reflect.Slice || r.typ.Kind() == reflect.Map) {
		parts = append(parts, "none")
	}
	if note := defaultNotes[r.key]; note != "" {
		parts = append(parts, escapeCell(note))
	}
	if len(parts) == 0 {
		if r.isGroup {
			return ""
		}
		return "—"
	}
	return strings.Join(parts, "; ")
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

func formatValue(v reflect.Value) string {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]() || v.Type() == reflect.TypeFor[Duration]():
		return formatDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.Float64 || v.Kind() == reflect.Float32:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case v.Kind() == reflect.Slice:
		var items []string
		for i := range v.Len() {
			items = append(items, formatValue(v.Index(i)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration writes 24h rather than Go's 24h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func envCell(r row, env map[string][]envVar, rows []row) string {
	var parts []string
	for _, v := range env[r.key] {
		p := "`" + v.name + "`"
		if v.form != "" {
			p += " (" + v.form + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 && r.json != "" {
		// A key of a list entry: the list's variable holds it, under its JSON name.
		for _, lv := range env[r.list] {
			parts = append(parts, fmt.Sprintf("`%s`: `%s`", lv.name, r.json))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}

// rewriteDoc turns a Go doc comment into a table cell (rewriteText, in Markdown).
func rewriteDoc(text, subject string, isType bool, qualified, fields, consts, sections map[string]string) string {
	return rewriteText(text, subject, isType, true, true, qualified, fields, consts, sections)
}

// rewriteText turns a Go doc comment into what an operator reads: "GracePeriod is how long …"
// becomes "How long …" (when first, the comment's first paragraph), and Go names become what an
// operator writes (the struct's field names their YAML keys, a section's type its key, a constant
// its value). In Markdown the names are code spans and Markdown's special characters are escaped.
// A type's doc that does not start "T is …" has T replaced by "This section".
func rewriteText(text, subject string, isType, first, markdown bool, qualified, fields, consts, sections map[string]string) string {
	stripped := false
	for _, verb := range []string{" is ", " are ", " says ", " say "} {
		if rest, ok := strings.CutPrefix(text, subject+verb); ok && rest != "" && first {
			text, stripped = capitalise(rest, consts), true
			break
		}
	}
	if isType && !stripped {
		if rest, ok := strings.CutPrefix(text, subject+" "); ok {
			text = "This section " + rest
		}
	}
	quote := func(s string) string { return s }
	if markdown {
		text = escapeCell(text)
		quote = func(s string) string { return "`" + s + "`" }
	}
	for _, names := range []map[string]string{qualified, fields, sections, consts} {
		// Longest first, so that a name never replaces part of a longer one's text.
		keys := make([]string, 0, len(names))
		for name := range names {
			keys = append(keys, name)
		}
		sort.Slice(keys, func(i, j int) bool {
			return len(keys[i]) > len(keys[j]) || len(keys[i]) == len(keys[j]) && keys[i] < keys[j]
		})
		for _, name := range keys {
			if strings.ToUpper(name) == name {
				continue // URL, ID, MAS: an acronym in prose more often than the field
			}
			text = replaceWord(text, name, quote(names[name]))
		}
	}
	return text
}

// replaceWord replaces name where it stands as a word of its own: not inside a longer word, nor
// inside a hyphenated one (the Secret of X-Webhook-Secret is no field).
func replaceWord(text, name, with string) string {
	isPart := func(r byte) bool {
		return r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}
	var b strings.Builder
	for {
		i := strings.Index(text, name)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		end := i + len(name)
		if (i > 0 && isPart(text[i-1])) || (end < len(text) && isPart(text[end])) {
			b.WriteString(text[:end])
		} else {
			b.WriteString(text[:i] + with)
		}
		text = text[end:]
	}
}

// capitalise starts a sentence with a capital, unless it starts with a value that is written in
// lower case ("private_chat (the default) …", "sqlite or postgres", "host:port of …").
func capitalise(s string, consts map[string]string) string {
	first, _, _ := strings.Cut(s, " ")
	first = strings.TrimRight(first, ",;.")
	if strings.ContainsAny(first, ":_/.0123456789") || slices.Contains(slices.Collect(maps.Values(consts)), first) {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// escapeCell keeps text from being read as Markdown or HTML inside a table cell.
func escapeCell(s string) string {
	var b strings.Builder
	inCode := false
	for _, r := range s {
		if r == '`' {
			inCode = !inCode
		}
		switch {
		case r == '|':
			b.WriteString(`\|`) // GitHub ends a cell at | even inside a code span
		case inCode || r == '`':
			b.WriteRune(r)
		case r == '*':
			b.WriteString(`\*`)
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// githubAnchor is the anchor GitHub gives a heading: lower case, spaces to hyphens, punctuation
// dropped. (The docs package's link test uses the same rule.)
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
