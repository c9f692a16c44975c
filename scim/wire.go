package scim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"authentik-matrix-sync/scimstate"
)

// What Authentik's SCIM provider sends (clients/users.py, groups.py; tests/test_user.py,
// test_group.py, test_membership.py):
//   - POST /Users: {"schemas":[core User], "userName", "name":{"formatted","givenName",
//     "familyName"}, "displayName", "emails":[{"value","type":"other","primary":true}],
//     "active", "externalId": the user's uid}, plus "photos", "locale" and extension schemas a
//     custom property mapping may add (ignored here). It needs "id" in the answer and sends it
//     back as members' "value".
//   - PUT /Users/{id}: the same with "id"; DELETE /Users/{id} when a user is deleted or leaves
//     the provider's scope.
//   - POST /Groups: {"schemas":[core Group] (absent before 2024), "displayName", "externalId":
//     the group's pk}, with "members":[{"value"}] only when PATCH is not supported; then one
//     PATCH with one {"op":"add","path":"members","value":[{"value":id}]} per member.
//   - After a 409 on create it lists with a filter and adopts the first of "Resources".
// Attribute names are case-insensitive (RFC 7643 §2.1), which encoding/json's matching is too.

// wireUser is a user as a client writes it.
type wireUser struct {
	Schemas     []string          `json:"schemas"`
	ID          *string           `json:"id"`
	ExternalID  *string           `json:"externalId"`
	UserName    *string           `json:"userName"`
	DisplayName *string           `json:"displayName"`
	Name        *scimstate.Name   `json:"name"`
	Emails      []scimstate.Email `json:"emails"`
	Active      *flexBool         `json:"active"`
}

// wireGroup is a group as a client writes it.
type wireGroup struct {
	Schemas     []string     `json:"schemas"`
	ID          *string      `json:"id"`
	ExternalID  *string      `json:"externalId"`
	DisplayName *string      `json:"displayName"`
	Members     []wireMember `json:"members"`
}

// wireMember is one entry of "members". Authentik sends {"value": id}; in its Webex
// compatibility mode {"value": id, "type": "user"}.
type wireMember struct {
	Value   *string `json:"value"`
	Type    string  `json:"type,omitempty"`
	Display string  `json:"display,omitempty"`
	Ref     string  `json:"$ref,omitempty"`
}

// flexBool is a boolean that some clients (Entra ID) send as the string "True" or "False".
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.ToLower(string(bytes.Trim(data, `"`))) {
	case "true":
		*b = true
	case "false":
		*b = false
	default:
		return &json.UnmarshalTypeError{Value: string(data), Type: reflect.TypeFor[bool]()}
	}
	return nil
}

// decodeStrict decodes one JSON value and refuses trailing data.
func decodeStrict(body []byte, v any) *Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return badRequest(typeInvalidValue, "attribute %q has the wrong type: %s", typeErr.Field, typeErr.Value)
		}
		return badRequest(typeInvalidSyntax, "the body is not valid JSON: %v", err)
	}
	if dec.More() {
		return badRequest(typeInvalidSyntax, "the body holds more than one JSON value")
	}
	return nil
}

// checkSchemas refuses a resource whose schemas list, when given, lacks the resource's core
// schema: a Group sent to /Users, or a schema this receiver does not know at all. Extension
// schemas next to the core one are accepted and their attributes ignored, because Authentik's
// custom property mappings add them (tests/test_user.py, the Slack profile extension). Absent
// schemas are accepted: Authentik sent none for groups before 2024.
func checkSchemas(schemas []string, present bool, core string) *Error {
	if !present {
		return nil
	}
	if !slices.ContainsFunc(schemas, func(s string) bool { return strings.EqualFold(s, core) }) {
		return badRequest(typeInvalidSyntax, "schemas %q does not include %s", schemas, core)
	}
	return nil
}

