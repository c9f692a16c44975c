package authentik_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/directory"
)

const token = "ak-test-token-7f3c9e1d5b"

// addMembers adds n users named prefix-000… to group.
func addMembers(s *authentiktest.Server, group, prefix string, n int) {
	for i := range n {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		s.AddUser(name)
		s.AddMembers(group, name)
	}
}

// tree builds staff > engineering > backend, plus admins.
func tree(s *authentiktest.Server) {
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		s.AddUser(u)
	}
	s.AddGroup("staff", "")
	s.AddGroup("engineering", "staff")
	s.AddGroup("backend", "engineering")
	s.AddGroup("admins", "")
	s.AddMembers("staff", "alice")
	s.AddMembers("engineering", "bob", "alice")
	s.AddMembers("backend", "carol")
	s.AddMembers("admins", "erin")
}

func countRequests(s *authentiktest.Server, prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func usernames(us []directory.User) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

// memberReads aims f at every read of members: the listing of groups with their members and
// the read of one group with its members alike.
func memberReads(f authentiktest.Fault) authentiktest.Fault {
	f.PathPrefix, f.QueryContains = "/api/v3/core/groups/", "include_users=true"
	return f
}

// groupRead aims f at the read of the named group with its members.
func groupRead(s *authentiktest.Server, name string, f authentiktest.Fault) authentiktest.Fault {
	g, _ := s.Group(name)
	f.PathPrefix = "/api/v3/core/groups/" + g.PK + "/"
	return f
}

// groupJSON is a group read with its members, for faults that answer in its place.
func groupJSON(s *authentiktest.Server, name, users, usersObj string) string {
	g, _ := s.Group(name)
	return fmt.Sprintf(`{"pk":%q,"name":%q,"users":%s,"users_obj":%s}`, g.PK, name, users, usersObj)
}

// The ways of reading members the cases run under when they name none.
var bothReads = []authentik.MemberRead{authentik.MemberReadGroupListing, authentik.MemberReadEachGroup}

var (
	listingOnly   = []authentik.MemberRead{authentik.MemberReadGroupListing}
	eachGroupOnly = []authentik.MemberRead{authentik.MemberReadEachGroup}
	userListing   = []authentik.MemberRead{authentik.MemberReadUserListing}
	autoOnly      = []authentik.MemberRead{authentik.MemberReadAuto}
)

func TestEffectiveMembers(t *testing.T) {
	tests := []struct {
		name  string
		reads []authentik.MemberRead // nil: bothReads
		setup func(s *authentiktest.Server)
		opts  authentik.Options
		token string                  // defaults to the right one
		base  func(url string) string // defaults to the fake's URL
		names []string
		// want holds the usernames for groups expected to resolve, wantErr a part of the error
		// for groups expected to be unknown.
		want    map[string][]string
		wantErr map[string]string
		check   func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership)
	}{
		{
			name:  "250 members of one group come whole in one answer",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("big", "")
				addMembers(s, "big", "user", 250)
			},
			names: []string{"big"},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				if n := len(got["big"].Users); n != 250 {
					t.Fatalf("got %d users, want 250", n)
				}
				want := []string{"GET /api/v3/core/groups/?include_users=false&page=1&page_size=100",
					"GET /api/v3/core/groups/" + mustGroup(t, s, "big").PK + "/?include_users=true"}
				if !slices.Equal(s.Requests(), want) {
					t.Fatalf("requests %v, want %v", s.Requests(), want)
				}
			},
		},
		{
			name:  "250 members of one group come on one page of the member listing",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("big", "")
				addMembers(s, "big", "user", 250)
			},
			names: []string{"big"},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				if n := len(got["big"].Users); n != 250 {
					t.Fatalf("got %d users, want 250", n)
				}
				want := []string{"GET /api/v3/core/groups/?include_users=false&page=1&page_size=100",
					"GET /api/v3/core/groups/?include_users=true&page=1&page_size=100"}
				if !slices.Equal(s.Requests(), want) {
					t.Fatalf("requests %v, want %v", s.Requests(), want)
				}
			},
		},
		{
			name:  "a page of the member listing holds at most 5000 members",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				if err := s.LoadSynthetic(authentiktest.Synthetic{Users: 3000, Groups: 12, MembersPerGroup: 1000}); err != nil {
					t.Fatal(err)
				}
			},
			names: []string{authentiktest.SyntheticGroup(0), authentiktest.SyntheticGroup(11)},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				for name, m := range got {
					if len(m.Users) != 1000 {
						t.Errorf("%s: %d members, want 1000", name, len(m.Users))
					}
				}
				// 12 groups of 1000: five a page, in three pages.
				if n := countRequests(s, "GET /api/v3/core/groups/?include_users=true"); n != 3 ||
					!slices.Contains(s.Requests(), "GET /api/v3/core/groups/?include_users=true&page=3&page_size=5") {
					t.Fatalf("member listing pages: %v", s.Requests())
				}
			},
		},
		{
			name: "many groups over several group pages",
			setup: func(s *authentiktest.Server) {
				for i := range 45 {
					s.AddGroup(fmt.Sprintf("team-%02d", i), "")
				}
				s.AddUser("zoe")
				s.AddMembers("team-44", "zoe")
			},
			opts:  authentik.Options{PageSize: 20},
			names: []string{"team-44"},
			want:  map[string][]string{"team-44": {"zoe"}},
			check: func(t *testing.T, s *authentiktest.Server, _ map[string]directory.Membership) {
				if n := countRequests(s, "GET /api/v3/core/groups/?include_users=false"); n != 3 {
					t.Fatalf("made %d group tree page requests, want 3", n)
				}
			},
		},
		{
			name:  "members of subgroups count, each user once (modern shape)",
			setup: tree,
			names: []string{"staff", "engineering", "backend", "admins"},
			want: map[string][]string{
				"staff": {"alice", "bob", "carol"}, "engineering": {"alice", "bob", "carol"},
				"backend": {"carol"}, "admins": {"erin"},
			},
		},
		{
			name:  "members of subgroups count (legacy parent shape)",
			setup: func(s *authentiktest.Server) { tree(s); s.SetLegacyShape(true) },
			names: []string{"staff", "engineering", "admins"},
			want:  map[string][]string{"staff": {"alice", "bob", "carol"}, "engineering": {"alice", "bob", "carol"}, "admins": {"erin"}},
		},
		{
			name: "a group with two parents feeds both",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.SetParents("backend", "engineering", "admins")
			},
			names: []string{"admins", "staff"},
			want:  map[string][]string{"admins": {"carol", "erin"}, "staff": {"alice", "bob", "carol"}},
		},
		{
			name: "a loop in the tree ends",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.SetParents("staff", "backend")
			},
			names: []string{"backend", "staff"},
			want:  map[string][]string{"backend": {"alice", "bob", "carol"}, "staff": {"alice", "bob", "carol"}},
		},
		{
			name: "inheritance stops 20 levels down, as in Authentik",
			setup: func(s *authentiktest.Server) {
				s.AddGroup("level-00", "")
				for i := 1; i <= 21; i++ {
					s.AddGroup(fmt.Sprintf("level-%02d", i), fmt.Sprintf("level-%02d", i-1))
				}
				s.AddUser("twenty")
				s.AddUser("twentyone")
				s.AddMembers("level-20", "twenty")
				s.AddMembers("level-21", "twentyone")
			},
			names: []string{"level-00", "level-01"},
			want:  map[string][]string{"level-00": {"twenty"}, "level-01": {"twenty", "twentyone"}},
		},
		{
			name:  "each group's members are read once per call",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.ClearRequests()
			},
			names: []string{"staff", "engineering", "backend", "staff"},
			want:  map[string][]string{"staff": {"alice", "bob", "carol"}, "engineering": {"alice", "bob", "carol"}, "backend": {"carol"}},
			check: func(t *testing.T, s *authentiktest.Server, _ map[string]directory.Membership) {
				if n := countRequests(s, "GET /api/v3/core/groups/?include_users=false"); n != 1 {
					t.Fatalf("read the group tree %d times, want once", n)
				}
				if n := len(s.Requests()); n != 4 {
					t.Fatalf("made %d requests for the tree and 3 groups: %v", n, s.Requests())
				}
			},
		},
		{
			name:  "the member listing is read once per call",
			reads: listingOnly,
			setup: tree,
			names: []string{"staff", "engineering", "backend", "admins"},
			want: map[string][]string{"staff": {"alice", "bob", "carol"}, "engineering": {"alice", "bob", "carol"},
				"backend": {"carol"}, "admins": {"erin"}},
			check: func(t *testing.T, s *authentiktest.Server, _ map[string]directory.Membership) {
				want := []string{"GET /api/v3/core/groups/?include_users=false&page=1&page_size=100",
					"GET /api/v3/core/groups/?include_users=true&page=1&page_size=100"}
				if !slices.Equal(s.Requests(), want) {
					t.Fatalf("requests %v, want %v", s.Requests(), want)
				}
			},
		},
		{
			name:  "a few groups of a larger directory are read one by one",
			reads: autoOnly,
			setup: func(s *authentiktest.Server) {
				if err := s.LoadSynthetic(authentiktest.Synthetic{Users: 300, Groups: 30, MembersPerGroup: 20}); err != nil {
					t.Fatal(err)
				}
			},
			names: []string{authentiktest.SyntheticGroup(3)},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				if len(got[authentiktest.SyntheticGroup(3)].Users) != 20 {
					t.Errorf("got %d members, want 20", len(got[authentiktest.SyntheticGroup(3)].Users))
				}
				want := []string{"GET /api/v3/core/groups/?include_users=false&page=1&page_size=100",
					"GET /api/v3/core/groups/" + mustGroup(t, s, authentiktest.SyntheticGroup(3)).PK + "/?include_users=true"}
				if !slices.Equal(s.Requests(), want) {
					t.Fatalf("requests %v, want %v", s.Requests(), want)
				}
			},
		},
		{
			name:  "most groups of a directory are read from the member listing",
			reads: autoOnly,
			setup: tree,
			names: []string{"staff", "admins"},
			want:  map[string][]string{"staff": {"alice", "bob", "carol"}, "admins": {"erin"}},
			check: func(t *testing.T, s *authentiktest.Server, _ map[string]directory.Membership) {
				want := []string{"GET /api/v3/core/groups/?include_users=false&page=1&page_size=100",
					"GET /api/v3/core/groups/?include_users=true&page=1&page_size=100"}
				if !slices.Equal(s.Requests(), want) {
					t.Fatalf("requests %v, want %v", s.Requests(), want)
				}
			},
		},
		{
			name: "inactive users are dropped",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.SetActive("bob", false)
				s.AddUser("ghost", authentiktest.WithActive(false))
				s.AddMembers("admins", "ghost")
			},
			names: []string{"staff", "admins"},
			want:  map[string][]string{"staff": {"alice", "carol"}, "admins": {"erin"}},
		},
		{
			name: "user fields come through",
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				s.AddUser("Bob.Smith@corp", authentiktest.WithEmail("bob@corp.example"), authentiktest.WithName("Bob Smith"),
					authentiktest.WithAttributes(map[string]any{"matrix_id": "@bob:example.org"}))
				s.AddMembers("g", "Bob.Smith@corp")
			},
			names: []string{"g"},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				fake, _ := s.User("Bob.Smith@corp")
				want := []directory.User{{PK: fake.PK, Username: "Bob.Smith@corp", Name: "Bob Smith", Email: "bob@corp.example",
					UID: fake.UID, IsActive: true, Attributes: map[string]any{"matrix_id": "@bob:example.org"}}}
				if fmt.Sprint(got["g"].Users) != fmt.Sprint(want) || len(fake.UID) != 64 {
					t.Fatalf("got %+v, want %+v", got["g"].Users, want)
				}
			},
		},
		{
			name:  "an empty group is known and empty",
			setup: func(s *authentiktest.Server) { s.AddGroup("nobody", "") },
			names: []string{"nobody"},
			want:  map[string][]string{"nobody": {}},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if got["nobody"].Users == nil {
					t.Fatal("empty group came back as nil users")
				}
			},
		},
		{
			name:    "a group that does not exist is unknown, the others are not",
			setup:   tree,
			names:   []string{"Staff", "admins"},
			want:    map[string][]string{"admins": {"erin"}},
			wantErr: map[string]string{"Staff": `authentik group "Staff" not found (check the name in the mapping; names are case-sensitive)`},
		},
		{
			name:    "a wrong token leaves every group unknown and says to check AUTHENTIK_TOKEN",
			setup:   tree,
			token:   "not-the-token",
			names:   []string{"staff", "admins"},
			wantErr: map[string]string{"staff": "HTTP 403: Token invalid/expired (check AUTHENTIK_TOKEN", "admins": "check AUTHENTIK_TOKEN"},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				var apiErr *authentik.APIError
				if !errors.As(got["staff"].Err, &apiErr) || apiErr.Status != 403 || apiErr.Path == "" || apiErr.Method != "GET" {
					t.Fatalf("want a 403 *APIError, got %#v", got["staff"].Err)
				}
				for name, m := range got {
					if !errors.Is(m.Err, authentik.ErrTokenRejected) || errors.Is(m.Err, authentik.ErrPermissionDenied) {
						t.Errorf("%s: want ErrTokenRejected (only), got %v", name, m.Err)
					}
				}
			},
		},
		{
			name: "a failing group listing leaves every group unknown",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", Status: 502, Body: "<html>Bad Gateway</html>"})
			},
			names:   []string{"staff", "admins"},
			wantErr: map[string]string{"staff": "list authentik groups: authentik GET /api/v3/core/groups/?include_users=false&page=1&page_size=100: HTTP 502: <html>Bad Gateway</html>", "admins": "HTTP 502"},
		},
		{
			name:  "a 500 on page 2 of the member listing leaves its groups and the later ones unknown, not smaller",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("big", "")
				addMembers(s, "big", "user", 250)
				s.AddGroup("small", "")
				addMembers(s, "small", "other", 2)
				s.InjectFault(memberReads(authentiktest.Fault{Page: 2, Status: 500}))
			},
			opts:  authentik.Options{PageSize: 1},
			names: []string{"big", "small"},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if n := len(got["big"].Users); got["big"].Err != nil || n != 250 {
					t.Errorf("big, read whole on page 1: %d members (err %v), want 250", n, got["big"].Err)
				}
			},
			wantErr: map[string]string{"small": "list authentik groups with their members: authentik GET /api/v3/core/groups/?include_users=true&page=2&page_size=1: HTTP 500: injected fault (Authentik or its proxy failed"},
		},
		{
			name:  "a failing group read makes that group unknown, not the others",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(groupRead(s, "admins", authentiktest.Fault{Status: 500}))
			},
			names:   []string{"admins", "backend"},
			want:    map[string][]string{"backend": {"carol"}},
			wantErr: map[string]string{"admins": `members of authentik group "admins" are unknown: read authentik group "admins" with its members: authentik GET /api/v3/core/groups/`},
		},
		{
			name:  "a failing subgroup makes its ancestors unknown, not the rest",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(groupRead(s, "backend", authentiktest.Fault{Status: 500}))
			},
			names: []string{"staff", "engineering", "backend", "admins"},
			want:  map[string][]string{"admins": {"erin"}},
			wantErr: map[string]string{
				"staff":       `members of authentik group "staff" are unknown because its subgroup "backend" could not be read: read authentik group "backend" with its members`,
				"engineering": `subgroup "backend" could not be read`,
				"backend":     `members of authentik group "backend" are unknown: read authentik group "backend" with its members`,
			},
			check: func(t *testing.T, s *authentiktest.Server, _ map[string]directory.Membership) {
				if n := countRequests(s, "GET /api/v3/core/groups/"+mustGroup(t, s, "backend").PK+"/"); n != 1 {
					t.Fatalf("asked for the failing group %d times, want once", n)
				}
			},
		},
		{
			name: "malformed JSON makes the group unknown",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Body: `{"pagination":{"next":0,}`}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": "invalid character '}'"},
		},
		{
			name: "a body cut short makes the group unknown",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Truncate: true}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": "unexpected EOF"},
		},
		{
			name:  "a member listing without results makes the groups unknown",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{
					Body: `{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1}}`}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": `no "results" list`},
		},
		{
			name:  "a group read without users_obj is unknown",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(groupRead(s, "admins", authentiktest.Fault{Body: groupJSON(s, "admins", "[5]", "null")}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": `authentik group "admins" came without users_obj, though include_users=true was asked for`},
		},
		{
			name:  "a group in the member listing without users_obj is unknown, the others are not",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.AddGroup("other", "")
				s.AddMembers("other", "dave")
				s.InjectFault(memberReads(authentiktest.Fault{Body: `{"pagination":{"next":0,"previous":0,"count":2,"current":1,"total_pages":1},"results":[` +
					groupJSON(s, "admins", "[5]", "null") + "," + groupJSON(s, "other", "[4]", `[{"pk":4,"username":"dave","is_active":true}]`) + `]}`}))
			},
			names:   []string{"admins", "other"},
			want:    map[string][]string{"other": {"dave"}},
			wantErr: map[string]string{"admins": `came without users_obj`},
		},
		{
			name: "users and users_obj that disagree are not trusted",
			setup: func(s *authentiktest.Server) {
				tree(s)
				body := groupJSON(s, "admins", "[1,2]", `[{"pk":1,"username":"a","is_active":true}]`)
				s.InjectFault(groupRead(s, "admins", authentiktest.Fault{Body: body}))
				s.InjectFault(memberReads(authentiktest.Fault{
					Body: `{"pagination":{"next":0,"previous":0,"count":1,"current":1,"total_pages":1},"results":[` + body + `]}`}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": `authentik group "admins" names 2 member pks in "users" but holds 1 other or more users in users_obj; the answer is inconsistent`},
		},
		{
			name:  "a member listing that changes between pages is refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Page: 2,
					Body: `{"pagination":{"next":3,"previous":1,"count":3,"current":2,"total_pages":3},"results":[]}`}))
			},
			opts:    authentik.Options{PageSize: 1},
			names:   []string{"admins", "staff"},
			want:    map[string][]string{"admins": {"erin"}}, // read whole on page 1
			wantErr: map[string]string{"staff": "changed while it was read (4 results, then 3)"},
		},
		{
			name:  "a page that is not the one asked for is refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Page: 2,
					Body: `{"pagination":{"next":2,"previous":0,"count":4,"current":1,"total_pages":4},"results":[]}`}))
			},
			opts:    authentik.Options{PageSize: 1},
			names:   []string{"admins", "staff"},
			want:    map[string][]string{"admins": {"erin"}}, // read whole on page 1
			wantErr: map[string]string{"staff": "asked for page 2, got page 1"},
		},
		{
			name:  "pages shorter than announced are refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Page: 4,
					Body: `{"pagination":{"next":0,"previous":3,"count":4,"current":4,"total_pages":4},"results":[]}`}))
			},
			opts:    authentik.Options{PageSize: 1},
			names:   []string{"admins", "staff"},
			want:    map[string][]string{"admins": {"erin"}}, // read whole on page 1
			wantErr: map[string]string{"staff": "returned 3 results across its pages but announced 4"},
		},
		{
			name:  "a next page pointing backwards is refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Page: 2,
					Body: `{"pagination":{"next":1,"previous":1,"count":4,"current":2,"total_pages":4},"results":[]}`}))
			},
			opts:    authentik.Options{PageSize: 1},
			names:   []string{"admins", "staff"},
			want:    map[string][]string{"admins": {"erin"}}, // read whole on page 1
			wantErr: map[string]string{"staff": "pagination.next 1 does not move past current page 2"},
		},
		{
			name:  "a listing claiming endless pages is refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				s.InjectFault(memberReads(authentiktest.Fault{
					Body: `{"pagination":{"next":2,"previous":0,"count":100000000,"current":1,"total_pages":100000001},"results":[]}`}))
			},
			names:   []string{"g"},
			wantErr: map[string]string{"g": "claims 100000001 pages, more than the limit of 100000"},
		},
		{
			name:  "a group listed twice in the member listing is refused",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				body := groupJSON(s, "g", "[]", "[]")
				s.InjectFault(memberReads(authentiktest.Fault{
					Body: `{"pagination":{"next":0,"previous":0,"count":2,"current":1,"total_pages":1},"results":[` + body + "," + body + `]}`}))
			},
			names:   []string{"g"},
			wantErr: map[string]string{"g": `group "g" (`},
		},
		{
			name:  "a group missing from the member listing is unknown",
			reads: listingOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{
					Body: `{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1},"results":[]}`}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": `authentik group "admins" (`},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if !strings.Contains(got["admins"].Err.Error(), "is not in the listing of groups with their members (groups changed while being read") {
					t.Errorf("error %v", got["admins"].Err)
				}
			},
		},
		{
			name:  "a group renamed before its read is unknown",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				g, _ := s.Group("admins")
				s.InjectFault(groupRead(s, "admins", authentiktest.Fault{
					Body: fmt.Sprintf(`{"pk":%q,"name":"root","users":[],"users_obj":[]}`, g.PK)}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": `is now named "root", not "admins" (renamed while it was read`},
		},
		{
			name:  "a group deleted before its read is unknown",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(authentiktest.GroupGone(mustGroup(t, s, "admins").PK))
			},
			names:   []string{"admins", "backend"},
			want:    map[string][]string{"backend": {"carol"}},
			wantErr: map[string]string{"admins": "HTTP 404: No Group matches the given query."},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if !errors.Is(got["admins"].Err, authentik.ErrNotFound) {
					t.Errorf("want ErrNotFound, got %v", got["admins"].Err)
				}
			},
		},
		{
			name:  "a user listed twice is refused",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				s.InjectFault(groupRead(s, "g", authentiktest.Fault{Body: groupJSON(s, "g", "[1,1]",
					`[{"pk":1,"username":"a","is_active":true},{"pk":1,"username":"a","is_active":true}]`)}))
			},
			names:   []string{"g"},
			wantErr: map[string]string{"g": `user "a" (pk 1) listed twice`},
		},
		{
			name:  "a user without is_active is refused",
			reads: eachGroupOnly,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				s.InjectFault(groupRead(s, "g", authentiktest.Fault{Body: groupJSON(s, "g", "[1]", `[{"pk":1,"username":"a"}]`)}))
			},
			names:   []string{"g"},
			wantErr: map[string]string{"g": "has no is_active field"},
		},
		{
			name: "an HTML page instead of JSON is explained",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", Body: "<html>sign in</html>",
					Header: map[string]string{"Content-Type": "text/html; charset=utf-8"}, Times: 2})
			},
			names:   []string{"staff"},
			wantErr: map[string]string{"staff": "the answer is text/html, not JSON"},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if !errors.Is(got["staff"].Err, authentik.ErrNotAuthentikAPI) {
					t.Errorf("want ErrNotAuthentikAPI, got %v", got["staff"].Err)
				}
			},
		},
		{
			name: "an HTML page instead of a member read is explained",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Body: "<html>sign in</html>",
					Header: map[string]string{"Content-Type": "text/html; charset=utf-8"}}))
			},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": "the answer is text/html, not JSON"},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				if !errors.Is(got["admins"].Err, authentik.ErrNotAuthentikAPI) {
					t.Errorf("want ErrNotAuthentikAPI, got %v", got["admins"].Err)
				}
			},
		},
		{
			name: "429 carries Retry-After",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", Status: 429,
					Body: `{"detail":"Request was throttled.","code":"throttled"}`, Header: map[string]string{"Retry-After": "42"}})
			},
			names:   []string{"staff"},
			wantErr: map[string]string{"staff": "HTTP 429: Request was throttled. (code throttled) (rate limited; retry after 42s)"},
			check: func(t *testing.T, _ *authentiktest.Server, got map[string]directory.Membership) {
				var apiErr *authentik.APIError
				if !errors.As(got["staff"].Err, &apiErr) || apiErr.RetryAfter != 42*time.Second {
					t.Fatalf("want an *APIError with RetryAfter 42s, got %#v", got["staff"].Err)
				}
			},
		},
		{
			name: "a slow member read times out",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(memberReads(authentiktest.Fault{Delay: 5 * time.Second}))
			},
			opts:    authentik.Options{Timeout: 100 * time.Millisecond},
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": "no complete answer within 100ms"},
		},
		{
			name: "a group listing over the size limit is refused",
			setup: func(s *authentiktest.Server) {
				for i := range 50 {
					s.AddGroup(fmt.Sprintf("team-%02d", i), "")
				}
			},
			opts:    authentik.Options{MaxBodyBytes: 4096},
			names:   []string{"team-01"},
			wantErr: map[string]string{"team-01": "answer is larger than 4096 bytes"},
		},
		{
			name: "a member read larger than its members allow is refused",
			setup: func(s *authentiktest.Server) {
				s.AddGroup("g", "")
				addMembers(s, "g", "user", 1)
				s.InjectFault(memberReads(authentiktest.Fault{Body: strings.Repeat(" ", 1024+4096+1)}))
			},
			opts:    authentik.Options{MaxBodyBytes: 1024},
			names:   []string{"g"},
			wantErr: map[string]string{"g": "answer is larger than 5120 bytes"},
		},
		{
			name: "a token echoed back by the server is cut out of the error",
			setup: func(s *authentiktest.Server) {
				tree(s)
				s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", Status: 400,
					Body: `{"detail":"bad header: Bearer ` + token + `"}`})
			},
			names:   []string{"staff"},
			wantErr: map[string]string{"staff": "bad header: Bearer [redacted]"},
		},
		{
			name:  "a base URL with a trailing slash works",
			setup: tree,
			base:  func(u string) string { return u + "/" },
			names: []string{"admins"},
			want:  map[string][]string{"admins": {"erin"}},
		},
		{
			name:    "a server that cannot be reached leaves groups unknown",
			setup:   tree,
			base:    func(string) string { return "http://127.0.0.1:1" },
			names:   []string{"admins"},
			wantErr: map[string]string{"admins": "check that AUTHENTIK_URL is right and Authentik is reachable"},
		},
		{
			name:  "the user listing reads 250 users over three pages of 100",
			reads: userListing,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("big", "")
				addMembers(s, "big", "user", 250)
			},
			names: []string{"big"},
			check: func(t *testing.T, s *authentiktest.Server, got map[string]directory.Membership) {
				if n := len(got["big"].Users); n != 250 {
					t.Fatalf("got %d users, want 250", n)
				}
				if n := countRequests(s, "GET /api/v3/core/users/?groups_by_pk="+mustGroup(t, s, "big").PK); n != 3 {
					t.Fatalf("made %d user page requests, want 3: %v", n, s.Requests())
				}
			},
		},
		{
			name:  "a 500 on page 2 of the user listing makes the group unknown, not smaller",
			reads: userListing,
			setup: func(s *authentiktest.Server) {
				s.AddGroup("big", "")
				addMembers(s, "big", "user", 250)
				s.AddGroup("small", "")
				addMembers(s, "small", "other", 2)
				s.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/users/", Page: 2, Status: 500})
			},
			names:   []string{"big", "small"},
			want:    map[string][]string{"small": {"other-000", "other-001"}},
			wantErr: map[string]string{"big": "page=2&page_size=100: HTTP 500: injected fault (Authentik or its proxy failed"},
		},
	}
	for _, tt := range tests {
		reads := tt.reads
		if reads == nil {
			reads = bothReads
		}
		for _, read := range reads {
			t.Run(tt.name+"/"+read.String(), func(t *testing.T) {
				s := authentiktest.New(token)
				t.Cleanup(s.Close)
				tt.setup(s)
				base, tok := s.URL(), token
				if tt.base != nil {
					base = tt.base(base)
				}
				if tt.token != "" {
					tok = tt.token
				}
				opts := tt.opts
				opts.MemberRead = read
				c, err := authentik.New(base, tok, opts)
				if err != nil {
					t.Fatal(err)
				}
				s.ClearRequests()
				got := c.EffectiveMembers(context.Background(), tt.names)
				checkEffective(t, s, tt.names, got, tt.want, tt.wantErr)
				if tt.check != nil {
					tt.check(t, s, got)
				}
			})
		}
	}
}

