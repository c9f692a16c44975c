package authentiktest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"authentik-matrix-sync/authentik/authentiktest"
)

// call does one API request and returns the status, headers and body.
func call(t *testing.T, s *authentiktest.Server, method, path, tok, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// treeFake holds staff > engineering, with engineering also below admins (two parents), and
// alice in engineering.
func treeFake(t *testing.T, version string) (s *authentiktest.Server, staff, eng, admins authentiktest.Group) {
	s = authentiktest.New(token)
	t.Cleanup(s.Close)
	s.SetVersion(version)
	s.AddUser("alice")
	staff = s.AddGroup("staff", "", authentiktest.WithGroupAttributes(map[string]any{"level": 1}))
	admins = s.AddGroup("admins", "", authentiktest.WithGroupSuperuser(true))
	s.AddGroup("engineering", "staff")
	s.SetParents("engineering", "staff", "admins")
	s.AddMembers("engineering", "alice")
	eng, _ = s.Group("engineering")
	return s, staff, eng, admins
}

// TestGroupShapeOfEachVersion lists the tree in each release's shape, with every include_*
// flag set: keys and their order, and where each release says a group sits.
func TestGroupShapeOfEachVersion(t *testing.T) {
	related := func(g authentiktest.Group) string {
		attrs, _ := json.Marshal(g.Attributes)
		return fmt.Sprintf(`{"pk":%q,"name":%q,"is_superuser":%v,"attributes":%s,"group_uuid":%q}`, g.PK, g.Name, g.IsSuperuser, attrs, g.PK)
	}
	type want map[string]string // group name → field → raw JSON
	tests := []struct {
		version  string
		wantKeys []string
		want     func(staff, eng, admins authentiktest.Group) map[string]want
	}{
		{"2025.12.4", modernGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			return map[string]want{
				"engineering": {"parents": fmt.Sprintf("[%q,%q]", staff.PK, admins.PK),
					"parents_obj": "[" + related(staff) + "," + related(admins) + "]", "children": "[]", "children_obj": "[]",
					"inherited_roles_obj": "null"},
				"staff":  {"parents": "[]", "parents_obj": "[]", "children": fmt.Sprintf("[%q]", eng.PK), "children_obj": "[" + related(eng) + "]"},
				"admins": {"children": fmt.Sprintf("[%q]", eng.PK), "is_superuser": "true"},
			}
		}},
		{"2026.2.1", modernGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			return map[string]want{"engineering": {"parents": fmt.Sprintf("[%q,%q]", staff.PK, admins.PK)}}
		}},
		{"2025.10.3", middleGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			// One parent in these releases: the first, and only its children list the group.
			return map[string]want{
				"engineering": {"parent": fmt.Sprintf("%q", staff.PK), "parent_name": `"staff"`, "children": "[]", "children_obj": "[]"},
				"staff":       {"parent": "null", "parent_name": "null", "children": fmt.Sprintf("[%q]", eng.PK), "children_obj": "[" + related(eng) + "]"},
				"admins":      {"children": "[]", "children_obj": "[]"},
			}
		}},
		{"2025.8", middleGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			return map[string]want{"engineering": {"parent": fmt.Sprintf("%q", staff.PK)}, "staff": {"children": fmt.Sprintf("[%q]", eng.PK)}}
		}},
		{"2025.6.4", legacyGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			return map[string]want{"engineering": {"parent": fmt.Sprintf("%q", staff.PK), "parent_name": `"staff"`}, "staff": {"parent": "null"}}
		}},
		{"2024.12.3", legacyGroup, func(staff, eng, admins authentiktest.Group) map[string]want {
			return map[string]want{"engineering": {"parent": fmt.Sprintf("%q", staff.PK), "users": "[1]"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			s, staff, eng, admins := treeFake(t, tt.version)
			for _, path := range []string{"/api/v3/core/groups/?include_children=true&include_parents=true",
				"/api/v3/core/groups/" + eng.PK + "/?include_children=true&include_parents=true"} {
				status, _, body := call(t, s, http.MethodGet, path, token, "")
				if status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, status, body)
				}
				tree, err := parseJSON(body)
				if err != nil {
					t.Fatal(err)
				}
				var groups []map[string]json.RawMessage
				if _, isPage := tree.get("results"); isPage {
					for i := range 3 {
						if got := keysAt(tree, fmt.Sprintf("results.%d", i)); !slices.Equal(got, tt.wantKeys) {
							t.Fatalf("keys %v, want %v", got, tt.wantKeys)
						}
					}
					var p struct{ Results []map[string]json.RawMessage }
					_ = json.Unmarshal(body, &p)
					groups = p.Results
				} else {
					if got := tree.keys; !slices.Equal(got, tt.wantKeys) {
						t.Fatalf("retrieved keys %v, want %v", got, tt.wantKeys)
					}
					var g map[string]json.RawMessage
					_ = json.Unmarshal(body, &g)
					groups = append(groups, g)
				}
				for _, g := range groups {
					var name string
					_ = json.Unmarshal(g["name"], &name)
					for field, w := range tt.want(staff, eng, admins)[name] {
						if got := string(g[field]); got != w {
							t.Errorf("%s: %s.%s = %s, want %s", path, name, field, got, w)
						}
					}
				}
			}
			status, _, body := call(t, s, http.MethodGet, "/api/v3/admin/version/", token, "")
			if want := fmt.Sprintf(`{"version_current":%q,"version_latest":%q,`, tt.version, tt.version); status != 200 || !strings.HasPrefix(string(body), want) {
				t.Errorf("admin/version/ = %d %s, want it to start %s", status, body, want)
			}
		})
	}
}

