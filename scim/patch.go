package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// PATCH (RFC 7644 §3.5.2). Authentik patches groups only, in these shapes (clients/groups.py,
// tests/test_membership.py):
//   - {"op":"add","path":"members","value":[{"value":id}]}, one operation per member;
//   - {"op":"remove","path":"members[value eq \"id\"]"} (2025 and later), or earlier
//     {"op":"remove","path":"members","value":[{"value":id}]};
//   - {"op":"replace","value":{"schemas":…,"id":…,"displayName":…,"externalId":…}} without a
//     path to update the group's attributes, or in its AWS mode one replace per attribute with
//     the paths "displayName" and "externalId".
// Operations are applied in order to a copy of the resource; the copy is written only when every
// one of them succeeded, so a request with one bad operation changes nothing.

const (
	opAdd     = "add"
	opRemove  = "remove"
	opReplace = "replace"
)

// operation is one checked PATCH operation.
type operation struct {
	op string
	// path is the parsed path; rawPath is "" for an operation without one.
	path    patchPath
	rawPath string
	// value is nil when the operation has none (or null).
	value json.RawMessage
}

type wireOperation struct {
	Op    *string         `json:"op"`
	Path  *string         `json:"path"`
	Value json.RawMessage `json:"value"`
}

type wirePatch struct {
	Schemas    []string        `json:"schemas"`
	Operations []wireOperation `json:"Operations"`
}