// checkEffective holds got to want and wantErr, and to what every answer must be: one entry per
// name, no users with an error, no token in an error, only GETs below /api/v3/ ending in a
// slash.
func checkEffective(t *testing.T, s *authentiktest.Server, names []string, got map[string]directory.Membership, want map[string][]string, wantErr map[string]string) {
	t.Helper()
	if len(got) != len(uniq(names)) {
		t.Errorf("got %d answers for %d distinct names", len(got), len(uniq(names)))
	}
	for name, m := range got {
		if m.Err != nil {
			if strings.Contains(m.Err.Error(), token) {
				t.Errorf("group %q: error shows the token: %v", name, m.Err)
			}
			if m.Users != nil {
				t.Errorf("group %q: unknown membership came with users %v", name, usernames(m.Users))
			}
		}
	}
	for name, want := range want {
		m := got[name]
		if m.Err != nil {
			t.Errorf("group %q: unexpected error: %v", name, m.Err)
			continue
		}
		if g := usernames(m.Users); !slices.Equal(g, want) {
			t.Errorf("group %q: members %v, want %v", name, g, want)
		}
	}
	for name, want := range wantErr {
		m := got[name]
		if m.Err == nil || !strings.Contains(m.Err.Error(), want) {
			t.Errorf("group %q: error %v, want it to contain %q", name, m.Err, want)
		}
		// Only a group Authentik does not have is a setup problem: a failed read is an outage.
		var setup interface{ SetupProblem() }
		if isSetup, notFound := errors.As(m.Err, &setup), strings.Contains(want, "not found (check the name"); isSetup != notFound {
			t.Errorf("group %q: error %v marked a setup problem: %v, want %v", name, m.Err, isSetup, notFound)
		}
	}
	for _, r := range s.Requests() {
		path, _, _ := strings.Cut(strings.TrimPrefix(r, "GET "), "?")
		if !strings.HasSuffix(path, "/") || !strings.HasPrefix(r, "GET /api/v3/") {
			t.Errorf("request %q is not a GET below /api/v3/ ending in a slash", r)
		}
	}
}

