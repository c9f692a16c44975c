package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The filter language of RFC 7644 §3.4.2.2, as clients use it: Authentik lists with
// `userName eq "…"` and `displayName eq "…"` after a 409 on create (clients/users.py, groups.py)
// and removes a member with the path `members[value eq "…"]`; Entra ID matches users on
// `userName`, `externalId` or `emails[type eq "work"].value`, and groups on `displayName` or
// `externalId`; Okta on `userName`; Keycloak's SCIM clients on `externalId`. The whole grammar is
// understood: comparisons (eq ne co sw ew gt ge lt le pr), `and`, `or`, `not (…)`, parentheses
// and value paths (`emails[type eq "work"]`, with a sub-attribute after the bracket as Entra ID
// writes it).

// filter is a parsed filter; match tests one resource (or one element of a multi-valued
// attribute) given as attribute lookups.
type filter interface {
	match(r record) bool
}

// record gives a resource's attributes by lower-case name: a string, bool, a record (a complex
// attribute), a []record (a multi-valued complex one), a []string, or nil when absent.
type record func(name string) any

type andFilter struct{ left, right filter }
type orFilter struct{ left, right filter }
type notFilter struct{ inner filter }

func (f andFilter) match(r record) bool { return f.left.match(r) && f.right.match(r) }
func (f orFilter) match(r record) bool  { return f.left.match(r) || f.right.match(r) }
func (f notFilter) match(r record) bool { return !f.inner.match(r) }

// attrPath is an attribute (lower-case, without a core schema URN), an optional sub-attribute,
// and for a value path the filter on the elements. ext is set for an attribute of an extension
// schema, which this receiver keeps none of.
type attrPath struct {
	attr, sub string
	elems     filter
	ext       bool
}

func (p attrPath) String() string {
	s := p.attr
	if p.elems != nil {
		s += "[…]"
	}
	if p.sub != "" {
		s += "." + p.sub
	}
	return s
}

// compare is `path op value`, or `path pr`, or a bare value path `attr[filter]` (op "").
type compare struct {
	path  attrPath
	op    string
	value any // string, bool, float64 or nil
}

// caseExact names the attributes compared exactly (RFC 7643: id, externalId, and references);
// every other string compares case-insensitively.
func caseExact(attr, sub string) bool {
	switch {
	case attr == "id" || attr == "externalid":
		return true
	case attr == "members" && (sub == "value" || sub == "$ref"):
		return true
	}
	return false
}

func (c compare) match(r record) bool {
	if c.path.ext {
		return c.op == "ne" // nothing is kept of an extension: only "not equal" holds
	}
	v := r(c.path.attr)
	switch items := v.(type) {
	case []record:
		// A multi-valued complex attribute matches when one of its elements does; without a
		// sub-attribute its "value" is meant.
		sub := c.path.sub
		if sub == "" && c.path.elems == nil && c.op != "pr" {
			sub = "value"
		}
		for _, item := range items {
			if c.path.elems != nil && !c.path.elems.match(item) {
				continue
			}
			if c.op == "" || (sub == "" && c.op == "pr") || compareValue(item(sub), c.op, c.value, caseExact(c.path.attr, sub)) {
				return true
			}
		}
		return c.op == "ne" && len(items) == 0
	case record:
		if c.path.sub == "" {
			return c.op == "pr"
		}
		return compareValue(items(c.path.sub), c.op, c.value, false)
	case []string:
		for _, s := range items {
			if compareValue(s, c.op, c.value, caseExact(c.path.attr, "")) {
				return true
			}
		}
		return c.op == "ne" && len(items) == 0
	default:
		if c.path.sub != "" || c.path.elems != nil {
			return c.op == "ne"
		}
		return compareValue(v, c.op, c.value, caseExact(c.path.attr, ""))
	}
}