// hasKey reports whether the top-level JSON object in body has the key, case-insensitively.
func hasKey(body []byte, key string) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return false
	}
	for k := range obj {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// parseUser reads a POST or PUT /Users body into a user without id or times.
func parseUser(body []byte) (scimstate.User, *Error) {
	var w wireUser
	if e := decodeStrict(body, &w); e != nil {
		return scimstate.User{}, e
	}
	if w.Schemas == nil && hasKey(body, "schemas") {
		return scimstate.User{}, badRequest(typeInvalidSyntax, "schemas is empty; send [%q]", SchemaUser)
	}
	if e := checkSchemas(w.Schemas, w.Schemas != nil, SchemaUser); e != nil {
		return scimstate.User{}, e
	}
	u := scimstate.User{Active: true}
	if w.UserName != nil {
		u.UserName = strings.TrimSpace(*w.UserName)
	}
	if w.ExternalID != nil {
		u.ExternalID = *w.ExternalID
	}
	if w.DisplayName != nil {
		u.DisplayName = *w.DisplayName
	}
	if w.Name != nil {
		u.Name = *w.Name
	}
	if w.Active != nil {
		u.Active = bool(*w.Active)
	}
	u.Emails = w.Emails
	if e := validUser(u); e != nil {
		return scimstate.User{}, e
	}
	return u, nil
}

func validUser(u scimstate.User) *Error {
	if u.UserName == "" {
		return badRequest(typeInvalidValue, "userName is required")
	}
	if len(u.Emails) > maxEmails {
		return badRequest(typeInvalidValue, "emails has %d addresses; at most %d are accepted", len(u.Emails), maxEmails)
	}
	for i, e := range u.Emails {
		if strings.TrimSpace(e.Value) == "" {
			return badRequest(typeInvalidValue, "emails[%d] has no value", i)
		}
	}
	fields := []struct{ name, value string }{
		{"userName", u.UserName}, {"externalId", u.ExternalID}, {"displayName", u.DisplayName},
		{"name.formatted", u.Name.Formatted}, {"name.givenName", u.Name.GivenName}, {"name.familyName", u.Name.FamilyName},
	}
	for i, e := range u.Emails {
		fields = append(fields, struct{ name, value string }{fmt.Sprintf("emails[%d].value", i), e.Value},
			struct{ name, value string }{fmt.Sprintf("emails[%d].type", i), e.Type})
	}
	for _, f := range fields {
		if e := checkLength(f.name, f.value); e != nil {
			return e
		}
	}
	return nil
}

// validGroup checks what a group write leaves: the lengths of its strings and its number of
// members (413 past maxGroupMembers, so that the client sends fewer, not the same again).
func validGroup(g scimstate.Group) *Error {
	if e := checkLength("displayName", g.DisplayName); e != nil {
		return e
	}
	if e := checkLength("externalId", g.ExternalID); e != nil {
		return e
	}
	if len(g.Members) > maxGroupMembers {
		return &Error{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidValue,
			Detail: fmt.Sprintf("the group would have %d members; at most %d are accepted", len(g.Members), maxGroupMembers)}
	}
	return nil
}

// checkLength refuses a string longer than maxStringLength bytes.
func checkLength(name, value string) *Error {
	if len(value) > maxStringLength {
		return badRequest(typeInvalidValue, "%s is %d bytes long; at most %d are accepted", name, len(value), maxStringLength)
	}
	return nil
}

// parseGroup reads a POST or PUT /Groups body; members is nil when the body has none.
func parseGroup(body []byte) (scimstate.Group, []string, *Error) {
	var w wireGroup
	if e := decodeStrict(body, &w); e != nil {
		return scimstate.Group{}, nil, e
	}
	if w.Schemas == nil && hasKey(body, "schemas") {
		return scimstate.Group{}, nil, badRequest(typeInvalidSyntax, "schemas is empty; send [%q]", SchemaGroup)
	}
	if e := checkSchemas(w.Schemas, w.Schemas != nil, SchemaGroup); e != nil {
		return scimstate.Group{}, nil, e
	}
	var g scimstate.Group
	if w.DisplayName != nil {
		g.DisplayName = strings.TrimSpace(*w.DisplayName)
	}
	if w.ExternalID != nil {
		g.ExternalID = *w.ExternalID
	}
	if g.DisplayName == "" {
		return scimstate.Group{}, nil, badRequest(typeInvalidValue, "displayName is required")
	}
	members, e := memberValues(w.Members)
	if e != nil {
		return scimstate.Group{}, nil, e
	}
	return g, members, nil
}

// memberValues checks members and returns their values, without duplicates. A member's type
// is not needed: whether a value is a user or a group is looked up by its id, so a missing or
// unknown type ("user" in Authentik's Webex mode, "direct" or nothing from other clients) is
// fine. A member given by its "$ref" alone is taken by the id the reference ends in.
func memberValues(ms []wireMember) ([]string, *Error) {
	out := make([]string, 0, len(ms))
	seen := make(map[string]bool, len(ms))
	for i, m := range ms {
		v := ""
		switch {
		case m.Value != nil:
			v = strings.TrimSpace(*m.Value)
		case m.Ref != "":
			v = m.Ref[strings.LastIndexByte(m.Ref, '/')+1:]
		}
		if v == "" {
			return nil, badRequest(typeInvalidValue, "members[%d] has no value: send {\"value\": \"<SCIM id of a user>\"}", i)
		}
		if e := checkLength(fmt.Sprintf("members[%d].value", i), v); e != nil {
			return nil, e
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// meta is a resource's meta attribute.
type meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created"`
	LastModified string `json:"lastModified"`
	Location     string `json:"location"`
}

func metaOf(kind, id string, created, modified time.Time) meta {
	return meta{ResourceType: kind, Created: created.UTC().Format(time.RFC3339), LastModified: modified.UTC().Format(time.RFC3339),
		Location: basePath + "/" + kind + "s/" + id}
}

// userResource is a user as the receiver answers it.
type userResource struct {
	Schemas     []string          `json:"schemas"`
	ID          string            `json:"id"`
	ExternalID  string            `json:"externalId,omitempty"`
	UserName    string            `json:"userName"`
	DisplayName string            `json:"displayName,omitempty"`
	Name        *scimstate.Name   `json:"name,omitempty"`
	Emails      []scimstate.Email `json:"emails,omitempty"`
	Active      bool              `json:"active"`
	Meta        meta              `json:"meta"`
}

func toUserResource(u scimstate.User) userResource {
	r := userResource{Schemas: []string{SchemaUser}, ID: u.ID, ExternalID: u.ExternalID, UserName: u.UserName,
		DisplayName: u.DisplayName, Emails: u.Emails, Active: u.Active, Meta: metaOf(resourceTypeUser, u.ID, u.Created, u.Modified)}
	if u.Name != (scimstate.Name{}) {
		n := u.Name
		r.Name = &n
	}
	return r
}

// groupResource is a group as the receiver answers it. Members is always present, empty or
// not: Authentik compares a group's members after reading it and adds none when the key is
// missing (clients/groups.py, patch_compare_users).
type groupResource struct {
	Schemas     []string     `json:"schemas"`
	ID          string       `json:"id"`
	ExternalID  string       `json:"externalId,omitempty"`
	DisplayName string       `json:"displayName"`
	Members     *[]memberOut `json:"members,omitempty"`
	Meta        meta         `json:"meta"`
}

type memberOut struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
}

func toGroupResource(g scimstate.Group, s *scimstate.Snapshot, withMembers bool) groupResource {
	r := groupResource{Schemas: []string{SchemaGroup}, ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName,
		Meta: metaOf(resourceTypeGroup, g.ID, g.Created, g.Modified)}
	if withMembers {
		ms := make([]memberOut, 0, len(g.Members))
		for _, v := range g.Members {
			ms = append(ms, describeMember(v, s))
		}
		r.Members = &ms
	}
	return r
}

// listResponse is the answer to a GET of a collection (RFC 7644 §3.4.2).
type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int      `json:"startIndex"`
	Resources    []any    `json:"Resources"`
}

// sameID refuses a PUT body whose id differs from the one in the path: id is read-only.
func sameID(body []byte, id string) *Error {
	var w struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(body, &w) == nil && w.ID != nil && *w.ID != id {
		return badRequest(typeMutability, "the body's id %q differs from %q in the path; id cannot be changed", *w.ID, id)
	}
	return nil
}