func uniq(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

func mustGroup(t *testing.T, s *authentiktest.Server, name string) authentiktest.Group {
	t.Helper()
	g, ok := s.Group(name)
	if !ok {
		t.Fatalf("fake has no group %q", name)
	}
	return g
}

func TestRequestsCarryTokenAndAskForJSON(t *testing.T) {
	type seen struct{ auth, accept, language, uri string }
	got := make(chan seen, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Header.Get("Authorization"), r.Header.Get("Accept"), r.Header.Get("Accept-Language"), r.URL.RequestURI()}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"pagination":{"next":0,"previous":0,"count":0,"current":1,"total_pages":1,"start_index":0,"end_index":0},"results":[]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := authentik.New(srv.URL+"/prefix/", token, authentik.Options{PageSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		call    func() error
		wantURI string
	}{
		{"groups", func() error { _, err := c.ListGroups(context.Background()); return err },
			"/prefix/api/v3/core/groups/?include_users=false&page=1&page_size=7"},
		{"users of a group", func() error { _, err := c.ListGroupUsers(context.Background(), "0b1c-uuid"); return err },
			"/prefix/api/v3/core/users/?groups_by_pk=0b1c-uuid&include_groups=false&page=1&page_size=7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			s := <-got
			want := seen{"Bearer " + token, "application/json", "en", tt.wantURI}
			if s != want {
				t.Fatalf("server saw %+v, want %+v", s, want)
			}
		})
	}
}

func TestListGroupsTree(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("legacy=%v", legacy), func(t *testing.T) {
			s := authentiktest.New(token)
			t.Cleanup(s.Close)
			tree(s)
			s.SetLegacyShape(legacy)
			c, err := authentik.New(s.URL(), token, authentik.Options{})
			if err != nil {
				t.Fatal(err)
			}
			groups, err := c.ListGroups(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]directory.Group{}
			var names []string
			for _, g := range groups {
				byName[g.Name] = g
				names = append(names, g.Name)
			}
			if want := []string{"admins", "backend", "engineering", "staff"}; !slices.Equal(names, want) {
				t.Fatalf("groups %v, want %v", names, want)
			}
			for parent, child := range map[string]string{"staff": "engineering", "engineering": "backend"} {
				if !slices.Equal(byName[parent].Children, []string{byName[child].PK}) {
					t.Errorf("%s children = %v, want [%s]", parent, byName[parent].Children, byName[child].PK)
				}
			}
			if len(byName["admins"].Children)+len(byName["backend"].Children) != 0 {
				t.Errorf("leaf groups have children: %+v %+v", byName["admins"], byName["backend"])
			}
		})
	}
}

