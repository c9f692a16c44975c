package authentiktest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// User is a user as the fake holds it.
type User struct {
	PK         int            `json:"pk"`
	Username   string         `json:"username"`
	Name       string         `json:"name"`
	Email      string         `json:"email"`
	UID        string         `json:"uid"` // hex hash, as Authentik's default OIDC subject
	UUID       string         `json:"uuid"`
	IsActive   bool           `json:"is_active"`
	Attributes map[string]any `json:"attributes"`
}

// Group is a group as the fake holds it.
type Group struct {
	PK          string         `json:"pk"` // a UUID
	NumPK       int            `json:"num_pk"`
	Name        string         `json:"name"`
	IsSuperuser bool           `json:"is_superuser"` // its members, and members of its subgroups, are superusers
	Attributes  map[string]any `json:"attributes"`
	Parents     []string       `json:"parents"` // parent PKs, in the order set; old shapes show the first
	Members     []int          `json:"users"`   // direct members' user PKs, ascending
}

// UserOption changes a user being added.
type UserOption func(*User)

// WithActive sets is_active (users are active by default).
func WithActive(active bool) UserOption { return func(u *User) { u.IsActive = active } }

// WithAttributes sets the user's attributes, e.g. {"matrix_id": "@a:example.org"}.
func WithAttributes(attrs map[string]any) UserOption {
	return func(u *User) { u.Attributes = maps.Clone(attrs) }
}

// WithEmail sets the user's e-mail address.
func WithEmail(email string) UserOption { return func(u *User) { u.Email = email } }

// WithName sets the display name (the username by default).
func WithName(name string) UserOption { return func(u *User) { u.Name = name } }

// WithPK gives the user a chosen pk instead of the next free one, to rebuild a recorded
// directory; later users are numbered after the highest pk in use.
func WithPK(pk int) UserOption { return func(u *User) { u.PK = pk } }

// WithUID sets the user's uid (a hash of the pk by default).
func WithUID(uid string) UserOption { return func(u *User) { u.UID = uid } }

// WithUUID sets the user's uuid (derived from the pk by default).
func WithUUID(uuid string) UserOption { return func(u *User) { u.UUID = uuid } }

// GroupOption changes a group being added.
type GroupOption func(*Group)

// WithGroupAttributes sets the group's attributes (empty by default).
func WithGroupAttributes(attrs map[string]any) GroupOption {
	return func(g *Group) { g.Attributes = maps.Clone(attrs) }
}

// WithGroupSuperuser sets is_superuser, which makes the group's members superusers, as
// Authentik's "authentik Admins".
func WithGroupSuperuser(superuser bool) GroupOption {
	return func(g *Group) { g.IsSuperuser = superuser }
}

// WithGroupPK gives the group a chosen UUID pk instead of a derived one.
func WithGroupPK(pk string) GroupOption { return func(g *Group) { g.PK = pk } }

// WithGroupNumPK gives the group a chosen num_pk instead of the next number.
func WithGroupNumPK(numPK int) GroupOption { return func(g *Group) { g.NumPK = numPK } }

// The methods below panic on a mistake in the test (unknown name, duplicate), so that the
// test fails where it went wrong; the control API reports the same mistakes as 4xx answers.

// AddUser adds an active user named username and returns it.
func (s *Server) AddUser(username string, opts ...UserOption) User {
	return must(s.addUser(username, opts...))
}

// AddGroup adds a group below parent ("" for a top-level group) and returns it.
func (s *Server) AddGroup(name, parent string, opts ...GroupOption) Group {
	return must(s.addGroup(name, parent, opts...))
}

// SetParents replaces a group's parents (names); it can build any graph, loops included.
func (s *Server) SetParents(name string, parents ...string) { mustDo(s.setParents(name, parents)) }

// AddMembers makes users direct members of a group.
func (s *Server) AddMembers(group string, usernames ...string) {
	mustDo(s.changeMembers(group, usernames, nil))
}

// RemoveMembers removes users from the direct members of a group.
func (s *Server) RemoveMembers(group string, usernames ...string) {
	mustDo(s.changeMembers(group, nil, usernames))
}

// SetActive sets a user's is_active.
func (s *Server) SetActive(username string, active bool) { mustDo(s.setActive(username, active)) }

// RenameUser changes a username; PK, UID and memberships stay.
func (s *Server) RenameUser(oldName, newName string) { mustDo(s.renameUser(oldName, newName)) }

// DeleteGroup removes a group; its subgroups lose it as a parent.
func (s *Server) DeleteGroup(name string) { mustDo(s.deleteGroup(name)) }

// User looks a user up by username.
func (s *Server) User(username string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(username)
	if u == nil {
		return User{}, false
	}
	return cloneUser(u), true
}

