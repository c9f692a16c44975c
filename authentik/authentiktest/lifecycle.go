package authentiktest

import (
	"fmt"
	"maps"
	"slices"
)

// Changes to users that the account lifecycle and profile sync react to. Like the other
// directory methods they panic on a mistake in the test.

// SetName changes a user's display name (Authentik's "name").
func (s *Server) SetName(username, name string) {
	mustDo(s.changeUser(username, func(u *User) { u.Name = name }))
}

// SetAttributes replaces a user's attributes.
func (s *Server) SetAttributes(username string, attrs map[string]any) {
	mustDo(s.changeUser(username, func(u *User) { u.Attributes = maps.Clone(attrs) }))
}

// DeleteUser removes a user and their group memberships, as deleting them in Authentik does.
func (s *Server) DeleteUser(username string) { mustDo(s.deleteUser(username)) }

func (s *Server) changeUser(username string, change func(*User)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(username)
	if u == nil {
		return fmt.Errorf("user %q %w", username, errNotExist)
	}
	change(u)
	return nil
}

func (s *Server) deleteUser(username string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(username)
	if u == nil {
		return fmt.Errorf("user %q %w", username, errNotExist)
	}
	for _, gpk := range slices.Clone(s.memberOf[u.PK]) {
		if g, ok := s.groups[gpk]; ok {
			s.removeMembersByPK(g, []int{u.PK})
		}
	}
	delete(s.memberOf, u.PK)
	delete(s.users, u.PK)
	delete(s.userPKByName, username)
	return nil
}