func TestEachEffective(t *testing.T) {
	setup := func(s *authentiktest.Server) {
		tree(s)
		s.AddUser("zoe")
		s.AddUser("adam")
		s.AddGroup("solo", "")
		s.AddMembers("solo", "zoe", "adam", "dave")
	}
	names := []string{"backend", "staff", "solo", "staff", "nosuch", "engineering"}
	run := func(each bool) (map[string]directory.Membership, []string, *authentiktest.Server) {
		s := authentiktest.New(token)
		t.Cleanup(s.Close)
		setup(s)
		c, err := authentik.New(s.URL(), token, authentik.Options{MemberRead: authentik.MemberReadEachGroup})
		if err != nil {
			t.Fatal(err)
		}
		if !each {
			return c.EffectiveMembers(t.Context(), names), nil, s
		}
		got := map[string]directory.Membership{}
		var order []string
		c.EachEffective(t.Context(), names, func(name string, m directory.Membership) {
			order = append(order, name)
			got[name] = m
		})
		return got, order, s
	}
	got, order, s := run(true)
	want, _, _ := run(false)
	if w := []string{"backend", "staff", "solo", "nosuch", "engineering"}; !slices.Equal(order, w) {
		t.Errorf("names handed over in order %v, want %v (each once, in the order asked)", order, w)
	}
	for _, name := range uniq(names) {
		g, w := got[name], want[name]
		if !slices.Equal(usernames(g.Users), usernames(w.Users)) || (g.Err == nil) != (w.Err == nil) {
			t.Errorf("%s: EachEffective gave %v (err %v), EffectiveMembers %v (err %v)", name, usernames(g.Users), g.Err, usernames(w.Users), w.Err)
		}
	}
	if u := usernames(got["solo"].Users); !slices.Equal(u, []string{"adam", "dave", "zoe"}) {
		t.Errorf("solo: %v, want them by username", u)
	}
	// backend's members count for backend, staff and engineering: still read only once.
	if n := countRequests(s, "GET /api/v3/core/groups/"+mustGroup(t, s, "backend").PK+"/"); n != 1 {
		t.Errorf("backend's members read %d times, want once", n)
	}
}

