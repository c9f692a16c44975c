package authentiktest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/authentik/authentiktest"
)

const token = "fake-token"

func get(t *testing.T, s *authentiktest.Server, path, tok string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return resp.StatusCode, body
}

func post(t *testing.T, s *authentiktest.Server, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func keys(m map[string]json.RawMessage) []string { return slices.Sorted(maps.Keys(m)) }

func newFake(t *testing.T) *authentiktest.Server {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	s.AddUser("alice", authentiktest.WithEmail("alice@example.org"), authentiktest.WithAttributes(map[string]any{"matrix_id": "@a:x"}))
	s.AddUser("bob", authentiktest.WithActive(false))
	s.AddGroup("staff", "")
	s.AddGroup("engineering", "staff")
	s.AddMembers("staff", "alice")
	s.AddMembers("engineering", "alice", "bob")
	return s
}

type rawPage struct {
	Pagination map[string]int               `json:"pagination"`
	Results    []map[string]json.RawMessage `json:"results"`
}

func decodeRaw(t *testing.T, body []byte) rawPage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	if got := keys(top); !slices.Equal(got, []string{"autocomplete", "pagination", "results"}) {
		t.Fatalf("top-level keys %v", got)
	}
	var p rawPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// Key orders of the recorded answers (authentik/testdata/recorded/2025.12.4) and of the older
// releases' serializers.
var (
	paginationKeys = []string{"next", "previous", "count", "current", "total_pages", "start_index", "end_index"}
	modernGroup    = []string{"pk", "num_pk", "name", "is_superuser", "parents", "parents_obj", "users", "users_obj",
		"attributes", "roles", "roles_obj", "inherited_roles_obj", "children", "children_obj"}
	legacyGroup = []string{"pk", "num_pk", "name", "is_superuser", "parent", "parent_name", "users", "users_obj",
		"attributes", "roles", "roles_obj"}
	middleGroup = append(slices.Clone(legacyGroup), "children", "children_obj")
	userKeys    = []string{"pk", "username", "name", "is_active", "last_login", "date_joined", "is_superuser", "groups",
		"groups_obj", "roles", "roles_obj", "email", "avatar", "attributes", "uid", "path", "type", "uuid",
		"password_change_date", "last_updated"}
)

func TestShapes(t *testing.T) {
	tests := []struct {
		name       string
		legacy     bool
		path       string
		wantKeys   []string
		wantFields map[string]string // raw JSON of selected fields of the first result
	}{
		{name: "modern groups", path: "/api/v3/core/groups/", wantKeys: modernGroup,
			wantFields: map[string]string{"name": `"engineering"`, "children": `[]`, "children_obj": "null", "parents_obj": "null"}},
		{name: "groups without users", path: "/api/v3/core/groups/?include_users=false", wantKeys: modernGroup,
			wantFields: map[string]string{"users_obj": "null", "users": "[1,2]"}},
		{name: "legacy groups", legacy: true, path: "/api/v3/core/groups/?name=staff", wantKeys: legacyGroup,
			wantFields: map[string]string{"name": `"staff"`, "parent": "null", "parent_name": "null"}},
		{name: "users", path: "/api/v3/core/users/?username=alice", wantKeys: userKeys,
			wantFields: map[string]string{"pk": "1", "is_active": "true", "email": `"alice@example.org"`,
				"attributes": `{"matrix_id":"@a:x"}`, "path": `"users"`, "type": `"internal"`}},
		{name: "users without groups", path: "/api/v3/core/users/?include_groups=false&username=bob", wantKeys: userKeys,
			wantFields: map[string]string{"groups_obj": "null", "is_active": "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.SetLegacyShape(tt.legacy)
			status, body := get(t, s, tt.path, token)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			p := decodeRaw(t, body)
			tree, err := parseJSON(body)
			if err != nil {
				t.Fatal(err)
			}
			if got := keysAt(tree, "pagination"); !slices.Equal(got, paginationKeys) {
				t.Fatalf("pagination keys %v, want %v", got, paginationKeys)
			}
			if len(p.Results) == 0 {
				t.Fatal("no results")
			}
			if got := keysAt(tree, "results.0"); !slices.Equal(got, tt.wantKeys) {
				t.Fatalf("keys %v, want %v", got, tt.wantKeys)
			}
			for k, want := range tt.wantFields {
				if got := string(p.Results[0][k]); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
		})
	}
}

func TestGroupTreeFields(t *testing.T) {
	s := newFake(t)
	staff, _ := s.Group("staff")
	eng, _ := s.Group("engineering")
	_, body := get(t, s, "/api/v3/core/groups/"+staff.PK+"/", token)
	var g struct {
		PK       string   `json:"pk"`
		Children []string `json:"children"`
		UsersObj []struct {
			Username string `json:"username"`
			UID      string `json:"uid"`
		} `json:"users_obj"`
	}
	if err := json.Unmarshal(body, &g); err != nil {
		t.Fatal(err)
	}
	if g.PK != staff.PK || !slices.Equal(g.Children, []string{eng.PK}) || len(g.UsersObj) != 1 || g.UsersObj[0].Username != "alice" || len(g.UsersObj[0].UID) != 64 {
		t.Fatalf("staff = %s", body)
	}
	if len(strings.Split(staff.PK, "-")) != 5 || len(staff.PK) != 36 {
		t.Fatalf("group pk %q is not a UUID", staff.PK)
	}

	s.SetLegacyShape(true)
	_, body = get(t, s, "/api/v3/core/groups/"+eng.PK+"/", token)
	var legacy struct {
		Parent     string `json:"parent"`
		ParentName string `json:"parent_name"`
	}
	if err := json.Unmarshal(body, &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy.Parent != staff.PK || legacy.ParentName != "staff" {
		t.Fatalf("engineering (legacy) = %s", body)
	}
}

func TestPagination(t *testing.T) {
	tests := []struct {
		name           string
		query          string
		wantStatus     int
		wantPagination map[string]int
		wantResults    int
	}{
		{name: "default size 20", query: "", wantStatus: 200, wantResults: 20,
			wantPagination: map[string]int{"next": 2, "previous": 0, "count": 45, "current": 1, "total_pages": 3, "start_index": 1, "end_index": 20}},
		{name: "last page", query: "?page=3", wantStatus: 200, wantResults: 5,
			wantPagination: map[string]int{"next": 0, "previous": 2, "count": 45, "current": 3, "total_pages": 3, "start_index": 41, "end_index": 45}},
		{name: "size capped at 100", query: "?page_size=1000", wantStatus: 200, wantResults: 45,
			wantPagination: map[string]int{"next": 0, "previous": 0, "count": 45, "current": 1, "total_pages": 1, "start_index": 1, "end_index": 45}},
		{name: "bad size falls back to default", query: "?page_size=-4", wantStatus: 200, wantResults: 20,
			wantPagination: map[string]int{"next": 2, "previous": 0, "count": 45, "current": 1, "total_pages": 3, "start_index": 1, "end_index": 20}},
		{name: "empty listing", query: "?username=nobody", wantStatus: 200, wantResults: 0,
			wantPagination: map[string]int{"next": 0, "previous": 0, "count": 0, "current": 1, "total_pages": 1, "start_index": 0, "end_index": 0}},
		{name: "page past the end", query: "?page=4", wantStatus: 404},
		{name: "page zero", query: "?page=0", wantStatus: 404},
		{name: "page not a number", query: "?page=two", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := authentiktest.New(token)
			t.Cleanup(s.Close)
			for i := range 45 {
				s.AddUser(fmt.Sprintf("u%02d", i))
			}
			status, body := get(t, s, "/api/v3/core/users/"+tt.query, token)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			if status == 404 {
				if string(body) != `{"detail":"Invalid page."}` {
					t.Fatalf("body %s", body)
				}
				return
			}
			p := decodeRaw(t, body)
			if !maps.Equal(p.Pagination, tt.wantPagination) || len(p.Results) != tt.wantResults {
				t.Fatalf("pagination %v with %d results, want %v with %d", p.Pagination, len(p.Results), tt.wantPagination, tt.wantResults)
			}
		})
	}
}

func TestFiltersAndErrors(t *testing.T) {
	tests := []struct {
		name       string
		path       func(s *authentiktest.Server) string
		token      string
		wantStatus int
		wantBody   string // exact, or the usernames / group names listed, joined by commas
	}{
		{name: "no token", token: "-", path: func(*authentiktest.Server) string { return "/api/v3/core/users/" },
			wantStatus: 403, wantBody: `{"detail":"Authentication credentials were not provided."}`},
		{name: "wrong token", token: "nope", path: func(*authentiktest.Server) string { return "/api/v3/core/users/" },
			wantStatus: 403, wantBody: `{"detail":"Token invalid/expired"}`},
		{name: "direct members only", path: func(s *authentiktest.Server) string {
			g, _ := s.Group("staff")
			return "/api/v3/core/users/?groups_by_pk=" + g.PK
		}, wantStatus: 200, wantBody: "alice"},
		{name: "groups_by_pk repeats as OR", path: func(s *authentiktest.Server) string {
			a, _ := s.Group("staff")
			b, _ := s.Group("admins")
			return "/api/v3/core/users/?groups_by_pk=" + a.PK + "&groups_by_pk=" + b.PK
		}, wantStatus: 200, wantBody: "alice,carol"},
		{name: "unknown group pk", path: func(*authentiktest.Server) string { return "/api/v3/core/users/?groups_by_pk=nope" },
			wantStatus: 400, wantBody: `{"groups_by_pk":["Select a valid choice. nope is not one of the available choices."]}`},
		{name: "is_active", path: func(*authentiktest.Server) string { return "/api/v3/core/users/?is_active=false" },
			wantStatus: 200, wantBody: "bob"},
		{name: "users ordered by username", path: func(*authentiktest.Server) string { return "/api/v3/core/users/" },
			wantStatus: 200, wantBody: "alice,bob,carol"},
		{name: "groups ordered by name", path: func(*authentiktest.Server) string { return "/api/v3/core/groups/" },
			wantStatus: 200, wantBody: "admins,engineering,staff"},
		{name: "group name is exact", path: func(*authentiktest.Server) string { return "/api/v3/core/groups/?name=Staff" },
			wantStatus: 200, wantBody: ""},
		{name: "one user", path: func(*authentiktest.Server) string { return "/api/v3/core/users/2/" },
			wantStatus: 200, wantBody: "bob"},
		{name: "missing user", path: func(*authentiktest.Server) string { return "/api/v3/core/users/99/" },
			wantStatus: 404, wantBody: `{"detail":"No User matches the given query."}`},
		{name: "missing group", path: func(*authentiktest.Server) string { return "/api/v3/core/groups/nope/" },
			wantStatus: 404, wantBody: `{"detail":"No Group matches the given query."}`},
		{name: "no trailing slash", path: func(*authentiktest.Server) string { return "/api/v3/core/users" },
			wantStatus: 404, wantBody: `{"detail":"Not found."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.AddUser("carol")
			s.AddGroup("admins", "")
			s.AddMembers("admins", "carol")
			tok := token
			switch tt.token {
			case "-":
				tok = ""
			case "":
			default:
				tok = tt.token
			}
			status, body := get(t, s, tt.path(s), tok)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			got := string(body)
			if status == 200 {
				got = listedNames(t, body)
			}
			if got != tt.wantBody {
				t.Fatalf("got %s, want %s", got, tt.wantBody)
			}
		})
	}
}

// listedNames turns a page or a single object into its usernames or group names.
func listedNames(t *testing.T, body []byte) string {
	t.Helper()
	type named struct{ Username, Name string }
	var p struct{ Results []named }
	var one named
	if err := json.Unmarshal(body, &p); err != nil || p.Results == nil {
		if err := json.Unmarshal(body, &one); err != nil {
			t.Fatal(err)
		}
		p.Results = []named{one}
	}
	var out []string
	for _, r := range p.Results {
		if r.Username != "" {
			out = append(out, r.Username)
		} else {
			out = append(out, r.Name)
		}
	}
	return strings.Join(out, ",")
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault authentiktest.Fault
		// want is the status of five requests in a row for pages 1,2,1,2,1 (0 = connection broken).
		want [5]int
	}{
		{name: "one hit, any page", fault: authentiktest.Fault{Status: 500}, want: [5]int{500, 200, 200, 200, 200}},
		{name: "page 2 only, twice", fault: authentiktest.Fault{Page: 2, Status: 502, Times: 2}, want: [5]int{200, 502, 200, 502, 200}},
		{name: "skip two then hit", fault: authentiktest.Fault{Skip: 2, Status: 429}, want: [5]int{200, 200, 429, 200, 200}},
		{name: "other path untouched", fault: authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", Status: 500}, want: [5]int{200, 200, 200, 200, 200}},
		{name: "truncated", fault: authentiktest.Fault{Truncate: true}, want: [5]int{0, 200, 200, 200, 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFake(t)
			s.InjectFault(tt.fault)
			var got [5]int
			for i := range got {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v3/core/users/?page_size=1&page=%d", s.URL(), 1+i%2), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					got[i] = resp.StatusCode
				}
			}
			if got != tt.want {
				t.Fatalf("statuses %v, want %v", got, tt.want)
			}
			if n := len(s.Requests()); n != 5 {
				t.Fatalf("recorded %d requests, want 5", n)
			}
		})
	}
}

func TestControlAPI(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	steps := []struct {
		path, body string
		wantStatus int
	}{
		{"/_fake/users", `{"username":"Bob.Smith@corp","active":true,"attributes":{"matrix_id":"@bob:x"}}`, 201},
		{"/_fake/users", `{"username":"carol"}`, 201},
		{"/_fake/users", `{"username":"carol"}`, 400},
		{"/_fake/users", `{"usernme":"typo"}`, 400},
		{"/_fake/groups", `{"name":"staff","parent":""}`, 201},
		{"/_fake/groups", `{"name":"engineering","parent":"staff"}`, 201},
		{"/_fake/groups", `{"name":"orphan","parent":"missing"}`, 404},
		{"/_fake/groups/engineering/members", `{"add":["Bob.Smith@corp","carol"]}`, 200},
		{"/_fake/groups/engineering/members", `{"remove":["carol"]}`, 200},
		{"/_fake/groups/engineering/members", `{"add":["nobody"]}`, 404},
		{"/_fake/users/Bob.Smith@corp/active", `{"active":false}`, 200},
		{"/_fake/users/Bob.Smith@corp/active", `{}`, 400},
		{"/_fake/faults", `{"path_prefix":"/api/v3/core/groups/","status":503,"delay":"1ms"}`, 201},
		{"/_fake/faults", `{"delay":"soon"}`, 400},
	}
	for _, st := range steps {
		if status, body := post(t, s, st.path, st.body); status != st.wantStatus {
			t.Fatalf("POST %s %s: status %d, want %d: %s", st.path, st.body, status, st.wantStatus, body)
		}
	}
	bob, _ := s.User("Bob.Smith@corp")
	eng, _ := s.Group("engineering")
	if bob.IsActive || !slices.Equal(eng.Members, []int{bob.PK}) || bob.Attributes["matrix_id"] != "@bob:x" {
		t.Fatalf("after control calls: bob %+v, engineering %+v", bob, eng)
	}
	if status, _ := get(t, s, "/api/v3/core/groups/", token); status != 503 {
		t.Fatalf("injected fault not served: %d", status)
	}
	status, body := get(t, s, "/_fake/requests", "")
	var reqs []string
	if err := json.Unmarshal(body, &reqs); err != nil || status != 200 || !slices.Equal(reqs, []string{"GET /api/v3/core/groups/"}) {
		t.Fatalf("requests: %d %s", status, body)
	}
}

func TestLoadSeed(t *testing.T) {
	active := false
	tests := []struct {
		name    string
		seed    authentiktest.Seed
		wantErr string
	}{
		{name: "children before parents", seed: authentiktest.Seed{
			Users: []authentiktest.SeedUser{{Username: "a"}, {Username: "b", Active: &active}},
			Groups: []authentiktest.SeedGroup{
				{Name: "leaf", Parent: "mid", Members: []string{"a"}},
				{Name: "mid", Parent: "top"},
				{Name: "top", Members: []string{"b"}},
			}}},
		{name: "unknown parent", seed: authentiktest.Seed{Groups: []authentiktest.SeedGroup{{Name: "x", Parent: "y"}}},
			wantErr: `parent group "y" is not in the seed`},
		{name: "parent loop", seed: authentiktest.Seed{Groups: []authentiktest.SeedGroup{{Name: "x", Parent: "y"}, {Name: "y", Parent: "x"}}},
			wantErr: "loop"},
		{name: "unknown member", seed: authentiktest.Seed{Groups: []authentiktest.SeedGroup{{Name: "x", Members: []string{"ghost"}}}},
			wantErr: `user "ghost" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := authentiktest.NewHandler(token)
			err := s.Load(tt.seed)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			leaf, _ := s.Group("leaf")
			mid, _ := s.Group("mid")
			b, _ := s.User("b")
			if !slices.Equal(leaf.Parents, []string{mid.PK}) || b.IsActive {
				t.Fatalf("leaf %+v, b %+v", leaf, b)
			}
		})
	}
}

func TestDelayEndsWithTheClient(t *testing.T) {
	s := newFake(t)
	s.InjectFault(authentiktest.Fault{Delay: time.Minute})
	c := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/api/v3/core/users/", nil)
	start := time.Now()
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a delayed answer arrived in time")
	}
	s.Close() // must not wait for the minute
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("close took %s", d)
	}
}
