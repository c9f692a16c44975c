package authentiktest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// LoadSynthetic adds a synthetic directory. It builds the directory in one go rather than
// through AddUser and AddMembers, whose name lookups would make 50,000 users take minutes.
func (s *Server) LoadSynthetic(spec Synthetic) error {
	if err := spec.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := make(map[string]bool, len(s.users))
	for _, u := range s.users {
		taken[u.Username] = true
	}
	pks := make([]int, spec.Users)
	for i := range spec.Users {
		name := SyntheticUser(i)
		if taken[name] {
			return fmt.Errorf("synthetic directory: user %q already exists", name)
		}
		s.lastUserPK++
		pk := s.lastUserPK
		s.users[pk] = &User{PK: pk, Username: name, Name: name, IsActive: true, Attributes: map[string]any{},
			Email: name + "@example.org", UID: hexHash("user", fmt.Sprint(pk)), UUID: uuidFrom("user-uuid", fmt.Sprint(pk))}
		pks[i] = pk
	}
	for g := range spec.Groups {
		name := SyntheticGroup(g)
		if _, ok := s.groupByName[name]; ok {
			return errors.New("synthetic directory: group " + name + " already exists")
		}
		s.lastGroupPK++
		grp := &Group{PK: uuidFrom("group", fmt.Sprint(s.lastGroupPK), name), NumPK: s.lastGroupPK, Name: name}
		for _, i := range spec.Members(g) {
			grp.Members = append(grp.Members, pks[i])
		}
		slices.Sort(grp.Members)
		grp.Members = slices.Compact(grp.Members)
		s.groups[grp.PK] = grp
		s.groupByName[name] = grp.PK
	}
	return nil
}

// candidates returns the users a listing must look at, sorted by username: the members of the
// filtered groups when the listing filters by group, else everyone. Sorting only the members
// keeps a member listing of a 50,000-user directory from sorting all of it for every page.
func (s *Server) candidates(byGroup bool, inGroups map[int]bool) []*User {
	if !byGroup {
		return s.sortedUsers()
	}
	us := make([]*User, 0, len(inGroups))
	for pk := range inGroups {
		if u, ok := s.users[pk]; ok {
			us = append(us, u)
		}
	}
	slices.SortFunc(us, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return us
}

// lazyUser renders a user when its page is written, under the server's lock like the rest of
// the answer: rendering every member of a large group for each of its pages made listings slow.
type lazyUser struct {
	s             *Server
	u             *User
	includeGroups bool
}

func (l lazyUser) MarshalJSON() ([]byte, error) {
	return json.Marshal(l.s.userJSON(l.u, l.includeGroups))
}