// TestEachEffectiveFromTheListing: read from the listing of groups with their members, each name
// is handed over once, as soon as the page holding the last group of its tree is read (a name
// without a group at once), with the same members as EffectiveMembers gives.
func TestEachEffectiveFromTheListing(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	tree(s) // admins, backend, engineering, staff: one a page
	c, err := authentik.New(s.URL(), token, authentik.Options{PageSize: 1, MemberRead: authentik.MemberReadGroupListing})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"staff", "backend", "nosuch", "admins", "backend"}
	var order []string
	got := map[string]directory.Membership{}
	c.EachEffective(t.Context(), names, func(name string, m directory.Membership) {
		order = append(order, name)
		got[name] = m
	})
	// staff's tree ends on page 4 (staff itself), backend's on page 2, admins' on page 1.
	if want := []string{"nosuch", "admins", "backend", "staff"}; !slices.Equal(order, want) {
		t.Errorf("names handed over in order %v, want %v", order, want)
	}
	want := map[string][]string{"staff": {"alice", "bob", "carol"}, "backend": {"carol"}, "admins": {"erin"}}
	for name, w := range want {
		if m := got[name]; m.Err != nil || !slices.Equal(usernames(m.Users), w) {
			t.Errorf("%s: %v (err %v), want %v", name, usernames(m.Users), m.Err, w)
		}
	}
	if got["nosuch"].Err == nil {
		t.Error("nosuch: no error")
	}
}
