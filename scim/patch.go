package scim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"authentik-matrix-sync/scimstate"
)

// PATCH (RFC 7644 §3.5.2). Authentik patches groups only, in these shapes (clients/groups.py,
// tests/test_membership.py, and what 2025.12.4 sent, testdata/pushed-2025.12.4):
//   - {"op":"add","path":"members","value":[{"value":id}]}, one operation per member;
//   - {"op":"remove","path":"members[value eq \"id\"]"} (2025 and later), or earlier
//     {"op":"remove","path":"members","value":[{"value":id}]};
//   - {"op":"replace","value":{"schemas":…,"id":…,"displayName":…,"externalId":…}} without a
//     path to update the group's attributes (a rename; 2025.12.4 sends it without "schemas" at
//     the top), or in its AWS mode one replace per attribute with the paths "displayName" and
//     "externalId".
//
// Other clients (docs/scim.md has their sections): Entra ID writes ops capitalised ("Add",
// "Replace", "Remove"), booleans as "True"/"False", members as [{"$ref":null,"value":id}], and
// user paths such as emails[type eq "work"].value, name.givenName and enterprise-extension
// attributes; Okta replaces without a path ({"active":false}, a group's displayName) and removes
// members with members[value eq "id"]; JumpCloud removes members with the path "members" and a
// value list. Attributes of the core schema the receiver does not keep, and of extension schemas,
// are accepted and ignored; a path naming nothing of the schema is refused.
//
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
	path    attrPath
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
// path that parses, and a value where one is needed. The PatchOp schema may be missing:
// Authentik 2025.12.4 sends its attribute replace (a group rename) without "schemas"
// (pushed/scim/07), and a body of Operations means nothing else. Only a schemas list naming
// other schemas alone (a resource sent to PATCH) is refused.
func parsePatch(body []byte) ([]operation, *Error) {
	var w wirePatch
	if e := decodeStrict(body, &w); e != nil {
		return nil, e
	}
	if len(w.Schemas) > 0 && !containsFold(w.Schemas, SchemaPatchOp) {
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
			if len(*wo.Path) > maxStringLength {
				return nil, badRequest(typeInvalidPath, "Operations[%d] has a path of %d bytes; at most %d are accepted", i, len(*wo.Path), maxStringLength)
			}
			p, err := parsePath(*wo.Path)
			if err != nil {
				return nil, badRequest(typeInvalidPath, "Operations[%d] has path %q, which does not parse (%v): use an attribute name, attribute.subAttribute, or a value filter such as members[value eq \"id\"] or emails[type eq \"work\"].value", i, *wo.Path, err)
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

// patchGroup applies ops to a copy of g; s tells members' types for a filter on them (nil: none
// known). Members are a set meanwhile, so that a request with many operations on a large group
// costs its size, not its size squared.
func patchGroup(g scimstate.Group, ops []operation, s *scimstate.Snapshot) (scimstate.Group, *Error) {
	members := memberSet{}
	members.add(g.Members)
	for i, o := range ops {
		var e *Error
		if o.rawPath == "" {
			e = patchGroupObject(&g, members, o, i)
		} else {
			e = patchGroupPath(&g, members, o, i, s)
		}
		if e != nil {
			return scimstate.Group{}, e
		}
	}
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" {
		return scimstate.Group{}, badRequest(typeInvalidValue, "displayName is required and cannot be emptied")
	}
	g.Members = slices.Sorted(maps.Keys(members))
	return g, nil
}

// patchGroupObject applies an add or replace without a path: value is an object of attributes.
func patchGroupObject(g *scimstate.Group, members memberSet, o operation, i int) *Error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(o.value, &attrs); err != nil {
		return badRequest(typeInvalidValue, "Operations[%d]: without a path, value must be an object of attributes", i)
	}
	for key, raw := range attrs {
		switch strings.ToLower(stripCoreURN(key)) {
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
func patchGroupPath(g *scimstate.Group, members memberSet, o operation, i int, s *scimstate.Snapshot) *Error {
	p := o.path
	switch {
	case p.ext:
		return nil // an extension's attribute: nothing kept
	case p.attr == "members" && p.elems != nil:
		if o.op != opRemove || p.sub != "" {
			return badRequest(typeInvalidPath, "Operations[%d]: a filter on members is taken by remove only; add members with the path \"members\" and a list of {\"value\": \"<id>\"}", i)
		}
		for v := range members {
			if p.elems.match(memberRecord(describeMember(v, s))) {
				delete(members, v)
			}
		}
	case p.attr == "members" && p.sub == "":
		if o.op == opRemove && o.value == nil {
			clear(members)
			return nil
		}
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
	case p.elems != nil || p.sub != "":
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

// decodeMembers reads a members value: a list of {"value": id}, one such object, or an object
// {"members": [...]} as some clients wrap it.
func decodeMembers(raw json.RawMessage, i int) ([]string, *Error) {
	var list []wireMember
	if err := json.Unmarshal(raw, &list); err != nil {
		var wrapped struct {
			Members *[]wireMember `json:"members"`
		}
		var one wireMember
		switch {
		case json.Unmarshal(raw, &wrapped) == nil && wrapped.Members != nil:
			list = *wrapped.Members
		case json.Unmarshal(raw, &one) == nil:
			list = []wireMember{one}
		default:
			return nil, badRequest(typeInvalidValue, "Operations[%d]: members must be a list of {\"value\": \"<id>\"}", i)
		}
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
func patchUser(u scimstate.User, ops []operation) (scimstate.User, *Error) {
	u.Emails = slices.Clone(u.Emails)
	for i, o := range ops {
		var e *Error
		if o.rawPath == "" {
			e = patchUserObject(&u, o, i)
		} else {
			e = applyUserPath(&u, o.op, o.path, o.rawPath, o.value, i, true)
		}
		if e != nil {
			return scimstate.User{}, e
		}
	}
	u.UserName = strings.TrimSpace(u.UserName)
	if e := validUser(u); e != nil {
		return scimstate.User{}, e
	}
	return u, nil
}

// patchUserObject applies an add or replace without a path: each key of the value object is an
// attribute path ("active", "name.givenName", `emails[type eq "work"].value`, an extension's
// attributes), and a key naming nothing kept here is skipped.
func patchUserObject(u *scimstate.User, o operation, i int) *Error {
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal(o.value, &attrs); err != nil {
		return badRequest(typeInvalidValue, "Operations[%d]: without a path, value must be an object of attributes", i)
	}
	for _, key := range slices.Sorted(maps.Keys(attrs)) {
		p, err := parsePath(key)
		if err != nil {
			continue // not an attribute path: nothing this receiver keeps
		}
		if e := applyUserPath(u, o.op, p, key, attrs[key], i, false); e != nil {
			return e
		}
	}
	return nil
}

// applyUserPath applies one operation to one attribute path. strict refuses paths naming
// nothing of the User schema (an operation's path names them on purpose); inside a value object
// they are skipped. Attributes of the schema not kept here, and extensions', are ignored.
func applyUserPath(u *scimstate.User, op string, p attrPath, name string, raw json.RawMessage, i int, strict bool) *Error {
	simple := p.sub == "" && p.elems == nil
	refuse := func() *Error {
		if !strict {
			return nil
		}
		return badRequest(typeInvalidPath, "Operations[%d]: a user has no attribute %q here; use userName, externalId, displayName, active, name or emails", i, name)
	}
	switch {
	case p.ext:
		return nil
	case p.attr == "id":
		var id string
		if op == opRemove || json.Unmarshal(raw, &id) != nil || id != u.ID {
			return badRequest(typeMutability, "Operations[%d]: id cannot be changed", i)
		}
	case p.attr == "meta" || p.attr == "schemas":
		if strict {
			return badRequest(typeMutability, "Operations[%d]: %s cannot be changed", i, name)
		}
	case p.attr == "emails":
		return patchEmails(u, op, p, raw, i)
	case p.attr == "name" && p.elems == nil:
		return patchName(u, op, p.sub, raw, i, strict, name)
	case !simple && (p.attr == "username" || p.attr == "externalid" || p.attr == "displayname" || p.attr == "active"):
		return refuse()
	case p.attr == "username":
		if op == opRemove {
			return badRequest(typeInvalidValue, "Operations[%d]: userName is required and cannot be removed", i)
		}
		return setString(&u.UserName, raw, i, "userName")
	case p.attr == "externalid":
		if op == opRemove {
			u.ExternalID = ""
			return nil
		}
		return setString(&u.ExternalID, raw, i, "externalId")
	case p.attr == "displayname":
		if op == opRemove {
			u.DisplayName = ""
			return nil
		}
		return setString(&u.DisplayName, raw, i, "displayName")
	case p.attr == "active":
		if op == opRemove {
			return badRequest(typeInvalidValue, "Operations[%d]: active cannot be removed; replace it with true or false", i)
		}
		var b flexBool
		if err := json.Unmarshal(raw, &b); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: active must be true or false", i)
		}
		u.Active = bool(b)
	case userAttributes[p.attr]:
		// A core attribute this receiver does not keep (title, phoneNumbers, addresses, …).
	default:
		return refuse()
	}
	return nil
}

// patchName changes the name or one of its parts; the parts the receiver does not keep
// (middleName, honorifics) are ignored.
func patchName(u *scimstate.User, op, sub string, raw json.RawMessage, i int, strict bool, path string) *Error {
	var target *string
	switch sub {
	case "":
		if op == opRemove {
			u.Name = scimstate.Name{}
			return nil
		}
		var n scimstate.Name
		if err := json.Unmarshal(raw, &n); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: name must be an object", i)
		}
		if op == opAdd {
			// add merges into a complex attribute (RFC 7644 §3.5.2.1)
			n = scimstate.Name{Formatted: cmpOr(n.Formatted, u.Name.Formatted), GivenName: cmpOr(n.GivenName, u.Name.GivenName),
				FamilyName: cmpOr(n.FamilyName, u.Name.FamilyName)}
		}
		u.Name = n
		return nil
	case "formatted":
		target = &u.Name.Formatted
	case "givenname":
		target = &u.Name.GivenName
	case "familyname":
		target = &u.Name.FamilyName
	case "middlename", "honorificprefix", "honorificsuffix":
		return nil
	default:
		if strict {
			return badRequest(typeInvalidPath, "Operations[%d]: a user's name has no part %q", i, path)
		}
		return nil
	}
	if op == opRemove {
		*target = ""
		return nil
	}
	return setString(target, raw, i, "name."+sub)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// patchEmails applies an operation to emails: the whole list, a sub-attribute of every address
// (emails.value), or the addresses a filter selects (emails[type eq "work"], with or without a
// sub-attribute after it). An add or replace whose filter selects nothing adds an address made
// from the filter's equality comparisons (type eq "work" gives one of type work), as Entra ID
// expects of its first write of a work address.
func patchEmails(u *scimstate.User, op string, p attrPath, raw json.RawMessage, i int) *Error {
	if p.elems == nil && p.sub == "" {
		switch {
		case op == opRemove && raw == nil:
			u.Emails = nil
		case op == opRemove:
			list, e := decodeEmails(raw, i)
			if e != nil {
				return e
			}
			u.Emails = slices.DeleteFunc(u.Emails, func(e scimstate.Email) bool {
				return slices.ContainsFunc(list, func(x scimstate.Email) bool { return strings.EqualFold(x.Value, e.Value) })
			})
		default:
			list, e := decodeEmails(raw, i)
			if e != nil {
				return e
			}
			if op == opAdd {
				u.Emails = append(u.Emails, list...)
			} else {
				u.Emails = list
			}
		}
		return nil
	}
	var selected []int
	for k, e := range u.Emails {
		if p.elems == nil || p.elems.match(emailRecord(e)) {
			selected = append(selected, k)
		}
	}
	if op == opRemove {
		if p.sub == "" || p.sub == "value" {
			u.Emails = slices.DeleteFunc(u.Emails, func(e scimstate.Email) bool { return p.elems == nil || p.elems.match(emailRecord(e)) })
			return nil
		}
		for _, k := range selected {
			if e := setEmailPart(&u.Emails[k], p.sub, nil, i); e != nil {
				return e
			}
		}
		return nil
	}
	if len(selected) == 0 {
		fresh, ok := emailFromFilter(p.elems)
		if !ok && op == opReplace {
			return badRequest(typeNoTarget, "Operations[%d]: no e-mail address matches the filter, and it does not say what a new one would be", i)
		}
		u.Emails = append(u.Emails, fresh)
		selected = []int{len(u.Emails) - 1}
	}
	for _, k := range selected {
		if p.sub != "" {
			if e := setEmailPart(&u.Emails[k], p.sub, raw, i); e != nil {
				return e
			}
			continue
		}
		var parts map[string]json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: an e-mail address must be an object such as {\"value\": \"…\", \"type\": \"work\"}", i)
		}
		for key, v := range parts {
			if e := setEmailPart(&u.Emails[k], strings.ToLower(key), v, i); e != nil {
				return e
			}
		}
	}
	return nil
}

// setEmailPart sets (raw nil: clears) one sub-attribute of an address.
func setEmailPart(e *scimstate.Email, sub string, raw json.RawMessage, i int) *Error {
	switch sub {
	case "value":
		if raw == nil {
			e.Value = ""
			return nil
		}
		return setString(&e.Value, raw, i, "emails.value")
	case "type":
		if raw == nil {
			e.Type = ""
			return nil
		}
		return setString(&e.Type, raw, i, "emails.type")
	case "primary":
		if raw == nil {
			e.Primary = false
			return nil
		}
		var b flexBool
		if err := json.Unmarshal(raw, &b); err != nil {
			return badRequest(typeInvalidValue, "Operations[%d]: emails.primary must be true or false", i)
		}
		e.Primary = bool(b)
	case "display":
	default:
		return badRequest(typeInvalidPath, "Operations[%d]: an e-mail address has no part %q; use value, type or primary", i, sub)
	}
	return nil
}

// emailFromFilter makes the address a filter describes by its eq comparisons joined with and;
// ok is false when it has none.
func emailFromFilter(f filter) (scimstate.Email, bool) {
	var e scimstate.Email
	ok := false
	var walk func(f filter) bool
	walk = func(f filter) bool {
		switch f := f.(type) {
		case andFilter:
			return walk(f.left) && walk(f.right)
		case compare:
			if f.op != "eq" || f.path.sub != "" || f.path.elems != nil {
				return false
			}
			switch v := f.value.(type) {
			case string:
				switch f.path.attr {
				case "type":
					e.Type, ok = v, true
				case "value":
					e.Value, ok = v, true
				default:
					return false
				}
			case bool:
				if f.path.attr != "primary" {
					return false
				}
				e.Primary, ok = v, true
			default:
				return false
			}
			return true
		}
		return false
	}
	if f == nil || !walk(f) {
		return scimstate.Email{}, false
	}
	return e, ok
}

// decodeEmails reads a list of addresses, or one.
func decodeEmails(raw json.RawMessage, i int) ([]scimstate.Email, *Error) {
	var list []scimstate.Email
	if err := json.Unmarshal(raw, &list); err != nil {
		var one scimstate.Email
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, badRequest(typeInvalidValue, "Operations[%d]: emails must be a list of {\"value\": \"…\"}", i)
		}
		list = []scimstate.Email{one}
	}
	return list, nil
}
