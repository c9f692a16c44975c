package scim

import (
	"encoding/json"
	"strings"
)

// The filter language of RFC 7644 §3.4.2.2 is large; this receiver understands the part its
// clients use: one comparison `attribute eq "value"`. Authentik lists with `userName eq "…"`
// and `displayName eq "…"` after a 409 on create (clients/users.py, groups.py), and removes a
// member with the path `members[value eq "…"]` (tests/test_membership.py, 2025 and later).

// comparison is `attr eq value`; attr is lower-case, as attribute names are case-insensitive.
type comparison struct {
	attr  string
	value string
}

// parseComparison parses `attr eq "value"` (or true/false) with any amount of spaces around.
func parseComparison(s string) (comparison, bool) {
	s = strings.TrimSpace(s)
	attr, rest, ok := strings.Cut(s, " ")
	if !ok || attr == "" {
		return comparison{}, false
	}
	rest = strings.TrimLeft(rest, " ")
	op, rest, ok := strings.Cut(rest, " ")
	if !ok || !strings.EqualFold(op, "eq") {
		return comparison{}, false
	}
	value, ok := parseCompValue(strings.TrimSpace(rest))
	if !ok || !validAttrPath(attr) {
		return comparison{}, false
	}
	return comparison{attr: strings.ToLower(stripCoreURN(attr)), value: value}, true
}

// parseCompValue accepts a whole JSON string, true or false; numbers and null compare nothing
// this receiver stores.
func parseCompValue(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "true", "false":
		return strings.ToLower(s), true
	}
	if len(s) < 2 || s[0] != '"' || quotedEnd(s) != len(s) {
		return "", false
	}
	var v string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", false
	}
	return v, true
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

// validAttrPath is ATTRNAME *1subAttr (RFC 7644 §3.10), optionally after a schema URN.
func validAttrPath(s string) bool {
	s = stripCoreURN(s)
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || !(part[0] >= 'a' && part[0] <= 'z' || part[0] >= 'A' && part[0] <= 'Z') {
			return false
		}
		for i := 1; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '$') {
				return false
			}
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

// patchPath is a PATCH operation's target: attr (lower-case), sub (a sub-attribute, lower-case,
// or ""), and for `members[value eq "x"]` the value filter.
type patchPath struct {
	attr     string
	sub      string
	filtered bool
	value    string
}

// parsePath parses the paths of RFC 7644 §3.5.2 this receiver supports: `attr`, `attr.sub`
// and `attr[value eq "x"]`.
func parsePath(s string) (patchPath, bool) {
	s = strings.TrimSpace(s)
	if open := strings.IndexByte(s, '['); open >= 0 {
		if !strings.HasSuffix(s, "]") {
			return patchPath{}, false
		}
		attr := s[:open]
		if !validAttrPath(attr) || strings.Contains(stripCoreURN(attr), ".") {
			return patchPath{}, false
		}
		c, ok := parseComparison(s[open+1 : len(s)-1])
		if !ok || c.attr != "value" {
			return patchPath{}, false
		}
		return patchPath{attr: strings.ToLower(stripCoreURN(attr)), filtered: true, value: c.value}, true
	}
	if !validAttrPath(s) {
		return patchPath{}, false
	}
	attr, sub, _ := strings.Cut(strings.ToLower(stripCoreURN(s)), ".")
	return patchPath{attr: attr, sub: sub}, true
}
