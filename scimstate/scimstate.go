// Package scimstate is the state the SCIM receiver keeps: the users and groups a SCIM client
// pushed, one snapshot of them at a version, and the change one request writes. The scim package
// serves and changes it over HTTP; the store package persists it. It does no I/O and imports no
// other package of the project, so persistence does not sit above the SCIM transport.
package scimstate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// User is one user as the SCIM client pushed it. The JSON tags are the stored form, not the
// wire form (see userResource).
type User struct {
	ID         string `json:"-"`
	UserName   string `json:"-"`
	ExternalID string `json:"-"`
	// Active is false for a user Authentik deactivated: such a user is in no group's effective
	// members, as with directory.source: authentik.
	Active      bool      `json:"-"`
	DisplayName string    `json:"displayName,omitempty"`
	Name        Name      `json:"name,omitzero"`
	Emails      []Email   `json:"emails,omitempty"`
	Created     time.Time `json:"-"`
	Modified    time.Time `json:"-"`
}

// Name is the complex name attribute (RFC 7643 §4.1.1), the parts Authentik fills.
type Name struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// Email is one of a user's e-mail addresses.
type Email struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// UnmarshalJSON reads an address, with primary as a boolean or as "True"/"False" (Entra ID).
func (e *Email) UnmarshalJSON(data []byte) error {
	var w struct {
		Value   string          `json:"value"`
		Type    string          `json:"type"`
		Primary json.RawMessage `json:"primary"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*e = Email{Value: w.Value, Type: w.Type}
	if len(w.Primary) == 0 || string(w.Primary) == "null" {
		return nil
	}
	switch strings.ToLower(string(bytes.Trim(w.Primary, `"`))) {
	case "true":
		e.Primary = true
	case "false":
	default:
		return &json.UnmarshalTypeError{Value: string(w.Primary), Type: reflect.TypeFor[bool](), Field: "primary"}
	}
	return nil
}

// PrimaryEmail is the address marked primary, else the first one.
func (u User) PrimaryEmail() string {
	for _, e := range u.Emails {
		if e.Primary {
			return e.Value
		}
	}
	if len(u.Emails) > 0 {
		return u.Emails[0].Value
	}
	return ""
}

// Group is one group as the SCIM client pushed it. Members are SCIM ids, sorted: of users, of
// groups (nested groups), or of nothing the client pushed, which makes the group incomplete.
type Group struct {
	ID          string
	DisplayName string
	ExternalID  string
	Members     []string
	Created     time.Time
	Modified    time.Time
}

// Snapshot is the whole received state at one version.
type Snapshot struct {
	// Version counts the writes; 0 is a store nothing was written to.
	Version int64
	Users   map[string]User
	Groups  map[string]Group
	// LastWrite is when the last write came; zero when none did.
	LastWrite time.Time
	// SettledAt is when the state was first quiet for the settle time after the initial sync;
	// zero until then.
	SettledAt time.Time
}

// Change is what one request writes. A store applies it in one transaction, all of it or
// nothing, and only when its version still is Base.
type Change struct {
	Base int64
	At   time.Time
	// Settled, when not zero, records that the state settled at that moment (an earlier record
	// is kept).
	Settled time.Time
	// PutUser creates or replaces a user.
	PutUser *User
	// DeleteUser deletes a user and every membership that names it.
	DeleteUser string
	// PutGroup creates or replaces a group's attributes; its Members are ignored here (see
	// AddMembers and RemoveMembers).
	PutGroup *Group
	// DeleteGroup deletes a group, its members, and every membership that names it.
	DeleteGroup string
	// MembersOf is the group AddMembers and RemoveMembers apply to.
	MembersOf     string
	AddMembers    []string
	RemoveMembers []string
}

// ErrStale is returned (wrapped) by Store.ApplySCIM when the store's version is no longer the
// change's Base: another process wrote in between, and the change must be computed again.
var ErrStale = errors.New("the SCIM state changed in the meantime")

// Store keeps the received state. Every method is one transaction.
type Store interface {
	// SCIMState reads the whole state in one consistent snapshot.
	SCIMState(ctx context.Context) (Snapshot, error)
	// SCIMVersion reads the state's version, which every write increments.
	SCIMVersion(ctx context.Context) (int64, error)
	// ApplySCIM writes c, increments the version and records c.At as the last write.
	ApplySCIM(ctx context.Context, c Change) error
}

// Apply makes the same change to a snapshot in memory that a store makes to its tables, and
// moves it to the next version.
func (s *Snapshot) Apply(c Change) {
	if c.PutUser != nil {
		s.Users[c.PutUser.ID] = *c.PutUser
	}
	if c.DeleteUser != "" {
		delete(s.Users, c.DeleteUser)
		s.dropMember(c.DeleteUser)
	}
	if c.PutGroup != nil {
		g := *c.PutGroup
		g.Members = s.Groups[g.ID].Members
		s.Groups[g.ID] = g
	}
	if c.MembersOf != "" {
		if g, ok := s.Groups[c.MembersOf]; ok {
			set := make(map[string]bool, len(g.Members)+len(c.AddMembers))
			for _, v := range g.Members {
				set[v] = true
			}
			for _, v := range c.RemoveMembers {
				delete(set, v)
			}
			for _, v := range c.AddMembers {
				set[v] = true
			}
			g.Members = slices.Sorted(maps.Keys(set))
			s.Groups[g.ID] = g
		}
	}
	if c.DeleteGroup != "" {
		delete(s.Groups, c.DeleteGroup)
		s.dropMember(c.DeleteGroup)
	}
	s.Version++
	s.LastWrite = c.At
	if s.SettledAt.IsZero() && !c.Settled.IsZero() {
		s.SettledAt = c.Settled
	}
}

// dropMember removes a deleted user or group from every group that lists it.
func (s *Snapshot) dropMember(value string) {
	for id, g := range s.Groups {
		if i, found := slices.BinarySearch(g.Members, value); found {
			g.Members = slices.Delete(slices.Clone(g.Members), i, i+1)
			s.Groups[id] = g
		}
	}
}

// Empty returns a snapshot with no users and no groups, at version 0.
func Empty() Snapshot {
	return Snapshot{Users: map[string]User{}, Groups: map[string]Group{}}
}
