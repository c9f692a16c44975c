package authentiktest

import (
	"fmt"
	"slices"
)

// Synthetic describes a generated directory for load tests and benchmarks: Users active users,
// Groups top-level groups, and MembersPerGroup direct members in each group. Group g holds the
// MembersPerGroup users from index g×(Users/Groups) on (wrapping around), so every user is in
// about Groups×MembersPerGroup/Users groups and neighbouring groups overlap.
type Synthetic struct {
	Users           int
	Groups          int
	MembersPerGroup int
}

// SyntheticUser is the username of user i (counted from 0) of a synthetic directory.
func SyntheticUser(i int) string { return fmt.Sprintf("user%06d", i) }

// SyntheticGroup is the name of group g (counted from 0) of a synthetic directory.
func SyntheticGroup(g int) string { return fmt.Sprintf("group%04d", g) }

// Members returns the indexes of group g's members, ascending.
func (s Synthetic) Members(g int) []int {
	stride := max(1, s.Users/max(1, s.Groups))
	out := make([]int, 0, s.MembersPerGroup)
	for k := range s.MembersPerGroup {
		out = append(out, (g*stride+k)%s.Users)
	}
	slices.Sort(out)
	return out
}

func (s Synthetic) check() error {
	switch {
	case s.Users < 1 || s.Groups < 0:
		return fmt.Errorf("synthetic directory: %d users and %d groups: want at least one user", s.Users, s.Groups)
	case s.MembersPerGroup < 0 || s.MembersPerGroup > s.Users:
		return fmt.Errorf("synthetic directory: %d members per group is not within 0…%d users", s.MembersPerGroup, s.Users)
	}
	return nil
}

// LoadSynthetic adds a synthetic directory, in one go under one lock rather than through
// AddUser and AddMembers, and checks every name is free before it adds anything.
func (s *Server) LoadSynthetic(spec Synthetic) error {
	if err := spec.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range spec.Users {
		if s.userByName(SyntheticUser(i)) != nil {
			return fmt.Errorf("synthetic directory: user %q already exists", SyntheticUser(i))
		}
	}
	for g := range spec.Groups {
		if _, ok := s.groupByName[SyntheticGroup(g)]; ok {
			return fmt.Errorf("synthetic directory: group %q already exists", SyntheticGroup(g))
		}
	}
	pks := make([]int, spec.Users)
	for i := range spec.Users {
		name := SyntheticUser(i)
		u, err := s.newUser(name, WithEmail(name+"@example.org"))
		if err != nil {
			return fmt.Errorf("synthetic directory: %w", err)
		}
		s.storeUser(u)
		pks[i] = u.PK
	}
	for g := range spec.Groups {
		grp, err := s.newGroup(SyntheticGroup(g), nil)
		if err != nil {
			return fmt.Errorf("synthetic directory: %w", err)
		}
		for _, i := range spec.Members(g) {
			grp.Members = append(grp.Members, pks[i])
		}
		slices.Sort(grp.Members)
		grp.Members = slices.Compact(grp.Members)
		s.storeGroup(grp)
	}
	return nil
}
