// Package directory is the identity directory's model: users, groups and the effective
// membership of a group, as the sync needs them, whoever supplies them. Authentik's API (package
// authentik, read by the bot) and Authentik's SCIM provider (package scim, pushed to the bot) are
// two sources of it; a later LDAP or Keycloak source would be a third. A source implements the
// interface its reader declares, usermap.Source: the effective members of named groups, as
// Memberships. This package imports no other package of the project and does no I/O.
package directory

import "errors"

// User is the part of a directory user that the sync needs.
type User struct {
	// PK is the directory's own number for the user: Authentik's pk; for pushed SCIM users, the
	// position of their SCIM id in the state the listing came from.
	PK       int
	Username string
	Name     string
	Email    string
	// UID is Authentik's hashed subject, the usual OIDC "sub".
	UID        string
	IsActive   bool
	Attributes map[string]any
}

// Group is one directory group and where it sits in the tree.
type Group struct {
	PK   string // Authentik: a UUID
	Name string
	// Children holds the PKs of the direct subgroups.
	Children []string
}

// Membership is what a source knows of one group's effective members (its subgroups' members
// included). Err != nil means the membership is not known completely: callers must never read
// it as "these are all the members", and a source may still hold in Users the members it could
// read (they may be added, nobody may be removed on that account).
type Membership struct {
	Users []User
	// Via names, by user PK, the subgroup through which a user is an effective member, for the
	// users who are not direct members of the group itself: the nearest one, breadth first.
	// Nil when every user is a direct member (always for a group without subgroups), so the
	// common case costs nothing.
	Via map[int]string
	Err error
}

// ErrNotFound is a source's own answer that the object asked for does not exist (any more);
// errors.Is matches it. Only this answer counts as "deleted": a failed or timed-out lookup
// proves nothing.
var ErrNotFound = errors.New("the directory has no such object")

// IsNotFound reports whether err is a source's own answer that the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