// TestPageSizesOfEachVersion: 20 by default and at most 100 since 2025.12; before, 100 and no
// maximum.
func TestPageSizesOfEachVersion(t *testing.T) {
	for _, tt := range []struct {
		version           string
		byDefault, capped int
	}{
		{"2025.12.4", 20, 100},
		{"2025.10", 100, 130},
		{"2024.12.3", 100, 130},
	} {
		t.Run(tt.version, func(t *testing.T) {
			s := authentiktest.New(token)
			t.Cleanup(s.Close)
			s.SetVersion(tt.version)
			if err := s.LoadSynthetic(authentiktest.Synthetic{Users: 130}); err != nil {
				t.Fatal(err)
			}
			for query, want := range map[string]int{"": tt.byDefault, "?page_size=500": tt.capped} {
				_, _, body := call(t, s, http.MethodGet, "/api/v3/core/users/"+query, token, "")
				if got := len(decodeRaw(t, body).Results); got != want {
					t.Errorf("users/%s: %d results, want %d", query, got, want)
				}
			}
		})
	}
}

func TestSetVersion(t *testing.T) {
	s := authentiktest.NewHandler(token)
	if got := s.Version(); got != authentiktest.DefaultVersion {
		t.Errorf("a new fake is %s, want %s", got, authentiktest.DefaultVersion)
	}
	s.SetLegacyShape(true)
	if got := s.Version(); got != authentiktest.LegacyVersion {
		t.Errorf("SetLegacyShape(true) gives %s, want %s", got, authentiktest.LegacyVersion)
	}
	s.SetLegacyShape(false)
	if got := s.Version(); got != authentiktest.DefaultVersion {
		t.Errorf("SetLegacyShape(false) gives %s, want %s", got, authentiktest.DefaultVersion)
	}
	for _, bad := range []string{"", "2025", "2025.13", "2025.x", "v2025.12", "2025.12.4.1", "1999.1"} {
		if err := authentiktest.CheckVersion(bad); err == nil {
			t.Errorf("CheckVersion(%q) took it", bad)
		}
	}
	for _, good := range []string{"2025.12.4", "2025.10", "2024.2.1", "2026.1.0"} {
		if err := authentiktest.CheckVersion(good); err != nil {
			t.Errorf("CheckVersion(%q): %v", good, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("SetVersion took a version it cannot read")
		}
	}()
	s.SetVersion("soon")
}

// TestAttributesInJSONBOrder: attributes come back with their keys shorter first, then
// bytewise, as Postgres keeps them, and with <, > and & as they are.
func TestAttributesInJSONBOrder(t *testing.T) {
	s := authentiktest.New(token)
	t.Cleanup(s.Close)
	s.AddUser("alice", authentiktest.WithAttributes(map[string]any{
		"bb": 1, "a": 2, "ccc": map[string]any{"zz": []any{map[string]any{"yy": 1, "x": 2}}, "y": true}, "ab": "<b>&"}))
	_, _, body := call(t, s, http.MethodGet, "/api/v3/core/users/?username=alice", token, "")
	want := `"attributes":{"a":2,"ab":"<b>&","bb":1,"ccc":{"y":true,"zz":[{"x":2,"yy":1}]}}`
	if !strings.Contains(string(body), want) {
		t.Fatalf("users = %s, want it to hold %s", body, want)
	}
}

// TestComparisonNamesThePath makes sure the recorded-answer test fails where it should, and
// says where.
func TestComparisonNamesThePath(t *testing.T) {
	tests := []struct {
		name, recorded, got string
		want                []string
	}{
		{"same", `{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null}]}`, nil},
		{"key order", `{"a":1,"b":2}`, `{"b":2,"a":1}`, []string{"$: keys [b a], recorded [a b]"}},
		{"missing key", `{"a":1,"b":2}`, `{"a":1}`, []string{"$: keys [a], recorded [a b]"}},
		{"null for a list", `{"x":{"list":[]}}`, `{"x":{"list":null}}`, []string{"$.x.list: null, recorded array"}},
		{"value", `{"r":[{"pk":4}]}`, `{"r":[{"pk":5}]}`, []string{"$.r[0].pk: 5, recorded 4"}},
		{"length", `[1,2]`, `[1]`, []string{"$: 1 elements, recorded 2"}},
		{"volatile by type", `{"avatar":"data:x"}`, `{"avatar":"data:y"}`, nil},
		{"volatile type", `{"avatar":"data:x"}`, `{"avatar":null}`, []string{"$.avatar: null, recorded string"}},
		{"number type", `{"pk":"4"}`, `{"pk":4}`, []string{"$.pk: number, recorded string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err1 := parseJSON([]byte(tt.recorded))
			got, err2 := parseJSON([]byte(tt.got))
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if d := (comparison{typeOnly: volatile}).diff("$", want, got); !slices.Equal(d, tt.want) {
				t.Errorf("diff = %q, want %q", d, tt.want)
			}
		})
	}
}