// parsePatch checks a PATCH body: 1 to maxPatchOperations operations, each with a known op, a
// path this receiver understands, and a value where one is needed. The PatchOp schema may be
// missing: Authentik 2025.12.4 sends its attribute replace (a group rename) without "schemas"
// (pushed/scim/07), and a body of Operations means nothing else. Only a schemas list naming
// other schemas alone (a resource sent to PATCH) is refused.
func parsePatch(body []byte) ([]operation, *Error) {
	var w wirePatch
	if e := decodeStrict(body, &w); e != nil {
		return nil, e
	}
	if len(w.Schemas) > 0 && !slices.ContainsFunc(w.Schemas, func(s string) bool { return strings.EqualFold(s, SchemaPatchOp) }) {
		return nil, badRequest(typeInvalidSyntax, "schemas %q does not include %s; send it, or leave schemas out", w.Schemas, SchemaPatchOp)
	}
	if len(w.Operations) == 0 {
		return nil, badRequest(typeInvalidValue, "Operations is missing or empty")
	}
	if len(w.Operations) > maxPatchOperations {
		return nil, badRequest(typeInvalidValue, "%d operations in one request; send at most %d", len(w.Operations), maxPatchOperations)
	}
	ops := make([]operation, 0, len(w.Operations))
	for i, wo := range w.Operations {
		if wo.Op == nil {
			return nil, badRequest(typeInvalidSyntax, "Operations[%d] has no op; use add, remove or replace", i)
		}
		o := operation{op: strings.ToLower(strings.TrimSpace(*wo.Op))}
		switch o.op {
		case opAdd, opRemove, opReplace:
		default:
			return nil, badRequest(typeInvalidSyntax, "Operations[%d] has op %q; use add, remove or replace", i, *wo.Op)
		}
		if wo.Path != nil && strings.TrimSpace(*wo.Path) != "" {
			p, ok := parsePath(*wo.Path)
			if !ok {
				return nil, badRequest(typeInvalidPath, "Operations[%d] has path %q, which this receiver does not understand: use an attribute name, attribute.subAttribute, or members[value eq \"id\"]", i, *wo.Path)
			}
			o.path, o.rawPath = p, *wo.Path
		}
		if len(wo.Value) > 0 && string(wo.Value) != "null" {
			o.value = wo.Value
		}
		switch {
		case o.op == opRemove && o.rawPath == "":
			return nil, badRequest(typeNoTarget, "Operations[%d] removes without a path; name what to remove", i)
		case o.op != opRemove && o.value == nil:
			return nil, badRequest(typeInvalidValue, "Operations[%d] (%s) has no value", i, o.op)
		case o.op != opRemove && o.path.filtered:
			return nil, badRequest(typeInvalidPath, "Operations[%d]: %s with a filter in the path is not supported; only remove takes one", i, o.op)
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// memberSet is a group's members while operations apply to them.
type memberSet map[string]bool

func (m memberSet) add(values []string) {
	for _, v := range values {
		m[v] = true
	}
}

func (m memberSet) remove(values []string) {
	for _, v := range values {
		delete(m, v)
	}
}

func (m memberSet) replace(values []string) {
	clear(m)
	m.add(values)
}

// patchGroup applies ops to a copy of g. Members are a set meanwhile, so that a request with
// many operations on a large group costs its size, not its size squared.
func patchGroup(g Group, ops []operation) (Group, *Error) {
	members := memberSet{}
	members.add(g.Members)
	for i, o := range ops {
		var e *Error
		if o.rawPath == "" {
			e = patchGroupObject(&g, members, o, i)
		} else {
			e = patchGroupPath(&g, members, o, i)
		}
		if e != nil {
			return Group{}, e
		}
	}
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" {
		return Group{}, badRequest(typeInvalidValue, "displayName is required and cannot be emptied")
	}
	g.Members = slices.Sorted(maps.Keys(members))
	return g, nil
}

// patchGroupObject applies an add or replace without a path: value is an object of attributes.
func patchGroupObject(g *Group, members memberSet, o operation, i int) *Error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(o.value, &attrs); err != nil {
		return badRequest(typeInvalidValue, "Operations[%d]: without a path, value must be an object of attributes", i)
	}
	for key, raw := range attrs {
		switch strings.ToLower(key) {
		case "displayname":
			if e := setString(&g.DisplayName, raw, i, "displayName"); e != nil {
				return e
			}
		case "externalid":
			if e := setString(&g.ExternalID, raw, i, "externalId"); e != nil {
				return e
			}
		case "members":
			values, e := decodeMembers(raw, i)
			if e != nil {
				return e
			}
			if o.op == opReplace {
				members.replace(values)
			} else {
				members.add(values)
			}
		case "id":
			// Authentik sends the id back in its replace (clients/groups.py): fine when unchanged.
			var id string
			if json.Unmarshal(raw, &id) != nil || id != g.ID {
				return badRequest(typeMutability, "Operations[%d]: id cannot be changed", i)
			}
		default:
			// schemas, meta, and attributes of extension schemas: nothing this receiver keeps.
		}
	}
	return nil
}

// patchGroupPath applies an operation with a path.
func patchGroupPath(g *Group, members memberSet, o operation, i int) *Error {
	p := o.path
	switch {
	case p.attr == "members" && p.sub == "":
		switch {
		case o.op == opRemove && p.filtered:
			delete(members, p.value)
		case o.op == opRemove && o.value == nil:
			clear(members)
		default:
			values, e := decodeMembers(o.value, i)
			if e != nil {
				return e
			}
			switch o.op {
			case opRemove:
				members.remove(values)
			case opReplace:
				members.replace(values)
			default:
				members.add(values)
			}
		}
	case p.filtered || p.sub != "":
		return badRequest(typeInvalidPath, "Operations[%d]: path %q names nothing a group has here", i, o.rawPath)
	case p.attr == "displayname":
		if o.op == opRemove {
			return badRequest(typeInvalidValue, "Operations[%d]: displayName is required and cannot be removed", i)
		}
		return setString(&g.DisplayName, o.value, i, "displayName")
	case p.attr == "externalid":
		if o.op == opRemove {
			g.ExternalID = ""
			return nil
		}
		return setString(&g.ExternalID, o.value, i, "externalId")
	case p.attr == "id" || p.attr == "meta" || p.attr == "schemas":
		return badRequest(typeMutability, "Operations[%d]: %s cannot be changed", i, o.rawPath)
	default:
		return badRequest(typeInvalidPath, "Operations[%d]: a group has no attribute %q here; use displayName, externalId or members", i, o.rawPath)
	}
	return nil
}

// decodeMembers reads a members value: an array of {"value": id}, or one such object.
func decodeMembers(raw json.RawMessage, i int) ([]string, *Error) {
	var list []wireMember
	if err := json.Unmarshal(raw, &list); err != nil {
		var one wireMember
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, badRequest(typeInvalidValue, "Operations[%d]: members must be a list of {\"value\": \"<id>\"}", i)
		}
		list = []wireMember{one}
	}
	values, e := memberValues(list)
	if e != nil {
		e.Detail = fmt.Sprintf("Operations[%d]: %s", i, e.Detail)
	}
	return values, e
}

func setString(field *string, raw json.RawMessage, i int, name string) *Error {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return badRequest(typeInvalidValue, "Operations[%d]: %s must be a string", i, name)
	}
	*field = s
	return nil
}

// patchUser applies ops to a copy of u. Authentik updates users with PUT; PATCH is here for
// other clients and follows the same rules as for groups.
func patchUser(u User, ops []operation) (User, *Error) {
	u.Emails = slices.Clone(u.Emails)
	for i, o := range ops {
		var e *Error
		if o.rawPath == "" {
			e = patchUserObject(&u, o, i)
		} else {
			e = patchUserPath(&u, o, i)
		}
		if e != nil {
			return User{}, e
		}
	}
	u.UserName = strings.TrimSpace(u.UserName)
	if e := validUser(u); e != nil {
		return User{}, e
	}
	return u, nil
}

