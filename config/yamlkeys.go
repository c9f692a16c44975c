package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
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

// explainYAMLError rewrites one of yaml.v3's per-field messages in the file's own terms: the full
// key path instead of a Go type name, and what to write instead.
func explainYAMLError(msg string) string {
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
		line, value, goType := m[1], m[3], m[4]
		if value == "" {
			value = map[string]string{"!!seq": "a list", "!!map": "a section of keys"}[m[2]]
		}
		want := map[string]string{
			"time.Duration":    "a duration such as 90s, 5m or 24h",
			"int":              "a whole number",
			"bool":             "true or false",
			"string":           "a single value (quote it)",
			"[]config.Mapping": "a list of mappings (- group: …)",
			"config.Mapping":   "a mapping with group and room keys",
		}[goType]
		if want == "" {
			want = "a section of keys (see config.example.yaml)"
		}
		if value == "" {
			value = "this value"
		}
		return fmt.Sprintf("line %s: %s cannot be used here; write %s", line, value, want)
	}
	return msg
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
