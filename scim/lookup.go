package scim

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/scimstate"
)

// LookupUser returns the pushed user that the listings of this state number pk (SCIM carries no
// Authentik pk: EffectiveMembers and ListInactiveUsers number the users in the order of their
// SCIM ids), so that a deactivation pushed as active false is confirmed one user at a time, as
// with Authentik's API. The numbers move when users are pushed or deleted; the caller checks
// that the user found maps to the Matrix ID it asked about. It never answers "no such user": the
// SCIM state cannot tell a deleted user from one that left the provider's scope.
func (r *Resources) LookupUser(ctx context.Context, pk int) (directory.User, error) {
	var out directory.User
	found := false
	err := r.view(ctx, func(s *scimstate.Snapshot) {
		ids := slices.Sorted(maps.Keys(s.Users))
		if pk < 1 || pk > len(ids) {
			return
		}
		u := s.Users[ids[pk-1]]
		out = directory.User{PK: pk, Username: u.UserName, Name: nameOf(u), Email: u.PrimaryEmail(), UID: u.ExternalID, IsActive: u.Active}
		found = true
	})
	if err != nil {
		return directory.User{}, err
	}
	if !found {
		return directory.User{}, fmt.Errorf("no pushed SCIM user has number %d now (users were pushed or deleted since it was listed)", pk)
	}
	return out, nil
}