// compareValue applies op to an attribute's value v (string, bool or nil) and the filter's.
func compareValue(v any, op string, want any, exact bool) bool {
	if op == "pr" {
		switch x := v.(type) {
		case nil:
			return false
		case string:
			return x != ""
		}
		return true
	}
	if want == nil {
		// `eq null` holds for an absent attribute, `ne null` for a present one.
		absent := v == nil || v == ""
		return (op == "eq") == absent && (op == "eq" || op == "ne")
	}
	switch x := v.(type) {
	case string:
		w, ok := want.(string)
		if !ok {
			return op == "ne"
		}
		if !exact {
			x, w = strings.ToLower(x), strings.ToLower(w)
		}
		switch op {
		case "eq":
			return x == w
		case "ne":
			return x != w
		case "co":
			return strings.Contains(x, w)
		case "sw":
			return strings.HasPrefix(x, w)
		case "ew":
			return strings.HasSuffix(x, w)
		case "gt":
			return x > w
		case "ge":
			return x >= w
		case "lt":
			return x < w
		case "le":
			return x <= w
		}
	case bool:
		w, ok := want.(bool)
		switch op {
		case "eq":
			return ok && x == w
		case "ne":
			return !ok || x != w
		}
	case nil:
		return op == "ne"
	}
	return false
}

// maxFilterDepth bounds the nesting of parentheses, brackets and not, so that a hostile filter
// cannot exhaust the stack.
const maxFilterDepth = 32

// parseFilter parses a whole filter expression.
func parseFilter(s string) (filter, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks}
	f, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q after the filter", p.toks[p.i].text)
	}
	return f, nil
}

type token struct {
	text   string
	quoted bool // a JSON string literal; text is its value
}

// tokenize splits a filter into brackets, parentheses, string literals and words.
func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == '[' || c == ']':
			out = append(out, token{text: string(c)})
			i++
		case c == '"':
			end := quotedEnd(s[i:])
			if end < 0 {
				return nil, errors.New("a string is not closed")
			}
			var v string
			if err := json.Unmarshal([]byte(s[i:i+end]), &v); err != nil {
				return nil, fmt.Errorf("string %s: %w", s[i:i+end], err)
			}
			out = append(out, token{text: v, quoted: true})
			i += end
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t()[]\"", rune(s[j])) {
				j++
			}
			out = append(out, token{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// quotedEnd returns the index just after the JSON string starting at s[0], or -1.
func quotedEnd(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

type filterParser struct {
	toks []token
	i    int
}

func (p *filterParser) peek() (token, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return token{}, false
}

func (p *filterParser) keyword(word string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && strings.EqualFold(t.text, word) {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) punct(c string) bool {
	t, ok := p.peek()
	if ok && !t.quoted && t.text == c {
		p.i++
		return true
	}
	return false
}

// or: and-expressions joined by "or" (the loosest).
func (p *filterParser) or(depth int) (filter, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = orFilter{left, right}
	}
	return left, nil
}

func (p *filterParser) and(depth int) (filter, error) {
	left, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		left = andFilter{left, right}
	}
	return left, nil
}

func (p *filterParser) unary(depth int) (filter, error) {
	if depth > maxFilterDepth {
		return nil, fmt.Errorf("the filter nests deeper than %d levels", maxFilterDepth)
	}
	if p.keyword("not") {
		if !p.punct("(") {
			return nil, errors.New(`"not" must be followed by a parenthesis`)
		}
		inner, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, errors.New("a parenthesis is not closed")
		}
		return notFilter{inner}, nil
	}
	if p.punct("(") {
		inner, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.punct(")") {
			return nil, errors.New("a parenthesis is not closed")
		}
		return inner, nil
	}
	return p.comparison(depth)
}

// comparison reads `attrPath op value`, `attrPath pr`, or a value path `attr[filter]`, with an
// optional `.sub` after the bracket and then an operator.
func (p *filterParser) comparison(depth int) (filter, error) {
	t, ok := p.peek()
	if !ok || t.quoted {
		return nil, errors.New("an attribute name is missing")
	}
	p.i++
	path, err := parseAttrName(t.text)
	if err != nil {
		return nil, err
	}
	if p.punct("[") {
		if path.sub != "" {
			return nil, fmt.Errorf("%q: a value filter belongs right after the attribute", t.text)
		}
		elems, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.punct("]") {
			return nil, errors.New("a bracket is not closed")
		}
		path.elems = elems
		if next, ok := p.peek(); ok && !next.quoted && strings.HasPrefix(next.text, ".") {
			p.i++
			sub := strings.ToLower(next.text[1:])
			if !validName(sub) {
				return nil, fmt.Errorf("%q is no sub-attribute", next.text)
			}
			path.sub = sub
		} else {
			return compare{path: path}, nil
		}
	}
	opTok, ok := p.peek()
	if !ok || opTok.quoted {
		return nil, fmt.Errorf("an operator is missing after %q", t.text)
	}
	p.i++
	op := strings.ToLower(opTok.text)
	switch op {
	case "pr":
		return compare{path: path, op: op}, nil
	case "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le":
	default:
		return nil, fmt.Errorf("%q is no operator; use eq, ne, co, sw, ew, gt, ge, lt, le or pr", opTok.text)
	}
	vt, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("a value is missing after %q", opTok.text)
	}
	p.i++
	c := compare{path: path, op: op}
	switch {
	case vt.quoted:
		c.value = vt.text
	case strings.EqualFold(vt.text, "true"), strings.EqualFold(vt.text, "false"):
		c.value = strings.EqualFold(vt.text, "true")
	case strings.EqualFold(vt.text, "null"):
		c.value = nil
	default:
		if _, err := strconv.ParseFloat(vt.text, 64); err != nil {
			return nil, fmt.Errorf("value %s is not a quoted string, true, false, null or a number", vt.text)
		}
		c.value = vt.text // nothing kept here is a number: compared as text
	}
	return c, nil
}

