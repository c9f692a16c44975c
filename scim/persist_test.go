package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/scim"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/usermap"
)

const token = "scim-persist-token-0b7d1e55"

// receiver is a handler over a real SQLite store in dir, as the bot runs it.
type receiver struct {
	st  *store.SQLite
	res *scim.Resources
	h   *scim.Handler
}

func openReceiver(t *testing.T, dir string) *receiver {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: dir, BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res, err := scim.Open(t.Context(), st, scim.Settings{Settle: 0, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := scim.New(scim.Options{Token: token, Resources: res, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return &receiver{st: st, res: res, h: h}
}

func (r *receiver) call(t *testing.T, method, path, body string, want int) map[string]any {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	rec := httptest.NewRecorder()
	r.h.ServeHTTP(rec, req)
	if rec.Code != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, rec.Code, want, rec.Body.String())
	}
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// groupTree is an Authentik group tree without the groups pushed here: they count with their
// pushed nesting alone.
type groupTree []directory.Group

func (g groupTree) ListGroups(context.Context) ([]directory.Group, error) { return g, nil }

// TestStateSurvivesReopening writes through the handler into SQLite, closes the store, opens it
// again as a restarted bot would, and finds the same users, groups and effective members.
func TestStateSurvivesReopening(t *testing.T) {
	dir := t.TempDir()
	r := openReceiver(t, dir)
	alice := r.call(t, "POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"alice",`+
		`"externalId":"uid-a","displayName":"Alice","name":{"formatted":"Alice A","givenName":"Alice","familyName":"A"},`+
		`"emails":[{"value":"alice@example.org","type":"other","primary":true}],"active":true}`, http.StatusCreated)["id"].(string)
	bob := r.call(t, "POST", "/scim/v2/Users", `{"userName":"bob","active":true}`, http.StatusCreated)["id"].(string)
	carol := r.call(t, "POST", "/scim/v2/Users", `{"userName":"carol","active":false}`, http.StatusCreated)["id"].(string)
	group := r.call(t, "POST", "/scim/v2/Groups", `{"displayName":"staff","externalId":"pk-1"}`, http.StatusCreated)["id"].(string)
	sub := r.call(t, "POST", "/scim/v2/Groups", `{"displayName":"sub","members":[{"value":"`+carol+`"},{"value":"`+bob+`"}]}`, http.StatusCreated)["id"].(string)
	r.call(t, "PATCH", "/scim/v2/Groups/"+group, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[`+
		`{"op":"add","path":"members","value":[{"value":"`+alice+`"},{"value":"`+sub+`"},{"value":"`+bob+`"}]},`+
		`{"op":"remove","path":"members[value eq \"`+bob+`\"]"}]}`, http.StatusOK)
	before := map[string]map[string]any{
		"alice": r.call(t, "GET", "/scim/v2/Users/"+alice, "", http.StatusOK),
		"group": r.call(t, "GET", "/scim/v2/Groups/"+group, "", http.StatusOK),
		"users": r.call(t, "GET", "/scim/v2/Users", "", http.StatusOK),
	}
	mapper, err := usermap.New("@{username}:{server}", "", "example.org")
	if err != nil {
		t.Fatal(err)
	}
	members := func(r *receiver) []plan.Member {
		src, err := scim.NewSource(r.res, groupTree{})
		if err != nil {
			t.Fatal(err)
		}
		dir := &usermap.Directory{Source: src, Mapper: mapper, Log: zerolog.Nop()}
		g := dir.Members(t.Context(), []string{"staff"})["staff"]
		if g.Err != nil {
			t.Fatalf("staff incomplete: %v", g.Err)
		}
		return g.Members
	}
	wantMembers := members(r)
	if n := len(wantMembers); n != 2 {
		t.Fatalf("staff has %d effective members (%v), want alice and bob through sub", n, wantMembers)
	}
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}

	again := openReceiver(t, dir)
	after := map[string]map[string]any{
		"alice": again.call(t, "GET", "/scim/v2/Users/"+alice, "", http.StatusOK),
		"group": again.call(t, "GET", "/scim/v2/Groups/"+group, "", http.StatusOK),
		"users": again.call(t, "GET", "/scim/v2/Users", "", http.StatusOK),
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("after reopening:\n got  %v\n want %v", after, before)
	}
	if got := members(again); !reflect.DeepEqual(got, wantMembers) {
		t.Errorf("effective members after reopening %v, want %v", got, wantMembers)
	}
	// The ids stay taken: a second alice still conflicts.
	again.call(t, "POST", "/scim/v2/Users", `{"userName":"alice"}`, http.StatusConflict)
}
