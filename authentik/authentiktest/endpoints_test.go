package authentiktest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"authentik-matrix-sync/authentik/authentiktest"
)

const weakToken = "token-of-a-user-without-permissions"

// TestTokens: the constructor's token may do everything; an unprivileged one may only say who
// it is and which release answers; anything else is refused as Authentik refuses it.
func TestTokens(t *testing.T) {
	s := newFake(t)
	s.AddUnprivilegedToken(weakToken)
	staff, _ := s.Group("staff")
	denied := `{"detail":"You do not have permission to perform this action."}`
	tests := []struct {
		name, method, path, tok, body string
		wantStatus                    int
		wantBody                      string // exact; "" to check only the status
	}{
		{name: "admin lists groups", path: "/api/v3/core/groups/", tok: token, wantStatus: 200},
		{name: "weak: users/me", path: "/api/v3/core/users/me/", tok: weakToken, wantStatus: 200},
		{name: "weak: version", path: "/api/v3/admin/version/", tok: weakToken, wantStatus: 200,
			wantBody: `{"version_current":"2025.12.4","version_latest":"2025.12.4","version_latest_valid":true,"build_hash":"","outdated":false,"outpost_outdated":false}`},
		{name: "weak: list groups", path: "/api/v3/core/groups/", tok: weakToken, wantStatus: 403, wantBody: denied},
		{name: "weak: list users", path: "/api/v3/core/users/?groups_by_pk=" + staff.PK, tok: weakToken, wantStatus: 403, wantBody: denied},
		{name: "weak: one group", path: "/api/v3/core/groups/" + staff.PK + "/", tok: weakToken, wantStatus: 403, wantBody: denied},
		{name: "weak: one user", path: "/api/v3/core/users/1/", tok: weakToken, wantStatus: 403, wantBody: denied},
		{name: "weak: create user", method: "POST", path: "/api/v3/core/users/", tok: weakToken,
			body: `{"username":"x","name":"x"}`, wantStatus: 403, wantBody: denied},
		{name: "weak: add_user", method: "POST", path: "/api/v3/core/groups/" + staff.PK + "/add_user/", tok: weakToken,
			body: `{"pk":2}`, wantStatus: 403, wantBody: denied},
		{name: "unknown token", path: "/api/v3/core/users/me/", tok: "nope", wantStatus: 403, wantBody: `{"detail":"Token invalid/expired"}`},
		{name: "no token on version", path: "/api/v3/admin/version/", wantStatus: 403,
			wantBody: `{"detail":"Authentication credentials were not provided."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := call(t, s, cmpOr(tt.method, http.MethodGet), tt.path, tt.tok, tt.body)
			if status != tt.wantStatus || tt.wantBody != "" && string(body) != tt.wantBody {
				t.Fatalf("%d %s, want %d %s", status, body, tt.wantStatus, tt.wantBody)
			}
			if ct := header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	if g := mustGroup(t, s, "staff"); len(g.Members) != 1 {
		t.Error("a refused add_user changed the group")
	}
}

func mustGroup(t *testing.T, s *authentiktest.Server, name string) authentiktest.Group {
	t.Helper()
	g, ok := s.Group(name)
	if !ok {
		t.Fatalf("no group %q", name)
	}
	return g
}

// TestUsersMe: the token's user, from the directory when it holds one, else a stand-in.
func TestUsersMe(t *testing.T) {
	type me struct {
		User struct {
			PK                int
			Username          string
			IsSuperuser       bool `json:"is_superuser"`
			Groups            []struct{ Name, PK string }
			SystemPermissions []string `json:"system_permissions"`
		}
	}
	read := func(t *testing.T, s *authentiktest.Server, tok string) me {
		t.Helper()
		status, _, body := call(t, s, http.MethodGet, "/api/v3/core/users/me/", tok, "")
		var m me
		if err := json.Unmarshal(body, &m); status != 200 || err != nil {
			t.Fatalf("users/me: %d %s", status, body)
		}
		return m
	}
	s := newFake(t)
	s.AddUnprivilegedToken(weakToken)
	if m := read(t, s, token); m.User.Username != authentiktest.AdminUsername || !m.User.IsSuperuser || m.User.PK != 0 ||
		len(m.User.SystemPermissions) == 0 {
		t.Errorf("admin stand-in = %+v", m.User)
	}
	if m := read(t, s, weakToken); m.User.Username != authentiktest.UnprivilegedUsername || m.User.IsSuperuser ||
		len(m.User.SystemPermissions) != 0 {
		t.Errorf("unprivileged stand-in = %+v", m.User)
	}
	s.SetTokenUser(weakToken, "alice")
	alice, _ := s.User("alice")
	if m := read(t, s, weakToken); m.User.Username != "alice" || m.User.PK != alice.PK || len(m.User.Groups) != 2 ||
		m.User.Groups[0].Name != "engineering" {
		t.Errorf("alice = %+v", m.User)
	}
	s.AddUser(authentiktest.AdminUsername)
	s.AddGroup("authentik Admins", "", authentiktest.WithGroupSuperuser(true))
	s.AddMembers("authentik Admins", authentiktest.AdminUsername)
	admin, _ := s.User(authentiktest.AdminUsername)
	if m := read(t, s, token); m.User.PK != admin.PK || !m.User.IsSuperuser {
		t.Errorf("akadmin from the directory = %+v", m.User)
	}
}

// TestSuperuserComesFromGroups: a user is a superuser through a superuser group it is in,
// directly or through a subgroup, as Authentik's User.is_superuser.
func TestSuperuserComesFromGroups(t *testing.T) {
	s := newFake(t) // alice in staff and engineering (below staff), bob in engineering
	s.AddUser("carol")
	s.AddGroup("root", "", authentiktest.WithGroupSuperuser(true))
	s.SetParents("staff", "root")
	want := map[string]bool{"alice": true, "bob": true, "carol": false}
	_, _, body := call(t, s, http.MethodGet, "/api/v3/core/users/", token, "")
	var p struct {
		Results []struct {
			Username    string
			IsSuperuser bool `json:"is_superuser"`
		}
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	for _, u := range p.Results {
		if u.IsSuperuser != want[u.Username] {
			t.Errorf("%s is_superuser = %v, want %v", u.Username, u.IsSuperuser, want[u.Username])
		}
	}
}

// TestGroupAndUserFilters covers the filters beyond those of TestFiltersAndErrors.
func TestGroupAndUserFilters(t *testing.T) {
	tests := []struct {
		name       string
		path       func(s *authentiktest.Server) string
		wantStatus int
		wantBody   string // exact, or the names listed, joined by commas
	}{
		{name: "members_by_username", path: fixed("/api/v3/core/groups/?members_by_username=bob"),
			wantStatus: 200, wantBody: "engineering"},
		{name: "members_by_username repeats as OR", path: fixed("/api/v3/core/groups/?members_by_username=bob&members_by_username=carol"),
			wantStatus: 200, wantBody: "admins,engineering"},
		{name: "members_by_username unknown", path: fixed("/api/v3/core/groups/?members_by_username=ghost"), wantStatus: 400,
			wantBody: `{"members_by_username":["Select a valid choice. ghost is not one of the available choices."]}`},
		{name: "members_by_pk", path: fixed("/api/v3/core/groups/?members_by_pk=3"), wantStatus: 200, wantBody: "admins"},
		{name: "members_by_pk repeats as OR", path: fixed("/api/v3/core/groups/?members_by_pk=3&members_by_pk=1"),
			wantStatus: 200, wantBody: "admins,engineering,staff"},
		{name: "members_by_pk not a number", path: fixed("/api/v3/core/groups/?members_by_pk=x"), wantStatus: 400,
			wantBody: `{"members_by_pk":["“x” is not a valid value."]}`},
		{name: "members_by_pk unknown", path: fixed("/api/v3/core/groups/?members_by_pk=99"), wantStatus: 400,
			wantBody: `{"members_by_pk":["Select a valid choice. 99 is not one of the available choices."]}`},
		{name: "both member filters must hold", path: fixed("/api/v3/core/groups/?members_by_username=alice&members_by_pk=2"),
			wantStatus: 200, wantBody: "engineering"},
		{name: "group search ignores case", path: fixed("/api/v3/core/groups/?search=STAF"), wantStatus: 200, wantBody: "staff"},
		{name: "group search finds a part", path: fixed("/api/v3/core/groups/?search=ng"), wantStatus: 200, wantBody: "engineering"},
		{name: "is_superuser", path: fixed("/api/v3/core/groups/?is_superuser=true"), wantStatus: 200, wantBody: ""},
		{name: "groups_by_name", path: fixed("/api/v3/core/users/?groups_by_name=engineering"), wantStatus: 200, wantBody: "alice,bob"},
		{name: "groups_by_name repeats as OR", path: fixed("/api/v3/core/users/?groups_by_name=staff&groups_by_name=admins"),
			wantStatus: 200, wantBody: "alice,carol"},
		{name: "groups_by_name unknown", path: fixed("/api/v3/core/users/?groups_by_name=nope"), wantStatus: 400,
			wantBody: `{"groups_by_name":["Select a valid choice. nope is not one of the available choices."]}`},
		{name: "groups_by_name and groups_by_pk must both hold", path: func(s *authentiktest.Server) string {
			return "/api/v3/core/users/?groups_by_name=engineering&groups_by_pk=" + mustGroup(t, s, "staff").PK
		}, wantStatus: 200, wantBody: "alice"},
		{name: "user search looks at the e-mail", path: fixed("/api/v3/core/users/?search=ALICE@EXAMPLE"), wantStatus: 200, wantBody: "alice"},
		{name: "user search looks at the username", path: fixed("/api/v3/core/users/?search=ro"), wantStatus: 200, wantBody: "carol"},
		{name: "one group without its users", path: func(s *authentiktest.Server) string {
			return "/api/v3/core/groups/" + mustGroup(t, s, "staff").PK + "/?include_users=false"
		}, wantStatus: 200, wantBody: "staff"},
		{name: "HEAD is a GET", path: fixed("/api/v3/core/users/"), wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.AddUser("carol")
			s.AddGroup("admins", "")
			s.AddMembers("admins", "carol")
			method := http.MethodGet
			if strings.HasPrefix(tt.name, "HEAD") {
				method = http.MethodHead
			}
			status, _, body := call(t, s, method, tt.path(s), token, "")
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			got := string(body)
			if method == http.MethodHead {
				if got != "" {
					t.Fatalf("HEAD answered a body: %.100s", got)
				}
				return
			}
			if status == 200 {
				got = listedNames(t, body)
			}
			if got != tt.wantBody {
				t.Fatalf("got %s, want %s", got, tt.wantBody)
			}
		})
	}
}

func fixed(path string) func(*authentiktest.Server) string {
	return func(*authentiktest.Server) string { return path }
}

// TestUnknownPathsGetTheHTMLPage: Django answers a path no route matches with its HTML 404
// page, before any token is looked at.
func TestUnknownPathsGetTheHTMLPage(t *testing.T) {
	s := newFake(t)
	for _, path := range []string{"/api/v3/core/nonexistent/", "/api/v3/", "/api/v3/core/groups/x/y/", "/api/v3/core/users/1/add_user/",
		"/api/v3/admin/versions/", "/somewhere/else"} {
		for _, tok := range []string{token, ""} {
			status, header, body := call(t, s, http.MethodGet, path, tok, "")
			if status != 404 || header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.HasPrefix(string(body), "<!DOCTYPE html>") {
				t.Errorf("GET %s (token %q): %d %s %.60s", path, tok, status, header.Get("Content-Type"), body)
			}
		}
	}
}

// TestWrites runs creations and membership changes through the API, in order.
func TestWrites(t *testing.T) {
	s := newFake(t) // alice pk 1, bob pk 2; staff > engineering
	staff := mustGroup(t, s, "staff")
	steps := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string // exact, or a part when it starts with "~"
	}{
		{"create a user", "POST", "/api/v3/core/users/", `{"username":"dave","name":"Dave D","email":"d@x","attributes":{"k":"v"}}`,
			201, `~"pk":3,"username":"dave","name":"Dave D","is_active":true`},
		{"the same username", "POST", "/api/v3/core/users/", `{"username":"dave","name":"Dave"}`,
			400, `{"username":["This field must be unique."]}`},
		{"nothing given", "POST", "/api/v3/core/users/", `{}`,
			400, `{"username":["This field is required."],"name":["This field is required."]}`},
		{"not JSON", "POST", "/api/v3/core/users/", `{"username":`, 400, `~{"detail":"JSON parse error - `},
		{"create a group", "POST", "/api/v3/core/groups/",
			`{"name":"ops","parents":["` + staff.PK + `"],"users":[3],"is_superuser":true,"attributes":{"k":"v"}}`,
			201, `~"name":"ops","is_superuser":true,"parents":["` + staff.PK + `"],"parents_obj":null,"users":[3]`},
		{"the same group name", "POST", "/api/v3/core/groups/", `{"name":"ops"}`, 400, `{"name":["Group with this name already exists."]}`},
		{"a member that does not exist", "POST", "/api/v3/core/groups/", `{"name":"x","users":[99]}`,
			400, `{"users":["Invalid pk \"99\" - object does not exist."]}`},
		{"a parent that does not exist", "POST", "/api/v3/core/groups/", `{"name":"x","parents":["nope"]}`,
			400, `{"parents":["Invalid pk \"nope\" - object does not exist."]}`},
		{"add a member", "POST", "/api/v3/core/groups/" + staff.PK + "/add_user/", `{"pk":2}`, 204, ""},
		{"add a member as text", "POST", "/api/v3/core/groups/" + staff.PK + "/add_user/", `{"pk":"3"}`, 204, ""},
		{"remove a member", "POST", "/api/v3/core/groups/" + staff.PK + "/remove_user/", `{"pk":1}`, 204, ""},
		{"add nobody", "POST", "/api/v3/core/groups/" + staff.PK + "/add_user/", `{"pk":99}`, 404, `{"detail":"Not found."}`},
		{"add without pk", "POST", "/api/v3/core/groups/" + staff.PK + "/add_user/", `{}`, 400, `{"pk":["This field is required."]}`},
		{"add a bad pk", "POST", "/api/v3/core/groups/" + staff.PK + "/add_user/", `{"pk":"x"}`, 400, `{"pk":["A valid integer is required."]}`},
		{"add to no group", "POST", "/api/v3/core/groups/00000000-0000-4000-8000-000000000000/add_user/", `{"pk":1}`,
			404, `{"detail":"No Group matches the given query."}`},
		{"a method the fake does not serve", "DELETE", "/api/v3/core/groups/" + staff.PK + "/", "", 405, `{"detail":"Method \"DELETE\" not allowed."}`},
		{"GET on an action", "GET", "/api/v3/core/groups/" + staff.PK + "/add_user/", "", 405, `{"detail":"Method \"GET\" not allowed."}`},
	}
	for _, st := range steps {
		status, header, body := call(t, s, st.method, st.path, token, st.body)
		got := string(body)
		match := got == st.wantBody
		if part, ok := strings.CutPrefix(st.wantBody, "~"); ok {
			match = strings.Contains(got, part)
		}
		if status != st.wantStatus || !match {
			t.Fatalf("%s: %d %s, want %d %s", st.name, status, got, st.wantStatus, st.wantBody)
		}
		if status == 204 && header.Get("Content-Type") != "" {
			t.Errorf("%s: 204 with Content-Type %q", st.name, header.Get("Content-Type"))
		}
	}
	dave, ok := s.User("dave")
	ops := mustGroup(t, s, "ops")
	if !ok || dave.Email != "d@x" || dave.Attributes["k"] != "v" || !ops.IsSuperuser || !slices.Equal(ops.Members, []int{3}) ||
		!slices.Equal(ops.Parents, []string{staff.PK}) || !slices.Equal(mustGroup(t, s, "staff").Members, []int{2, 3}) {
		t.Fatalf("after the writes: dave %+v, ops %+v, staff %+v", dave, ops, mustGroup(t, s, "staff"))
	}
	if names := listedNames(t, getBody(t, s, "/api/v3/core/users/?groups_by_pk="+staff.PK)); names != "bob,dave" {
		t.Errorf("staff's members listed as %s, want bob,dave", names)
	}
}

func getBody(t *testing.T, s *authentiktest.Server, path string) []byte {
	t.Helper()
	_, body := get(t, s, path, token)
	return body
}

// TestCreateGroupParentByVersion: since 2025.12 "parents" counts and "parent" is ignored
// (recorded); before, the other way round.
func TestCreateGroupParentByVersion(t *testing.T) {
	for _, tt := range []struct {
		version     string
		wantParents map[string]bool // group name → has staff as parent
	}{
		{"2025.12.4", map[string]bool{"by-parents": true, "by-parent": false}},
		{"2025.10", map[string]bool{"by-parents": false, "by-parent": true}},
		{"2024.12", map[string]bool{"by-parents": false, "by-parent": true}},
	} {
		t.Run(tt.version, func(t *testing.T) {
			s := newFake(t)
			s.SetVersion(tt.version)
			staff := mustGroup(t, s, "staff")
			for _, body := range []string{`{"name":"by-parents","parents":["` + staff.PK + `"]}`, `{"name":"by-parent","parent":"` + staff.PK + `"}`} {
				if status, _, b := call(t, s, http.MethodPost, "/api/v3/core/groups/", token, body); status != 201 {
					t.Fatalf("create %s: %d %s", body, status, b)
				}
			}
			for name, want := range tt.wantParents {
				if got := slices.Equal(mustGroup(t, s, name).Parents, []string{staff.PK}); got != want {
					t.Errorf("%s below staff = %v, want %v", name, got, want)
				}
			}
		})
	}
}

// TestControlAPIVersionsAndTokens covers the control API's switches for releases and tokens.
func TestControlAPIVersionsAndTokens(t *testing.T) {
	s := newFake(t)
	for _, st := range []struct {
		path, body string
		wantStatus int
	}{
		{"/_fake/shape", `{"version":"2025.10"}`, 200},
		{"/_fake/shape", `{"version":"2025.13"}`, 400},
		{"/_fake/shape", `{"version":"2025.10","legacy":true}`, 400},
		{"/_fake/tokens", `{"token":"weak","username":"alice"}`, 201},
		{"/_fake/tokens", `{"username":"alice"}`, 400},
		{"/_fake/groups", `{"name":"root","is_superuser":true,"attributes":{"a":1}}`, 201},
	} {
		if status, body := post(t, s, st.path, st.body); status != st.wantStatus {
			t.Fatalf("POST %s %s: %d, want %d: %s", st.path, st.body, status, st.wantStatus, body)
		}
	}
	if v := s.Version(); v != "2025.10" {
		t.Errorf("version %s after the control call", v)
	}
	if root := mustGroup(t, s, "root"); !root.IsSuperuser || root.Attributes["a"] != 1.0 {
		t.Errorf("root = %+v", root)
	}
	if status, body := get(t, s, "/api/v3/core/users/me/", "weak"); status != 200 || !strings.Contains(string(body), `"username":"alice"`) {
		t.Errorf("users/me with the control token: %d %s", status, body)
	}
	if status, _ := get(t, s, "/api/v3/core/groups/", "weak"); status != 403 {
		t.Errorf("groups with the control token: %d, want 403", status)
	}
	if status, _ := post(t, s, "/_fake/shape", `{"legacy":true}`); status != 200 || s.Version() != authentiktest.LegacyVersion {
		t.Errorf("legacy switch: %d, version %s", status, s.Version())
	}
}
