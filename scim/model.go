package scim

// Schema URNs (RFC 7643 §8.7, RFC 7644 §3.14).
const (
	SchemaUser            = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup           = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaListResponse    = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	SchemaPatchOp         = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError           = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaServiceProvider = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	SchemaResourceType    = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	SchemaSchema          = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

const (
	mediaType         = "application/scim+json"
	resourceTypeUser  = "User"
	resourceTypeGroup = "Group"
	// maxNestedGroupDepth is Authentik's own limit for its group tree.
	maxNestedGroupDepth = 20
	defaultListCount    = 100
	maxListCount        = 1000
	// maxPatchOperations is also what ServiceProviderConfig advertises as bulk.maxOperations,
	// which Authentik takes as the number of operations to put in one PATCH.
	maxPatchOperations  = 1000
	defaultMaxBodyBytes = 8 << 20
	// maxStringLength bounds every string a client writes, in bytes: a userName, a displayName,
	// an externalId, a name part, an e-mail, a member's value, a PATCH path. Longer is refused
	// with 400 invalidValue.
	maxStringLength = 1024
	// maxEmails bounds a user's e-mail addresses.
	maxEmails = 100
	// maxGroupMembers bounds one group's direct members. A write that would leave a group with
	// more is refused with 413: one room's membership is kept in step with it, and a homeserver
	// room of this size is already far past what one room serves well.
	maxGroupMembers = 100_000
)
