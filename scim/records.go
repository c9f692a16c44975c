package scim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"authentik-matrix-sync/scimstate"
)

// Resources as filters see them (record) and as attributes/excludedAttributes shape them
// (project), for every attribute the receiver answers.

// userAttributes and groupAttributes are the core schemas' attributes (RFC 7643 §4.1, §4.2),
// lower-case: a filter or path may name any of them, kept here or not.
var (
	userAttributes = set("id", "externalid", "meta", "schemas", "username", "name", "displayname", "nickname", "profileurl", "title",
		"usertype", "preferredlanguage", "locale", "timezone", "active", "password", "emails", "phonenumbers", "ims", "photos",
		"addresses", "groups", "entitlements", "roles", "x509certificates")
	groupAttributes = set("id", "externalid", "meta", "schemas", "displayname", "members")
)

func set(names ...string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out
}

// checkFilterNames refuses a filter naming an attribute none of the given schemas has; the
// names inside a value path's brackets are sub-attributes and not checked.
func checkFilterNames(f filter, known ...map[string]bool) error {
	switch f := f.(type) {
	case andFilter:
		return firstErr(checkFilterNames(f.left, known...), checkFilterNames(f.right, known...))
	case orFilter:
		return firstErr(checkFilterNames(f.left, known...), checkFilterNames(f.right, known...))
	case notFilter:
		return checkFilterNames(f.inner, known...)
	case compare:
		if f.path.ext {
			return nil
		}
		for _, k := range known {
			if k[f.path.attr] {
				return nil
			}
		}
		return fmt.Errorf("%q is no attribute of this resource", f.path.attr)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func metaRecord(kind, id string, created, modified time.Time) record {
	m := metaOf(kind, id, created, modified)
	return func(name string) any {
		switch name {
		case "resourcetype":
			return m.ResourceType
		case "created":
			return m.Created
		case "lastmodified":
			return m.LastModified
		case "location":
			return m.Location
		}
		return nil
	}
}

// userRecord is a user as filters see it.
func userRecord(u scimstate.User) record {
	return func(name string) any {
		switch name {
		case "id":
			return u.ID
		case "externalid":
			return u.ExternalID
		case "username":
			return u.UserName
		case "displayname":
			return u.DisplayName
		case "active":
			return u.Active
		case "name":
			if u.Name == (scimstate.Name{}) {
				return nil
			}
			return record(func(sub string) any {
				switch sub {
				case "formatted":
					return u.Name.Formatted
				case "givenname":
					return u.Name.GivenName
				case "familyname":
					return u.Name.FamilyName
				}
				return nil
			})
		case "emails":
			out := make([]record, 0, len(u.Emails))
			for _, e := range u.Emails {
				out = append(out, emailRecord(e))
			}
			return out
		case "meta":
			return metaRecord(resourceTypeUser, u.ID, u.Created, u.Modified)
		case "schemas":
			return []string{SchemaUser}
		}
		return nil
	}
}

func emailRecord(e scimstate.Email) record {
	return func(sub string) any {
		switch sub {
		case "value":
			return e.Value
		case "type":
			return e.Type
		case "primary":
			return e.Primary
		}
		return nil
	}
}

// groupRecord is a group as filters see it; its members' types and names come from s.
func groupRecord(g scimstate.Group, s *scimstate.Snapshot) record {
	return func(name string) any {
		switch name {
		case "id":
			return g.ID
		case "externalid":
			return g.ExternalID
		case "displayname":
			return g.DisplayName
		case "members":
			out := make([]record, 0, len(g.Members))
			for _, v := range g.Members {
				out = append(out, memberRecord(describeMember(v, s)))
			}
			return out
		case "meta":
			return metaRecord(resourceTypeGroup, g.ID, g.Created, g.Modified)
		case "schemas":
			return []string{SchemaGroup}
		}
		return nil
	}
}

func memberRecord(m memberOut) record {
	return func(sub string) any {
		switch sub {
		case "value":
			return m.Value
		case "type":
			return m.Type
		case "display":
			return m.Display
		case "$ref":
			return m.Ref
		}
		return nil
	}
}

// describeMember is a member as the receiver answers it: its type, name and reference, when it
// is a user or group the client pushed.
func describeMember(v string, s *scimstate.Snapshot) memberOut {
	m := memberOut{Value: v}
	if s == nil {
		return m
	}
	if u, ok := s.Users[v]; ok {
		m.Type, m.Display, m.Ref = resourceTypeUser, u.UserName, basePath+"/Users/"+v
	} else if sub, ok := s.Groups[v]; ok {
		m.Type, m.Display, m.Ref = resourceTypeGroup, sub.DisplayName, basePath+"/Groups/"+v
	}
	return m
}

// shape is what attributes and excludedAttributes ask of an answer (RFC 7644 §3.4.2.5).
type shape struct {
	attributes, excluded []attrPath
}

// parseShape reads the two comma-separated lists.
func parseShape(attributes, excluded []string) (shape, *Error) {
	var s shape
	for _, list := range []struct {
		names []string
		into  *[]attrPath
		param string
	}{{attributes, &s.attributes, "attributes"}, {excluded, &s.excluded, "excludedAttributes"}} {
		for _, raw := range list.names {
			for name := range strings.SplitSeq(raw, ",") {
				if name = strings.TrimSpace(name); name == "" {
					continue
				}
				p, err := parseAttrName(name)
				if err != nil {
					return shape{}, badRequest(typeInvalidPath, "%s names %q, which is no attribute path: %v", list.param, name, err)
				}
				*list.into = append(*list.into, p)
			}
		}
	}
	return s, nil
}

// plain reports whether the answer is the whole resource.
func (s shape) plain() bool { return len(s.attributes) == 0 && len(s.excluded) == 0 }

// wants reports whether the answer carries attr (lower-case) at all, so that a large members
// list is not built for nothing.
func (s shape) wants(attr string) bool {
	for _, p := range s.excluded {
		if p.attr == attr && p.sub == "" {
			return false
		}
	}
	if len(s.attributes) == 0 {
		return true
	}
	for _, p := range s.attributes {
		if p.attr == attr {
			return true
		}
	}
	return false
}

// apply shapes a resource answer: with attributes, only those (and id and schemas, which are
// always returned); without, everything but the excluded ones.
func (s shape) apply(resource any) any {
	if s.plain() {
		return resource
	}
	data, err := json.Marshal(resource)
	if err != nil {
		return resource
	}
	var full map[string]any
	if json.Unmarshal(data, &full) != nil {
		return resource
	}
	out := full
	if len(s.attributes) > 0 {
		out = map[string]any{}
		for _, k := range []string{"id", "schemas"} {
			if v, ok := full[k]; ok {
				out[k] = v
			}
		}
		for _, p := range s.attributes {
			if p.ext {
				continue
			}
			key, v, ok := lookupKey(full, p.attr)
			if !ok {
				continue
			}
			if p.sub == "" {
				out[key] = v
				continue
			}
			out[key] = keepSub(out[key], v, p.sub)
		}
	}
	for _, p := range s.excluded {
		key, v, ok := lookupKey(out, p.attr)
		if !ok || key == "id" || key == "schemas" {
			continue
		}
		if p.sub == "" {
			delete(out, key)
			continue
		}
		dropSub(v, p.sub)
	}
	return out
}

// lookupKey finds an attribute by its lower-case name among an answer's keys.
func lookupKey(m map[string]any, attr string) (string, any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, attr) {
			return k, v, true
		}
	}
	return "", nil, false
}

// keepSub adds sub-attribute sub of v (a complex value, or a list of them) to what has been
// kept of it so far.
func keepSub(kept, v any, sub string) any {
	switch x := v.(type) {
	case map[string]any:
		m, _ := kept.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if k, sv, ok := lookupKey(x, sub); ok {
			m[k] = sv
		}
		return m
	case []any:
		list, _ := kept.([]any)
		if len(list) != len(x) {
			list = make([]any, len(x))
		}
		for i, item := range x {
			list[i] = keepSub(list[i], item, sub)
		}
		return list
	}
	return kept
}

// dropSub removes sub-attribute sub from v in place.
func dropSub(v any, sub string) {
	switch x := v.(type) {
	case map[string]any:
		if k, _, ok := lookupKey(x, sub); ok {
			delete(x, k)
		}
	case []any:
		for _, item := range x {
			dropSub(item, sub)
		}
	}
}