// parseAttrName reads ATTRNAME *1subAttr (RFC 7644 §3.10), optionally after a schema URN: the
// core schemas' URNs are dropped, an extension's marks the path ext.
func parseAttrName(s string) (attrPath, error) {
	name := stripCoreURN(s)
	if strings.HasPrefix(strings.ToLower(name), "urn:") {
		i := strings.LastIndexByte(name, ':')
		if i < 0 || !validName(strings.Split(name[i+1:], ".")[0]) {
			return attrPath{}, fmt.Errorf("%q is no attribute", s)
		}
		return attrPath{attr: strings.ToLower(name), ext: true}, nil
	}
	attr, sub, hasSub := strings.Cut(strings.ToLower(name), ".")
	if !validName(attr) || (hasSub && !validName(sub)) {
		return attrPath{}, fmt.Errorf("%q is no attribute name", s)
	}
	return attrPath{attr: attr, sub: sub}, nil
}

// validName is ATTRNAME: a letter, then letters, digits, "_", "-" or "$" (and "$ref").
func validName(s string) bool {
	if s == "$ref" {
		return true
	}
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$') {
			return false
		}
	}
	return true
}

// stripCoreURN drops a core schema URN in front of an attribute ("urn:…:User:userName"), which
// RFC 7644 allows in paths and filters.
func stripCoreURN(s string) string {
	for _, urn := range []string{SchemaUser, SchemaGroup} {
		if len(s) > len(urn) && strings.EqualFold(s[:len(urn)], urn) && s[len(urn)] == ':' {
			return s[len(urn)+1:]
		}
	}
	return s
}

// parsePath parses a PATCH path (RFC 7644 §3.5.2): `attr`, `attr.sub`, `attr[filter]` and
// `attr[filter].sub`, each optionally after a schema URN.
func parsePath(s string) (attrPath, error) {
	s = strings.TrimSpace(s)
	open := strings.IndexByte(s, '[')
	if open < 0 {
		return parseAttrName(s)
	}
	closeAt := strings.LastIndexByte(s, ']')
	if closeAt < open {
		return attrPath{}, errors.New("a bracket is not closed")
	}
	p, err := parseAttrName(s[:open])
	if err != nil {
		return attrPath{}, err
	}
	if p.sub != "" || p.ext {
		return attrPath{}, fmt.Errorf("%q: a value filter belongs right after a core attribute", s[:open])
	}
	if p.elems, err = parseFilter(s[open+1 : closeAt]); err != nil {
		return attrPath{}, err
	}
	if rest := s[closeAt+1:]; rest != "" {
		sub, ok := strings.CutPrefix(rest, ".")
		if !ok || !validName(sub) {
			return attrPath{}, fmt.Errorf("%q after the bracket is no sub-attribute", rest)
		}
		p.sub = strings.ToLower(sub)
	}
	return p, nil
}