// Group looks a group up by name.
func (s *Server) Group(name string) (Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[s.groupByName[name]]
	if !ok {
		return Group{}, false
	}
	return cloneGroup(g), true
}

// errNotExist marks a name the directory does not hold; the control API answers it with 404.
var errNotExist = errors.New("does not exist")

// errTaken marks a name or key already in use; the API answers it with Authentik's 400.
var errTaken = errors.New("already exists")

func must[T any](v T, err error) T {
	if err != nil {
		panic("authentiktest: " + err.Error())
	}
	return v
}

func mustDo(err error) {
	if err != nil {
		panic("authentiktest: " + err.Error())
	}
}

func cloneUser(u *User) User {
	c := *u
	c.Attributes = maps.Clone(u.Attributes)
	return c
}

func cloneGroup(g *Group) Group {
	c := *g
	c.Attributes = maps.Clone(g.Attributes)
	c.Parents = slices.Clone(g.Parents)
	c.Members = slices.Clone(g.Members)
	return c
}

// hexHash gives stable identifiers, so a failing test shows the same IDs on every run.
func hexHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

func uuidFrom(parts ...string) string {
	h := []byte(hexHash(parts...)[:32])
	h[12] = '4' // version 4 layout, as Authentik's uuid4 keys
	h[16] = "89ab"[h[16]%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func (s *Server) userByName(username string) *User {
	pk, ok := s.userPKByName[username]
	if !ok {
		return nil
	}
	return s.users[pk]
}

// newUser fills in the defaults of a user; the caller holds the lock and stores it.
func (s *Server) newUser(username string, opts ...UserOption) (*User, error) {
	if username == "" {
		return nil, errors.New("empty username")
	}
	if s.userByName(username) != nil {
		return nil, fmt.Errorf("user %q %w", username, errTaken)
	}
	u := &User{Username: username, Name: username, IsActive: true}
	for _, o := range opts {
		o(u)
	}
	switch {
	case u.PK < 0:
		return nil, fmt.Errorf("user %q: pk %d is negative", username, u.PK)
	case u.PK == 0:
		u.PK = s.lastUserPK + 1
	case s.users[u.PK] != nil:
		return nil, fmt.Errorf("user %q: pk %d is taken by %q", username, u.PK, s.users[u.PK].Username)
	}
	if u.UID == "" {
		u.UID = hexHash("user", fmt.Sprint(u.PK))
	}
	if u.UUID == "" {
		u.UUID = uuidFrom("user-uuid", fmt.Sprint(u.PK))
	}
	if u.Attributes == nil {
		u.Attributes = map[string]any{}
	}
	return u, nil
}

func (s *Server) storeUser(u *User) {
	s.users[u.PK] = u
	s.userPKByName[u.Username] = u.PK
	s.lastUserPK = max(s.lastUserPK, u.PK)
}

func (s *Server) addUser(username string, opts ...UserOption) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.newUser(username, opts...)
	if err != nil {
		return User{}, err
	}
	s.storeUser(u)
	return cloneUser(u), nil
}

// newGroup fills in the defaults of a group; the caller holds the lock and stores it.
func (s *Server) newGroup(name string, parents []string, opts ...GroupOption) (*Group, error) {
	if name == "" {
		return nil, errors.New("empty group name")
	}
	if _, ok := s.groupByName[name]; ok {
		return nil, fmt.Errorf("group %q %w", name, errTaken)
	}
	g := &Group{Name: name, Parents: parents}
	for _, o := range opts {
		o(g)
	}
	if g.NumPK == 0 {
		g.NumPK = s.lastGroupPK + 1
	}
	if g.PK == "" {
		g.PK = uuidFrom("group", fmt.Sprint(g.NumPK), name)
	}
	if other, ok := s.groups[g.PK]; ok {
		return nil, fmt.Errorf("group %q: pk %s is taken by %q", name, g.PK, other.Name)
	}
	if g.Attributes == nil {
		g.Attributes = map[string]any{}
	}
	return g, nil
}

func (s *Server) storeGroup(g *Group) {
	s.groups[g.PK] = g
	s.groupByName[g.Name] = g.PK
	s.lastGroupPK = max(s.lastGroupPK, g.NumPK)
	if g.IsSuperuser {
		s.superuserGroups++
	}
	for _, pk := range g.Members {
		s.memberOf[pk] = append(s.memberOf[pk], g.PK)
	}
}

func (s *Server) addGroup(name, parent string, opts ...GroupOption) (Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parents []string
	if parent != "" {
		ppk, ok := s.groupByName[parent]
		if !ok {
			return Group{}, fmt.Errorf("parent group %q of %q %w", parent, name, errNotExist)
		}
		parents = []string{ppk}
	}
	g, err := s.newGroup(name, parents, opts...)
	if err != nil {
		return Group{}, err
	}
	s.storeGroup(g)
	return cloneGroup(g), nil
}

func (s *Server) setParents(name string, parents []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[s.groupByName[name]]
	if !ok {
		return fmt.Errorf("group %q %w", name, errNotExist)
	}
	pks := make([]string, 0, len(parents))
	for _, p := range parents {
		ppk, ok := s.groupByName[p]
		if !ok {
			return fmt.Errorf("parent group %q of %q %w", p, name, errNotExist)
		}
		pks = append(pks, ppk)
	}
	g.Parents = pks
	return nil
}

func (s *Server) changeMembers(group string, add, remove []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[s.groupByName[group]]
	if !ok {
		return fmt.Errorf("group %q %w", group, errNotExist)
	}
	resolve := func(names []string) ([]int, error) {
		pks := make([]int, 0, len(names))
		for _, n := range names {
			u := s.userByName(n)
			if u == nil {
				return nil, fmt.Errorf("user %q %w", n, errNotExist)
			}
			pks = append(pks, u.PK)
		}
		return pks, nil
	}
	addPKs, err := resolve(add)
	if err != nil {
		return err
	}
	removePKs, err := resolve(remove)
	if err != nil {
		return err
	}
	s.addMembersByPK(g, addPKs)
	s.removeMembersByPK(g, removePKs)
	return nil
}

// addMembersByPK and removeMembersByPK keep Members sorted and memberOf, the index that spares
// rendering a user a walk over every group, in step.
func (s *Server) addMembersByPK(g *Group, pks []int) {
	for _, pk := range pks {
		if i, found := slices.BinarySearch(g.Members, pk); !found {
			g.Members = slices.Insert(g.Members, i, pk)
			s.memberOf[pk] = append(s.memberOf[pk], g.PK)
		}
	}
}

func (s *Server) removeMembersByPK(g *Group, pks []int) {
	for _, pk := range pks {
		if i, found := slices.BinarySearch(g.Members, pk); found {
			g.Members = slices.Delete(g.Members, i, i+1)
			s.memberOf[pk] = slices.DeleteFunc(s.memberOf[pk], func(gpk string) bool { return gpk == g.PK })
		}
	}
}

func (s *Server) setActive(username string, active bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(username)
	if u == nil {
		return fmt.Errorf("user %q %w", username, errNotExist)
	}
	u.IsActive = active
	return nil
}

func (s *Server) renameUser(oldName, newName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userByName(oldName)
	if u == nil {
		return fmt.Errorf("user %q %w", oldName, errNotExist)
	}
	if newName == "" || (newName != oldName && s.userByName(newName) != nil) {
		return fmt.Errorf("cannot rename %q to %q: name empty or taken", oldName, newName)
	}
	delete(s.userPKByName, oldName)
	u.Username = newName
	s.userPKByName[newName] = u.PK
	return nil
}

func (s *Server) deleteGroup(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pk, ok := s.groupByName[name]
	if !ok {
		return fmt.Errorf("group %q %w", name, errNotExist)
	}
	s.removeMembersByPK(s.groups[pk], slices.Clone(s.groups[pk].Members))
	if s.groups[pk].IsSuperuser {
		s.superuserGroups--
	}
	delete(s.groups, pk)
	delete(s.groupByName, name)
	for _, g := range s.groups {
		g.Parents = slices.DeleteFunc(g.Parents, func(p string) bool { return p == pk })
	}
	return nil
}

// groupsOf lists the groups that hold a user directly, by name.
func (s *Server) groupsOf(userPK int) []*Group {
	pks := s.memberOf[userPK]
	out := make([]*Group, 0, len(pks))
	for _, pk := range pks {
		if g, ok := s.groups[pk]; ok {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *Group) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// isSuperuser tells whether a user is in a superuser group or below one, as Authentik's
// User.is_superuser looks through the groups a user inherits.
func (s *Server) isSuperuser(userPK int) bool {
	if s.superuserGroups == 0 {
		return false // the usual case, and a 50,000-user listing renders it for everyone
	}
	seen := map[string]bool{}
	todo := slices.Clone(s.memberOf[userPK])
	for len(todo) > 0 {
		pk := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		g, ok := s.groups[pk]
		if !ok || seen[pk] {
			continue
		}
		if g.IsSuperuser {
			return true
		}
		seen[pk] = true
		todo = append(todo, g.Parents...)
	}
	return false
}

func (s *Server) sortedGroups() []*Group {
	gs := slices.Collect(maps.Values(s.groups))
	slices.SortFunc(gs, func(a, b *Group) int { return strings.Compare(a.Name, b.Name) })
	return gs
}

func (s *Server) sortedUsers() []*User {
	us := slices.Collect(maps.Values(s.users))
	slices.SortFunc(us, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return us
}