func patchUserObject(u *User, o operation, i int) *Error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(o.value, &attrs); err != nil {
		return badRequest(typeInvalidValue, "Operations[%d]: without a path, value must be an object of attributes", i)
	}
	for key, raw := range attrs {
		lower := strings.ToLower(key)
		if lower == "id" {
			var id string
			if json.Unmarshal(raw, &id) != nil || id != u.ID {
				return badRequest(typeMutability, "Operations[%d]: id cannot be changed", i)
			}
			continue
		}
		attr, sub, _ := strings.Cut(lower, ".")
		if e := setUserAttr(u, o.op, patchPath{attr: attr, sub: sub}, key, raw, i, false); e != nil {
			return e
		}
	}
	return nil
}

func patchUserPath(u *User, o operation, i int) *Error {
	p := o.path
	if p.filtered {
		if p.attr != "emails" || o.op != opRemove {
			return badRequest(typeInvalidPath, "Operations[%d]: path %q names nothing a user has here", i, o.rawPath)
		}
		u.Emails = slices.DeleteFunc(u.Emails, func(e Email) bool { return e.Value == p.value })
		return nil
	}
	if o.op == opRemove {
		switch {
		case p.attr == "username":
			return badRequest(typeInvalidValue, "Operations[%d]: userName is required and cannot be removed", i)
		case p.attr == "externalid" && p.sub == "":
			u.ExternalID = ""
		case p.attr == "displayname" && p.sub == "":
			u.DisplayName = ""
		case p.attr == "emails" && p.sub == "":
			u.Emails = nil
		case p.attr == "name" && p.sub == "":
			u.Name = Name{}
		case p.attr == "name":
			return setUserAttr(u, opReplace, p, o.rawPath, json.RawMessage(`""`), i, true)
		case p.attr == "active":
			return badRequest(typeInvalidValue, "Operations[%d]: active cannot be removed; replace it with true or false", i)
		default:
			return badRequest(typeInvalidPath, "Operations[%d]: a user has no attribute %q here", i, o.rawPath)
		}
		return nil
	}
	return setUserAttr(u, o.op, p, o.rawPath, o.value, i, true)
}

// setUserAttr sets one attribute; strict refuses attributes the receiver does not keep (a path
// names them on purpose), while attributes inside a value object are skipped.
func setUserAttr(u *User, op string, p patchPath, name string, raw json.RawMessage, i int, strict bool) *Error {
	switch {
	case p.attr == "username" && p.sub == "":
		if e := setString(&u.UserName, raw, i, "userName"); e != nil {
			return e
		}
	case p.attr == "externalid" && p.sub == "":
		return setString(&u.ExternalID, raw, i, "externalId")
	case p.attr == "displayname" && p.sub == "":
		return setString(&u.DisplayName, raw, i, "displayName")
	case p.attr == "active" && p.sub == "":
		var b flexBool
		if err := json.Unmarshal(raw, &b); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: active must be true or false", i)
		}
		u.Active = bool(b)
	case p.attr == "name" && p.sub == "":
		var n Name
		if err := json.Unmarshal(raw, &n); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: name must be an object", i)
		}
		u.Name = n
	case p.attr == "name":
		var target *string
		switch p.sub {
		case "formatted":
			target = &u.Name.Formatted
		case "givenname":
			target = &u.Name.GivenName
		case "familyname":
			target = &u.Name.FamilyName
		}
		if target == nil {
			if strict {
				return badRequest(typeInvalidPath, "Operations[%d]: a user has no attribute %q here", i, name)
			}
			return nil
		}
		return setString(target, raw, i, "name."+p.sub)
	case p.attr == "emails" && p.sub == "":
		var emails []Email
		if err := json.Unmarshal(raw, &emails); err != nil {
			var one Email
			if err := json.Unmarshal(raw, &one); err != nil {
				return badRequest(typeInvalidValue, "Operations[%d]: emails must be a list of {\"value\": \"…\"}", i)
			}
			emails = []Email{one}
		}
		if op == opAdd {
			u.Emails = append(u.Emails, emails...)
		} else {
			u.Emails = emails
		}
	case strict:
		return badRequest(typeInvalidPath, "Operations[%d]: a user has no attribute %q here; use userName, externalId, displayName, active, name or emails", i, name)
	}
	return nil
}
