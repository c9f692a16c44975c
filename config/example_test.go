package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../config.example.yaml"

// TestExampleConfigIsValid loads the shipped example with the secrets it leaves out.
func TestExampleConfigIsValid(t *testing.T) {
	c, err := Load(examplePath, envFunc(map[string]string{"AUTHENTIK_TOKEN": authentikToken, "MATRIX_ACCESS_TOKEN": matrixToken}))
	if err != nil {
		t.Fatalf("config.example.yaml does not load: %v", err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("config.example.yaml gives warnings: %q", c.Warnings)
	}
	// The example documents the defaults: loading it must give what no file gives.
	defaults := mustLoad(t, "", map[string]string{
		"AUTHENTIK_URL": "https://auth.example.com", "AUTHENTIK_TOKEN": authentikToken,
		"MATRIX_HOMESERVER_URL": "https://matrix.example.com", "MATRIX_USER_ID": "@authentik-sync:example.com",
		"MATRIX_ACCESS_TOKEN": matrixToken,
	})
	c.Sync.Mappings, c.Warnings, defaults.Warnings = nil, nil, nil
	if !reflect.DeepEqual(*c, *defaults) {
		t.Errorf("config.example.yaml differs from the defaults:\n example %+v\ndefaults %+v", *c, *defaults)
	}
}

// TestExampleConfigHasEveryKey keeps the example in step with the struct.
func TestExampleConfigHasEveryKey(t *testing.T) {
	data, doc := readExample(t)
	present := map[string]bool{}
	eachKey(doc, "", func(key string, _ *yaml.Node) { present[key] = true })
	var missing []string
	for _, key := range structKeys(reflect.TypeFor[Config](), "") {
		if !present[key] && !documentedInComment(data, key) && !notInExample[key] {
			missing = append(missing, key)
		}
	}
	if len(missing) != 0 {
		t.Errorf("config.example.yaml lacks keys: %v", missing)
	}
	if len(present) < 40 {
		t.Errorf("only %d keys found in the example; the walk is broken", len(present))
	}
}

// notInExample are keys the example leaves out on purpose: the tuning keys (doc:"tuning": internal
// knobs and older names, listed in the reference's tuning section), and the health section, whose
// only key is one.
var notInExample = func() map[string]bool {
	out := map[string]bool{"health": true}
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := strings.TrimPrefix(path+"."+name, ".")
			if f.Tag.Get("doc") == "tuning" {
				out[key] = true
			}
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath() {
				walk(f.Type, key)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}()

// documentedInComment reports whether the example shows key as a commented-out line ("# server:"
// or "#   power_level:"), as it does for keys best left unset and for the mapping forms beyond
// the one sample mapping.
func documentedInComment(example, key string) bool {
	name := key[strings.LastIndexAny(key, ".]")+1:]
	for _, line := range strings.Split(example, "\n") {
		l := strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(l, "#"); ok {
			rest = strings.TrimLeft(strings.TrimSpace(rest), "- ")
			if strings.HasPrefix(rest, name+":") {
				return true
			}
		}
	}
	return false
}

// TestExampleConfigLeavesServerUnset: the example, copied and edited for another homeserver,
// maps users to that homeserver's domain (not to the example's), and ships one live mapping.
func TestExampleConfigLeavesServerUnset(t *testing.T) {
	data, _ := readExample(t)
	edited := strings.NewReplacer("domain: example.com", "domain: corp.test",
		`user_id: "@authentik-sync:example.com"`, `user_id: "@authentik-sync:corp.test"`).Replace(data)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, envFunc(map[string]string{"AUTHENTIK_TOKEN": authentikToken, "MATRIX_ACCESS_TOKEN": matrixToken}))
	if err != nil {
		t.Fatal(err)
	}
	if c.UserMapping.Server != "corp.test" {
		t.Errorf("user_mapping.server %q after editing the homeserver's domain, want corp.test", c.UserMapping.Server)
	}
	if len(c.Sync.Mappings) != 1 {
		t.Errorf("the example ships %d mappings, want one sample", len(c.Sync.Mappings))
	}
}

// structKeys lists every YAML key path of t: "sync.mappings[].group".
func structKeys(t reflect.Type, path string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := yamlName(f)
		if name == "" {
			continue
		}
		key := joinKey(path, name)
		keys = append(keys, key)
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == t.PkgPath():
			keys = append(keys, structKeys(f.Type, key)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			keys = append(keys, structKeys(f.Type.Elem(), key+"[]")...)
		}
	}
	return keys
}

// readExample reads config.example.yaml, as text and as YAML nodes (which keep its comments).
func readExample(t *testing.T) (string, *yaml.Node) {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return string(data), &doc
}

// eachKey calls fn with every key of the YAML document below n, by its path
// ("sync.mappings[].group"), and the node of the key, which holds the comment above it.
func eachKey(n *yaml.Node, path string, fn func(key string, k *yaml.Node)) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			eachKey(c, path, fn)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := joinKey(path, n.Content[i].Value)
			fn(key, n.Content[i])
			eachKey(n.Content[i+1], key, fn)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			eachKey(c, path+"[]", fn)
		}
	}
}

func TestStructKeysFindsNestedKeys(t *testing.T) {
	keys := structKeys(reflect.TypeFor[Config](), "")
	for _, want := range []string{"homeserver.address", "sync.mappings[].space", "sync.mappings[].rejoin", "health.listen"} {
		if !slices.Contains(keys, want) {
			t.Errorf("structKeys lacks %s", want)
		}
	}
	if slices.Contains(keys, "warnings") {
		t.Error("structKeys lists Warnings, which is not a YAML key")
	}
}

// TestExampleNamesEveryVariable: the comment above each key of the example names, on its "Env:"
// line, exactly the variables with names of their own that set that key (envAliases), so the
// example cannot drift from what the program reads.
func TestExampleNamesEveryVariable(t *testing.T) {
	_, doc := readExample(t)
	named := map[string][]string{}
	eachKey(doc, "", func(key string, k *yaml.Node) {
		_, env, ok := strings.Cut(k.HeadComment, "Env:")
		if !ok {
			return
		}
		env, _, _ = strings.Cut(env, "\n")
		for _, word := range strings.FieldsFunc(env, func(r rune) bool { return r == ' ' || r == ',' || r == '(' || r == ')' }) {
			if envNameRe.MatchString(word) {
				named[key] = append(named[key], word)
			}
		}
	})
	want := map[string][]string{}
	for _, a := range envAliases {
		if !notInExample[a.key] {
			want[a.key] = append(want[a.key], a.name)
		}
	}
	for key := range want {
		slices.Sort(want[key])
		slices.Sort(named[key])
		if !slices.Equal(named[key], want[key]) {
			t.Errorf("%s: the example names %v, the program reads %v", key, named[key], want[key])
		}
	}
	for key, names := range named {
		if _, ok := want[key]; !ok {
			t.Errorf("%s: the example names %v, but no variable with a name of its own sets it", key, names)
		}
	}
}
