package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlSection is one struct of the configuration as the YAML file sees it.
type yamlSection struct {
	path string   // "sync", "sync.mappings[]", "" for the top level
	keys []string // its YAML keys, in declaration order
}

// yamlSections maps Go type names (as yaml.v3 prints them in errors) to their place in the file.
func yamlSections() map[string]yamlSection {
	sections := map[string]yamlSection{}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		s := yamlSection{path: path}
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			s.keys = append(s.keys, name)
			child := joinKey(path, name)
			switch ft := f.Type; {
			case ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath():
				walk(ft, child)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), child+"[]")
			}
		}
		sections[t.String()] = s
	}
	walk(reflect.TypeFor[Config](), "")
	return sections
}

// yamlName is a field's YAML key, or "" for fields the file does not hold.
func yamlName(f reflect.StructField) string {
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	unknownFieldRe = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	wrongTypeRe    = regexp.MustCompile(`^line (\d+): cannot unmarshal (\S+) (?:(.*) )?into (\S+)$`)
)

// expectedValue says, for a Go type as yaml.v3 names it, what to write in the file.
var expectedValue = map[string]string{
	"time.Duration":    "a duration such as 90s, 5m or 24h",
	"config.Duration":  "a duration such as 48h, 90m or 0s",
	"int":              "a whole number",
	"float64":          "a number such as 0.25",
	"bool":             "true or false",
	"string":           "a single value (quote it)",
	"[]string":         "a list of values (- value)",
	"[]config.Mapping": "a list of mappings (- group: …)",
	"config.Mapping":   "a mapping with group and room keys",
}

// explainYAMLError rewrites one of yaml.v3's per-field messages in the file's own terms: the full
// key path instead of a Go type name, and what to write instead. values are the file's values
// (yamlValues), to find the key of a value of the wrong type from its line.
func explainYAMLError(msg string, values []yamlValue) string {
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		line, key, typeName := m[1], m[2], m[3]
		section, ok := yamlSections()[typeName]
		if !ok {
			return msg
		}
		where := "at the top level"
		if section.path != "" {
			where = "under " + section.path
		}
		hint := ""
		if guess := closest(key, section.keys); guess != "" {
			hint = fmt.Sprintf("did you mean %q? ", guess)
		}
		return fmt.Sprintf("line %s: unknown key %q %s; %sknown keys there: %s", line, key, where, hint, strings.Join(section.keys, ", "))
	}
	if m := wrongTypeRe.FindStringSubmatch(msg); m != nil {
		line, tag, value, goType := m[1], m[2], m[3], m[4]
		key := ""
		if n, err := strconv.Atoi(line); err == nil {
			key = keyOfValue(values, n, tag, value, goType)
		}
		if value == "" {
			value = map[string]string{"!!seq": "a list", "!!map": "a section of keys"}[tag]
		}
		want := expectedValue[goType]
		if want == "" {
			want = "a section of keys (see config.example.yaml)"
		}
		if value == "" {
			value = "this value"
		}
		if key != "" {
			return fmt.Sprintf("line %s: %s: %s cannot be used here; write %s", line, key, value, want)
		}
		return fmt.Sprintf("line %s: %s cannot be used here; write %s", line, value, want)
	}
	return msg
}

// yamlValue is one value written in the config file, with the key path it sits at and the Go
// type it fills.
type yamlValue struct {
	path   string // "sync.interval", "sync.mappings[0].group"
	goType string // as yaml.v3 names it in errors: "time.Duration"
	node   *yaml.Node
}

// yamlValues walks the file's node tree beside the Config struct and lists every value under a
// known key. Aliases are not followed: their values are reported where the anchor is.
func yamlValues(doc *yaml.Node) []yamlValue {
	var out []yamlValue
	var walk func(n *yaml.Node, t reflect.Type, path string)
	walk = func(n *yaml.Node, t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				walk(c, t, path)
			}
			return
		}
		if path != "" {
			out = append(out, yamlValue{path: path, goType: t.String(), node: n})
		}
		switch {
		case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
			fields := map[string]reflect.Type{}
			for i := range t.NumField() {
				if name := yamlName(t.Field(i)); name != "" {
					fields[name] = t.Field(i).Type
				}
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				if ft, ok := fields[n.Content[i].Value]; ok {
					walk(n.Content[i+1], ft, joinKey(path, n.Content[i].Value))
				}
			}
		case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value))
			}
		case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
			for i, c := range n.Content {
				walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	if doc != nil {
		walk(doc, reflect.TypeFor[Config](), "")
	}
	return out
}

// keyOfValue finds the key path of the value yaml.v3 refused: on line, of the Go type goType,
// and shown as tag and value (“!!str `yes`”, value cut to 7 characters and "..." when long).
// Several values can share a line (sync: {interval: 1, grace_period: 2}); "" when none fits.
func keyOfValue(values []yamlValue, line int, tag, value, goType string) string {
	shown := strings.TrimSuffix(strings.TrimPrefix(value, "`"), "`")
	matches := func(n *yaml.Node) bool {
		switch {
		case tag == "!!seq":
			return n.Kind == yaml.SequenceNode
		case tag == "!!map":
			return n.Kind == yaml.MappingNode
		case strings.HasSuffix(shown, "..."):
			return n.Kind == yaml.ScalarNode && strings.HasPrefix(n.Value, strings.TrimSuffix(shown, "..."))
		default:
			return n.Kind == yaml.ScalarNode && n.Value == shown
		}
	}
	var onLine []yamlValue
	for _, v := range values {
		if v.node.Line == line && v.goType == goType {
			onLine = append(onLine, v)
		}
	}
	for _, v := range onLine {
		if matches(v.node) {
			return v.path
		}
	}
	if len(onLine) == 1 {
		return onLine[0].path
	}
	return ""
}

// closest suggests the known key nearest to a misspelt one, if any is near enough.
func closest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
