package scim

import (
	"net/http"
	"strings"
)

// The discovery endpoints (RFC 7644 §4). Authentik reads ServiceProviderConfig before it writes
// (clients/base.py) and acts on three of its answers: patch.supported makes it change group
// members with PATCH instead of replacing the group with PUT; filter.supported lets it look a
// resource up after a 409 on create; bulk.maxOperations is how many PATCH operations it puts in
// one request (clients/groups.py, _patch_chunked), although SCIM means it for /Bulk.

type supported struct {
	Supported bool `json:"supported"`
}

type bulkConfig struct {
	Supported      bool  `json:"supported"`
	MaxOperations  int   `json:"maxOperations"`
	MaxPayloadSize int64 `json:"maxPayloadSize"`
}

type filterConfig struct {
	Supported  bool `json:"supported"`
	MaxResults int  `json:"maxResults"`
}

type authScheme struct {
	Type        string `json:"type"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

type discoveryMeta struct {
	ResourceType string `json:"resourceType"`
	Location     string `json:"location"`
}

type providerConfig struct {
	Schemas               []string      `json:"schemas"`
	Patch                 supported     `json:"patch"`
	Bulk                  bulkConfig    `json:"bulk"`
	Filter                filterConfig  `json:"filter"`
	ChangePassword        supported     `json:"changePassword"`
	Sort                  supported     `json:"sort"`
	ETag                  supported     `json:"etag"`
	AuthenticationSchemes []authScheme  `json:"authenticationSchemes"`
	Meta                  discoveryMeta `json:"meta"`
}

func serviceProviderConfig(maxBody int64) providerConfig {
	return providerConfig{
		Schemas: []string{SchemaServiceProvider},
		Patch:   supported{true},
		// No /Bulk endpoint; maxOperations bounds Authentik's PATCH requests (see above).
		Bulk:           bulkConfig{Supported: false, MaxOperations: maxPatchOperations, MaxPayloadSize: maxBody},
		Filter:         filterConfig{Supported: true, MaxResults: maxListCount},
		ChangePassword: supported{false},
		Sort:           supported{false},
		ETag:           supported{false},
		AuthenticationSchemes: []authScheme{{Type: "oauthbearertoken", Name: "OAuth Bearer Token",
			Description: "Authorization: Bearer <scim.token>", Primary: true}},
		Meta: discoveryMeta{ResourceType: "ServiceProviderConfig", Location: basePath + "/ServiceProviderConfig"},
	}
}

type resourceType struct {
	Schemas     []string      `json:"schemas"`
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Endpoint    string        `json:"endpoint"`
	Description string        `json:"description"`
	Schema      string        `json:"schema"`
	Meta        discoveryMeta `json:"meta"`
}

var resourceTypes = []resourceType{
	{Schemas: []string{SchemaResourceType}, ID: resourceTypeUser, Name: resourceTypeUser, Endpoint: "/Users",
		Description: "User Account", Schema: SchemaUser,
		Meta: discoveryMeta{ResourceType: "ResourceType", Location: basePath + "/ResourceTypes/User"}},
	{Schemas: []string{SchemaResourceType}, ID: resourceTypeGroup, Name: resourceTypeGroup, Endpoint: "/Groups",
		Description: "Group", Schema: SchemaGroup,
		Meta: discoveryMeta{ResourceType: "ResourceType", Location: basePath + "/ResourceTypes/Group"}},
}

func (h *Handler) resourceTypes(q *request, id string) {
	answerDiscovery(q, resourceTypes, id, func(t resourceType) string { return t.ID },
		notFound("no resource type %q; there are User and Group", id))
}

// attribute describes one attribute in /Schemas (RFC 7643 §7).
type attribute struct {
	Name          string      `json:"name"`
	Type          string      `json:"type"`
	MultiValued   bool        `json:"multiValued"`
	Description   string      `json:"description"`
	Required      bool        `json:"required"`
	CaseExact     bool        `json:"caseExact"`
	Mutability    string      `json:"mutability"`
	Returned      string      `json:"returned"`
	Uniqueness    string      `json:"uniqueness"`
	SubAttributes []attribute `json:"subAttributes,omitempty"`
}

type schemaDoc struct {
	Schemas     []string      `json:"schemas"`
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Description string        `json:"description"`
	Attributes  []attribute   `json:"attributes"`
	Meta        discoveryMeta `json:"meta"`
}

func str(name, desc string) attribute {
	return attribute{Name: name, Type: "string", Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none"}
}

// The attributes the receiver keeps; others are accepted and ignored.
var schemaDocs = []schemaDoc{
	{Schemas: []string{SchemaSchema}, ID: SchemaUser, Name: resourceTypeUser, Description: "User Account",
		Meta: discoveryMeta{ResourceType: "Schema", Location: basePath + "/Schemas/" + SchemaUser},
		Attributes: []attribute{
			func() attribute {
				a := str("userName", "Authentik's username; mapped to the Matrix ID like directory.source: authentik's")
				a.Required, a.Uniqueness = true, "server"
				return a
			}(),
			str("externalId", "Authentik's uid"),
			str("displayName", "the user's name"),
			{Name: "name", Type: "complex", Description: "the user's name in parts", Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				SubAttributes: []attribute{str("formatted", ""), str("givenName", ""), str("familyName", "")}},
			{Name: "emails", Type: "complex", MultiValued: true, Description: "e-mail addresses; the primary one fills {email_localpart}",
				Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				SubAttributes: []attribute{str("value", ""), str("type", ""), {Name: "primary", Type: "boolean", Mutability: "readWrite", Returned: "default", Uniqueness: "none"}}},
			{Name: "active", Type: "boolean", Description: "an inactive user is in no group's effective members", Mutability: "readWrite", Returned: "default", Uniqueness: "none"},
		}},
	{Schemas: []string{SchemaSchema}, ID: SchemaGroup, Name: resourceTypeGroup, Description: "Group",
		Meta: discoveryMeta{ResourceType: "Schema", Location: basePath + "/Schemas/" + SchemaGroup},
		Attributes: []attribute{
			func() attribute {
				a := str("displayName", "Authentik's group name, as sync.mappings[].group names it")
				a.Required, a.Uniqueness = true, "server"
				return a
			}(),
			str("externalId", "Authentik's group pk"),
			{Name: "members", Type: "complex", MultiValued: true, Description: "users and groups in the group, by SCIM id",
				Mutability: "readWrite", Returned: "default", Uniqueness: "none",
				SubAttributes: []attribute{
					{Name: "value", Type: "string", Description: "the member's SCIM id", Mutability: "immutable", Returned: "default", Uniqueness: "none"},
					{Name: "type", Type: "string", Description: "User or Group", Mutability: "immutable", Returned: "default", Uniqueness: "none"},
				}},
		}},
}

func (h *Handler) schemas(q *request, id string) {
	answerDiscovery(q, schemaDocs, id, func(s schemaDoc) string { return s.ID }, notFound("no schema %q", id))
}

// answerDiscovery answers a GET of a discovery collection (all of docs, in one page) or, with an
// id, of the one document of docs with that id, case-insensitively; missing when there is none.
func answerDiscovery[T any](q *request, docs []T, id string, idOf func(T) string, missing *Error) {
	if id == "" {
		list := make([]any, 0, len(docs))
		for _, d := range docs {
			list = append(list, d)
		}
		q.answer(http.StatusOK, listPage{startIndex: 1}.response(len(list), list))
		return
	}
	for _, d := range docs {
		if strings.EqualFold(idOf(d), id) {
			q.answer(http.StatusOK, d)
			return
		}
	}
	q.fail(missing)
}
