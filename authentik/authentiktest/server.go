package authentiktest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"
)

// AdminUsername is the user the constructor's token belongs to, as Authentik's bootstrap token
// belongs to akadmin: core/users/me/ answers with the directory's user of that name, or with a
// stand-in that no listing shows when the directory has none.
const AdminUsername = "akadmin"

// UnprivilegedUsername is the user of a token from AddUnprivilegedToken until SetTokenUser
// names another.
const UnprivilegedUsername = "unprivileged"

// tokenHolder is who a token authenticates as.
type tokenHolder struct {
	username   string
	privileged bool // may read and change users and groups; otherwise only users/me and admin/version
}

// Server is the fake. Its methods may be called while requests are being served.
type Server struct {
	ts *httptest.Server

	mu              sync.Mutex
	tokens          map[string]tokenHolder
	users           map[int]*User
	userPKByName    map[string]int
	groups          map[string]*Group // by PK
	groupByName     map[string]string // name → PK
	memberOf        map[int][]string  // user PK → PKs of the groups holding it directly
	superuserGroups int               // how many groups have is_superuser
	lastUserPK      int
	lastGroupPK     int
	version         release
	pageSize        int
	maxPageSize     int
	answered        uint64 // numbers X-Authentik-Id
	faults          []*faultState
	requests        []string
	control         *http.ServeMux
	cost            CostModel     // see SetCostModel
	modelledCPU     time.Duration // see ModelledCPU
}

// New starts a fake listening on a local port; Close it when done. token is a superuser's
// (AdminUsername's) API token.
func New(token string) *Server {
	s := NewHandler(token)
	s.ts = httptest.NewServer(s)
	return s
}

// NewHandler makes a fake that does not listen; serve it with any http.Server.
func NewHandler(token string) *Server {
	s := &Server{
		tokens:       map[string]tokenHolder{token: {username: AdminUsername, privileged: true}},
		users:        make(map[int]*User),
		userPKByName: make(map[string]int),
		groups:       make(map[string]*Group),
		groupByName:  make(map[string]string),
		memberOf:     make(map[int][]string),
	}
	mustDo(s.setVersion(DefaultVersion))
	s.control = s.controlMux()
	return s
}

// AddUnprivilegedToken makes token a valid token of a user without permissions: Authentik
// lets it read core/users/me/ and admin/version/, and answers every listing, retrieval and
// change of users and groups with 403 "You do not have permission to perform this action."
// Its user is UnprivilegedUsername, a stand-in no listing shows, unless SetTokenUser names another.
func (s *Server) AddUnprivilegedToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = tokenHolder{username: UnprivilegedUsername}
}

// SetTokenUser makes core/users/me/ answer for a known token (the constructor's, or one from
// AddUnprivilegedToken) with the directory's user named username, or with a stand-in of that
// name while the directory has none. It changes nothing about what the token may do.
func (s *Server) SetTokenUser(token, username string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.tokens[token]
	if !ok {
		panic("authentiktest: SetTokenUser: unknown token; add it with AddUnprivilegedToken first")
	}
	h.username = username
	s.tokens[token] = h
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

// SetPageSizes changes the default and maximum page size (20 and 100, as Authentik 2025.12+).
// A maximum of 0 means no maximum, as older releases. SetVersion sets both to its release's,
// so call this after it.
func (s *Server) SetPageSizes(defaultSize, maxSize int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pageSize, s.maxPageSize = defaultSize, maxSize
}
