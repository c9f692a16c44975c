package authentiktest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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
	PK      string   `json:"pk"` // a UUID
	NumPK   int      `json:"num_pk"`
	Name    string   `json:"name"`
	Parents []string `json:"parents"` // parent PKs
	Members []int    `json:"users"`   // direct members' user PKs, ascending
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

// Page sizes of Authentik 2025.12 and later.
const (
	defaultPageSize = 20
	maxPageSize     = 100
)

// Server is the fake. Its methods may be called while requests are being served.
type Server struct {
	token string
	ts    *httptest.Server

	mu          sync.Mutex
	users       map[int]*User
	groups      map[string]*Group // by PK
	groupByName map[string]string // name → PK
	lastUserPK  int
	lastGroupPK int
	legacy      bool
	pageSize    int
	maxPageSize int
	faults      []*faultState
	requests    []string
	control     *http.ServeMux
}

// New starts a fake listening on a local port; Close it when done.
func New(token string) *Server {
	s := NewHandler(token)
	s.ts = httptest.NewServer(s)
	return s
}

// NewHandler makes a fake that does not listen; serve it with any http.Server.
func NewHandler(token string) *Server {
	s := &Server{
		token:       token,
		users:       make(map[int]*User),
		groups:      make(map[string]*Group),
		groupByName: make(map[string]string),
		pageSize:    defaultPageSize,
		maxPageSize: maxPageSize,
	}
	s.control = s.controlMux()
	return s
}

// URL is the base URL of a fake started with New ("" for NewHandler).
func (s *Server) URL() string {
	if s.ts == nil {
		return ""
	}
	return s.ts.URL
}

// Close stops a fake started with New.
func (s *Server) Close() {
	if s.ts != nil {
		s.ts.Close()
	}
}

// ServeHTTP answers the API under /api/v3/ and the control API under /_fake/.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.control.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
	s.mu.Unlock()
	s.serveWithFaults(w, r)
}

// Requests lists "METHOD /path?query" for every API request served so far (control requests
// are not counted).
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ClearRequests forgets the requests served so far.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// SetLegacyShape switches groups to the shape before 2025.12: one "parent" and "parent_name"
// instead of "parents" and "children" (a group with several parents shows its first).
func (s *Server) SetLegacyShape(legacy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacy = legacy
}

// SetPageSizes changes the default and maximum page size (20 and 100, as Authentik 2025.12+).
// A maximum of 0 means no maximum, as older releases.
func (s *Server) SetPageSizes(defaultSize, maxSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize, s.maxPageSize = defaultSize, maxSize
}

// The methods below panic on a mistake in the test (unknown name, duplicate), so that the
// test fails where it went wrong; the control API reports the same mistakes as 4xx answers.

// AddUser adds an active user named username and returns it.
func (s *Server) AddUser(username string, opts ...UserOption) User {
	return must(s.addUser(username, opts...))
}

// AddGroup adds a group below parent ("" for a top-level group) and returns it.
func (s *Server) AddGroup(name, parent string) Group { return must(s.addGroup(name, parent)) }

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
	for _, u := range s.users {
		if u.Username == username {
			return u
		}
	}
	return nil
}

func (s *Server) addUser(username string, opts ...UserOption) (User, error) {
	if username == "" {
		return User{}, fmt.Errorf("empty username")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByName(username) != nil {
		return User{}, fmt.Errorf("user %q already exists", username)
	}
	s.lastUserPK++
	pk := s.lastUserPK
	u := &User{PK: pk, Username: username, Name: username, IsActive: true, Attributes: map[string]any{},
		UID: hexHash("user", fmt.Sprint(pk)), UUID: uuidFrom("user-uuid", fmt.Sprint(pk))}
	for _, o := range opts {
		o(u)
	}
	if u.Attributes == nil {
		u.Attributes = map[string]any{}
	}
	s.users[pk] = u
	return cloneUser(u), nil
}

func (s *Server) addGroup(name, parent string) (Group, error) {
	if name == "" {
		return Group{}, fmt.Errorf("empty group name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.groupByName[name]; ok {
		return Group{}, fmt.Errorf("group %q already exists", name)
	}
	var parents []string
	if parent != "" {
		ppk, ok := s.groupByName[parent]
		if !ok {
			return Group{}, fmt.Errorf("parent group %q of %q %w", parent, name, errNotExist)
		}
		parents = []string{ppk}
	}
	s.lastGroupPK++
	g := &Group{PK: uuidFrom("group", fmt.Sprint(s.lastGroupPK), name), NumPK: s.lastGroupPK, Name: name, Parents: parents}
	s.groups[g.PK] = g
	s.groupByName[name] = g.PK
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
	for _, pk := range addPKs {
		if !slices.Contains(g.Members, pk) {
			g.Members = append(g.Members, pk)
		}
	}
	g.Members = slices.DeleteFunc(g.Members, func(pk int) bool { return slices.Contains(removePKs, pk) })
	slices.Sort(g.Members)
	return nil
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
	u.Username = newName
	return nil
}

func (s *Server) deleteGroup(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pk, ok := s.groupByName[name]
	if !ok {
		return fmt.Errorf("group %q %w", name, errNotExist)
	}
	delete(s.groups, pk)
	delete(s.groupByName, name)
	for _, g := range s.groups {
		g.Parents = slices.DeleteFunc(g.Parents, func(p string) bool { return p == pk })
	}
	return nil
}
