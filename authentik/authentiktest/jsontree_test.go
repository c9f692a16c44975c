package authentiktest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// jsonNode is a JSON value that keeps its object keys in the order written, which
// encoding/json's maps forget and which is what the recorded answers are compared on.
type jsonNode struct {
	kind   string     // object, array, string, number, bool or null
	keys   []string   // of an object, in order
	items  []jsonNode // an object's values (one per key) or an array's elements
	scalar string     // a string's text, a number's digits, "true" or "false"
}

func parseJSON(body []byte) (jsonNode, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	n, err := readNode(dec)
	if err != nil {
		return jsonNode{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return jsonNode{}, fmt.Errorf("data after the JSON value")
	}
	return n, nil
}

func readNode(dec *json.Decoder) (jsonNode, error) {
	tok, err := dec.Token()
	if err != nil {
		return jsonNode{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := jsonNode{kind: "array"}
		if t == '{' {
			n.kind = "object"
		}
		for dec.More() {
			if n.kind == "object" {
				k, err := dec.Token()
				if err != nil {
					return jsonNode{}, err
				}
				n.keys = append(n.keys, k.(string))
			}
			item, err := readNode(dec)
			if err != nil {
				return jsonNode{}, err
			}
			n.items = append(n.items, item)
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return jsonNode{}, err
		}
		return n, nil
	case string:
		return jsonNode{kind: "string", scalar: t}, nil
	case json.Number:
		return jsonNode{kind: "number", scalar: t.String()}, nil
	case bool:
		return jsonNode{kind: "bool", scalar: fmt.Sprint(t)}, nil
	case nil:
		return jsonNode{kind: "null"}, nil
	}
	return jsonNode{}, fmt.Errorf("unexpected token %v", tok)
}

func (n jsonNode) get(key string) (jsonNode, bool) {
	if i := slices.Index(n.keys, key); i >= 0 {
		return n.items[i], true
	}
	return jsonNode{}, false
}

// comparison says how a fake's answer is held against a recorded one.
type comparison struct {
	// typeOnly names keys, at any depth, whose values differ between servers by nature (dates,
	// avatars): only their JSON type must match.
	typeOnly map[string]bool
	// rename maps an identifier in the recording to the one the fake made for the same object,
	// for objects the replay created, so that references to them are still compared by value.
	rename map[string]string
}

// diff lists every difference between the recorded value and the fake's, each with its JSON
// path: keys (and their order), JSON types at every depth, and values outside typeOnly.
func (c comparison) diff(path string, want, got jsonNode) []string {
	if want.kind != got.kind {
		return []string{fmt.Sprintf("%s: %s, recorded %s", path, got.kind, want.kind)}
	}
	switch want.kind {
	case "object":
		var out []string
		if !slices.Equal(want.keys, got.keys) {
			out = append(out, fmt.Sprintf("%s: keys %v, recorded %v", path, got.keys, want.keys))
		}
		for i, k := range want.keys {
			g, ok := got.get(k)
			if !ok {
				continue
			}
			if c.typeOnly[k] {
				if g.kind != want.items[i].kind {
					out = append(out, fmt.Sprintf("%s.%s: %s, recorded %s", path, k, g.kind, want.items[i].kind))
				}
				continue
			}
			out = append(out, c.diff(path+"."+k, want.items[i], g)...)
		}
		return out
	case "array":
		if len(want.items) != len(got.items) {
			return []string{fmt.Sprintf("%s: %d elements, recorded %d", path, len(got.items), len(want.items))}
		}
		var out []string
		for i := range want.items {
			out = append(out, c.diff(fmt.Sprintf("%s[%d]", path, i), want.items[i], got.items[i])...)
		}
		return out
	}
	w := want.scalar
	if r, ok := c.rename[w]; ok && want.kind == "string" {
		w = r
	}
	if w != got.scalar {
		return []string{fmt.Sprintf("%s: %s, recorded %s", path, quoteScalar(got), quoteScalar(want))}
	}
	return nil
}

func quoteScalar(n jsonNode) string {
	if n.kind == "string" {
		s := n.scalar
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	return n.scalar
}

// keysAt lists the keys of the object at a dotted path ("results.0"), for shape tests.
func keysAt(n jsonNode, path string) []string {
	for part := range strings.SplitSeq(path, ".") {
		if part == "" {
			continue
		}
		if n.kind == "array" {
			var i int
			fmt.Sscan(part, &i)
			if i >= len(n.items) {
				return nil
			}
			n = n.items[i]
			continue
		}
		var ok bool
		if n, ok = n.get(part); !ok {
			return nil
		}
	}
	return n.keys
}
