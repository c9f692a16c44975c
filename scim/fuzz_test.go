package scim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"authentik-matrix-sync/scimstate"
)

// The seed corpora are in testdata/fuzz/: Authentik's PATCH bodies, and broken ones (cut,
// nested, wrong types, odd paths and filters). `go test` runs them; `go test -fuzz FuzzSCIMPatch`
// looks for more.

// checkRefusal holds for what the parser and the patchers may return instead of a result.
func checkRefusal(t *testing.T, body []byte, e *Error) {
	t.Helper()
	if e.Status != http.StatusBadRequest || e.Type == "" || e.Detail == "" {
		t.Fatalf("%q refused with %+v; want a 400 with a scimType and a detail", body, e)
	}
}

// FuzzSCIMPatch feeds the PATCH parser and both patchers any body: they never panic, refuse
// with a 400 and a scimType, never change the resource they were given, and accept only results
// that keep the invariants (a displayName and userName, sorted members without empty or
// repeated values).
func FuzzSCIMPatch(f *testing.F) {
	for _, s := range []string{
		sprintf(addMember, "u1"), sprintf(dropMember, "u2"), sprintf(dropMemberOld, "u1"),
		`{` + patchOp + `,"Operations":[{"op":"replace","value":{"id":"g","displayName":"staff","externalId":"x"}}]}`,
		`{` + patchOp + `,"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
	} {
		f.Add([]byte(s))
	}
	group := scimstate.Group{ID: "g", DisplayName: "staff", ExternalID: "pk", Members: []string{"u1", "u2"}}
	user := scimstate.User{ID: "u1", UserName: "alice", Active: true, Emails: []scimstate.Email{{Value: "a@example.org", Primary: true}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, e := parsePatch(body)
		if e != nil {
			checkRefusal(t, body, e)
			return
		}
		if len(ops) == 0 || len(ops) > maxPatchOperations {
			t.Fatalf("%q parsed to %d operations", body, len(ops))
		}
		g0, u0 := cloneGroup(group), cloneUser(user)
		if g, e := patchGroup(group, ops, nil); e != nil {
			checkRefusal(t, body, e)
		} else {
			if g.DisplayName == "" || strings.TrimSpace(g.DisplayName) != g.DisplayName || g.ID != "g" {
				t.Fatalf("%q made group %+v", body, g)
			}
			if !slices.IsSorted(g.Members) || len(slices.Compact(slices.Clone(g.Members))) != len(g.Members) || slices.Contains(g.Members, "") {
				t.Fatalf("%q left members %q", body, g.Members)
			}
		}
		if u, e := patchUser(user, ops); e != nil {
			checkRefusal(t, body, e)
		} else if u.UserName == "" || u.ID != "u1" {
			t.Fatalf("%q made user %+v", body, u)
		}
		if !reflect.DeepEqual(group, g0) || !reflect.DeepEqual(user, u0) {
			t.Fatalf("%q changed the resource patched: %+v %+v", body, group, user)
		}
	})
}

func cloneGroup(g scimstate.Group) scimstate.Group { g.Members = slices.Clone(g.Members); return g }
func cloneUser(u scimstate.User) scimstate.User    { u.Emails = slices.Clone(u.Emails); return u }

// FuzzSCIMRequest sends any method, path and body, authenticated, to a handler holding a user
// and a group: it never panics, always answers JSON (or nothing, for 204), and an error answer
// is RFC 7644 error JSON after which the state is exactly as before.
func FuzzSCIMRequest(f *testing.F) {
	f.Add(uint8(0), "Groups/id-2", []byte(sprintf(addMember, "id-1")))
	f.Add(uint8(1), "Users", []byte(aliceBody))
	f.Add(uint8(2), "Groups/id-2", []byte(`{"displayName":"staff","members":[{"value":"id-1"}]}`))
	f.Add(uint8(3), "Users/id-1", []byte{})
	f.Add(uint8(4), "Users", []byte{})
	methods := []string{"PATCH", "POST", "PUT", "DELETE", "GET"}
	f.Fuzz(func(t *testing.T, method uint8, path string, body []byte) {
		fx := newFixture(t, 0)
		fx.do("POST", "/scim/v2/Users", bobBody).must(t, 201)                           // id-1
		fx.do("POST", "/scim/v2/Groups", `{"displayName":"staff"}`).must(t, 201)        // id-2
		fx.do("PATCH", "/scim/v2/Groups/id-2", sprintf(addMember, "id-1")).must(t, 200) // bob in staff
		before := fx.state()
		req := httptest.NewRequestWithContext(t.Context(), methods[int(method)%len(methods)], "/", strings.NewReader(string(body)))
		req.URL.Path = "/scim/v2/" + path
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", mediaType)
		rec := httptest.NewRecorder()
		fx.h.ServeHTTP(rec, req)
		r := reply{status: rec.Code, raw: rec.Body.String()}
		if rec.Code == http.StatusNoContent {
			return
		}
		if err := jsonObject(rec.Body.Bytes(), &r.body); err != nil {
			t.Fatalf("%s %q answered %d with no JSON object: %v", req.Method, path, rec.Code, err)
		}
		if rec.Code >= 400 {
			scimType := stringField(r.body, "scimType")
			if rec.Code == http.StatusBadRequest && scimType == "" {
				t.Fatalf("%s %q answered 400 without a scimType: %s", req.Method, path, r.raw)
			}
			r.checkError(t, rec.Code, scimType)
			if after := fx.state(); !reflect.DeepEqual(before, after) {
				t.Fatalf("%s %q answered %d but changed the state", req.Method, path, rec.Code)
			}
		}
	})
}

func jsonObject(data []byte, out *map[string]any) error { return json.Unmarshal(data, out) }

func stringField(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}
