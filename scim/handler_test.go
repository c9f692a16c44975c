package scim

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bodies as Authentik's SCIM provider sends them (authentik/providers/scim/tests/test_user.py,
// test_group.py, test_membership.py): a user with its default property mapping (photos empty,
// no locale), one with a custom extension schema, and groups in PATCH mode (no members), in the
// older shape without schemas, and in non-PATCH mode (members in the create).
const (
	aliceBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"active":true,` +
		`"emails":[{"primary":true,"type":"other","value":"alice@example.org"}],"externalId":"a1b2c3uid",` +
		`"name":{"familyName":"Anders","formatted":"Alice Anders","givenName":"Alice"},"displayName":"Alice Anders",` +
		`"userName":"alice","photos":[]}`
	bobBody = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"],` +
		`"active":true,"emails":[],"externalId":"b0buid","name":{"familyName":" ","formatted":" ","givenName":""},` +
		`"displayName":"","userName":"bob",` +
		`"urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User":{"startDate":"2024-04-10T00:00:00+0000"}}`
	staffBody  = `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a","displayName":"staff"}`
	oldBody    = `{"externalId":"0b1c2d3e-0000-4000-8000-000000000001","displayName":"old-style"}`
	patchOp    = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	addMember  = `{` + patchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"%s"}]}]}`
	dropMember = `{` + patchOp + `,"Operations":[{"op":"remove","path":"members[value eq \"%s\"]"}]}`
	// Before 2025, and in patch_compare_users: remove with the member as the value.
	dropMemberOld = `{` + patchOp + `,"Operations":[{"op":"remove","path":"members","value":[{"value":"%s"}]}]}`
)

func sprintf(format, arg string) string { return strings.Replace(format, "%s", arg, 1) }

// TestAuthentikProvisioning replays what Authentik's SCIM provider does over a group's life, in
// order, and checks each answer, what the store holds and which groups each write reports.
func TestAuthentikProvisioning(t *testing.T) {
	f := newFixture(t, time.Minute)
	// Users come first: id-1 alice, id-2 bob; the group is id-3.
	steps := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, r reply)
		changed                  []string
	}{
		{"Authentik reads the provider config first", "GET", "/scim/v2/ServiceProviderConfig", "", 200, func(t *testing.T, r reply) {
			if r.at(t, "patch.supported") != true || r.at(t, "filter.supported") != true || r.at(t, "bulk.maxOperations") != float64(1000) {
				t.Errorf("config %s: want PATCH and filters, 1000 operations a request", r.raw)
			}
		}, nil},
		{"user create answers the id Authentik keeps", "POST", "/scim/v2/Users", aliceBody, 201, func(t *testing.T, r reply) {
			if r.str(t, "id") != "id-1" || r.header.Get("Location") != "/scim/v2/Users/id-1" || r.str(t, "userName") != "alice" ||
				r.str(t, "externalId") != "a1b2c3uid" || r.at(t, "active") != true || r.str(t, "emails.0.value") != "alice@example.org" ||
				r.str(t, "name.givenName") != "Alice" || r.str(t, "meta.resourceType") != "User" {
				t.Errorf("created user %s", r.raw)
			}
		}, nil},
		{"a custom extension schema is accepted and its attributes ignored", "POST", "/scim/v2/Users", bobBody, 201, nil, nil},
		{"a second create of alice conflicts", "POST", "/scim/v2/Users", aliceBody, 409, func(t *testing.T, r reply) {
			r.checkError(t, 409, "uniqueness")
		}, nil},
		{"after the 409 Authentik finds alice by userName", "GET", `/scim/v2/Users?filter=userName+eq+%22alice%22`, "", 200, func(t *testing.T, r reply) {
			if r.at(t, "totalResults") != float64(1) || r.str(t, "Resources.0.id") != "id-1" {
				t.Errorf("filtered list %s", r.raw)
			}
		}, nil},
		{"group create in PATCH mode has no members", "POST", "/scim/v2/Groups", staffBody, 201, func(t *testing.T, r reply) {
			if r.str(t, "id") != "id-3" || r.str(t, "displayName") != "staff" || len(r.memberValues(t)) != 0 {
				t.Errorf("created group %s", r.raw)
			}
		}, []string{"staff"}},
		{"PATCH add member alice", "PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-1"), 200, nil, []string{"staff"}},
		{"PATCH add member bob, as Webex mode sends it", "PATCH", "/scim/v2/Groups/id-3",
			`{` + patchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"id-2","type":"user"}]}]}`, 200, nil, []string{"staff"}},
		{"the group lists both, typed, with an empty members list never missing", "GET", "/scim/v2/Groups/id-3", "", 200, func(t *testing.T, r reply) {
			if got := r.memberValues(t); !slices.Equal(got, []string{"id-1", "id-2"}) || r.str(t, "members.0.type") != "User" || r.str(t, "members.0.display") != "alice" {
				t.Errorf("group %s", r.raw)
			}
		}, nil},
		{"an unchanged attribute update (replace without a path) keeps the members and reports nothing", "PATCH", "/scim/v2/Groups/id-3",
			`{` + patchOp + `,"Operations":[{"op":"replace","value":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"id-3",` +
				`"displayName":"staff","externalId":"5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a"}}]}`, 200, func(t *testing.T, r reply) {
				if got := r.memberValues(t); !slices.Equal(got, []string{"id-1", "id-2"}) {
					t.Errorf("members after the replace: %v", got)
				}
			}, nil},
		{"a rename without schemas, as Authentik 2025.12.4 sends it", "PATCH", "/scim/v2/Groups/id-3",
			`{"Operations":[{"op":"replace","value":{"id":"id-3","displayName":"staff-renamed","schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],` +
				`"externalId":"5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a"}}]}`, 200, func(t *testing.T, r reply) {
				if r.str(t, "displayName") != "staff-renamed" || !slices.Equal(r.memberValues(t), []string{"id-1", "id-2"}) {
					t.Errorf("renamed group %s", r.raw)
				}
			}, []string{"staff", "staff-renamed"}},
		{"and back, with empty schemas", "PATCH", "/scim/v2/Groups/id-3",
			`{"schemas":[],"Operations":[{"op":"replace","path":"displayName","value":"staff"}]}`, 200, nil, []string{"staff", "staff-renamed"}},
		{"PATCH remove bob with the filter path", "PATCH", "/scim/v2/Groups/id-3", sprintf(dropMember, "id-2"), 200, func(t *testing.T, r reply) {
			if got := r.memberValues(t); !slices.Equal(got, []string{"id-1"}) {
				t.Errorf("members: %v", got)
			}
		}, []string{"staff"}},
		{"PATCH remove alice with the member as the value", "PATCH", "/scim/v2/Groups/id-3", sprintf(dropMemberOld, "id-1"), 200, func(t *testing.T, r reply) {
			if got := r.memberValues(t); len(got) != 0 {
				t.Errorf("members: %v", got)
			}
		}, []string{"staff"}},
		{"PUT replaces the group, members included (non-PATCH mode)", "PUT", "/scim/v2/Groups/id-3",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"id-3","externalId":"5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a",` +
				`"displayName":"staff","members":[{"value":"id-2"},{"value":"id-1"}]}`, 200, func(t *testing.T, r reply) {
				if got := r.memberValues(t); !slices.Equal(got, []string{"id-1", "id-2"}) {
					t.Errorf("members: %v", got)
				}
			}, []string{"staff"}},
		{"PUT of bob deactivated reports his group", "PUT", "/scim/v2/Users/id-2",
			strings.Replace(strings.Replace(bobBody, `"active":true`, `"active":false`, 1), `{`, `{"id":"id-2",`, 1), 200, func(t *testing.T, r reply) {
				if r.at(t, "active") != false {
					t.Errorf("user %s", r.raw)
				}
			}, []string{"staff"}},
		{"an unchanged PUT reports nothing", "PUT", "/scim/v2/Users/id-1", aliceBody, 200, nil, nil},
		{"the group is found by displayName, case-insensitively", "GET", `/scim/v2/Groups?filter=displayName%20eq%20%22STAFF%22`, "", 200, func(t *testing.T, r reply) {
			if r.at(t, "totalResults") != float64(1) || r.str(t, "Resources.0.id") != "id-3" {
				t.Errorf("list %s", r.raw)
			}
		}, nil},
		{"and users by externalId, exactly", "GET", `/scim/v2/Users?filter=externalId eq "b0buid"`, "", 200, func(t *testing.T, r reply) {
			if r.at(t, "totalResults") != float64(1) || r.str(t, "Resources.0.userName") != "bob" {
				t.Errorf("list %s", r.raw)
			}
		}, nil},
		{"an older group create without schemas", "POST", "/scim/v2/Groups", oldBody, 201, nil, []string{"old-style"}},
		{"a group create with members (non-PATCH mode)", "POST", "/scim/v2/Groups",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"x","displayName":"with-members","members":[{"value":"id-1"}]}`, 201,
			func(t *testing.T, r reply) {
				if got := r.memberValues(t); !slices.Equal(got, []string{"id-1"}) {
					t.Errorf("members: %v", got)
				}
			}, []string{"with-members"}},
		{"discovery lists groups page by page (startIndex, count)", "GET", "/scim/v2/Groups?startIndex=2&count=1&excludedAttributes=members", "", 200, func(t *testing.T, r reply) {
			res := r.at(t, "Resources").([]any)
			if r.at(t, "totalResults") != float64(3) || r.at(t, "startIndex") != float64(2) || r.at(t, "itemsPerPage") != float64(1) ||
				len(res) != 1 || r.str(t, "Resources.0.displayName") != "staff" || res[0].(map[string]any)["members"] != nil {
				t.Errorf("page %s", r.raw)
			}
		}, nil},
		{"a page past the end is empty", "GET", "/scim/v2/Users?startIndex=9", "", 200, func(t *testing.T, r reply) {
			if r.at(t, "totalResults") != float64(2) || len(r.at(t, "Resources").([]any)) != 0 {
				t.Errorf("page %s", r.raw)
			}
		}, nil},
		{"GET a user by id", "GET", "/scim/v2/Users/id-1", "", 200, func(t *testing.T, r reply) {
			if r.str(t, "userName") != "alice" || r.str(t, "meta.location") != "/scim/v2/Users/id-1" {
				t.Errorf("user %s", r.raw)
			}
		}, nil},
		{"DELETE a user takes it out of its groups", "DELETE", "/scim/v2/Users/id-1", "", 204, nil, []string{"staff", "with-members"}},
		{"the deleted user is gone", "GET", "/scim/v2/Users/id-1", "", 404, func(t *testing.T, r reply) { r.checkError(t, 404, "") }, nil},
		{"and no group lists it", "GET", "/scim/v2/Groups/id-3", "", 200, func(t *testing.T, r reply) {
			if got := r.memberValues(t); !slices.Equal(got, []string{"id-2"}) {
				t.Errorf("members: %v", got)
			}
		}, nil},
		{"DELETE a group", "DELETE", "/scim/v2/Groups/id-3", "", 204, nil, []string{"staff"}},
		{"the deleted group is gone", "GET", "/scim/v2/Groups/id-3", "", 404, nil, nil},
		{"a PATCH of the deleted group is 404, so Authentik creates it again", "PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-2"), 404, nil, nil},
	}
	for _, s := range steps {
		if t.Failed() {
			return
		}
		f.clock.advance(time.Second)
		r := f.do(s.method, s.path, s.body)
		if r.status != s.status {
			t.Fatalf("%s: %s %s = %d, want %d: %s", s.name, s.method, s.path, r.status, s.status, r.raw)
		}
		if s.check != nil {
			s.check(t, r)
		}
		if got := f.changes.take(); !slices.Equal(got, changedList(s.changed)) {
			t.Errorf("%s: reported %q, want %q", s.name, got, changedList(s.changed))
		}
	}
	snap := f.state()
	if len(snap.Users) != 1 || len(snap.Groups) != 2 || snap.Users["id-2"].Active {
		t.Errorf("store holds users %v and groups %v", snap.Users, snap.Groups)
	}
}

// changedList is what changes.take returns for one write reporting groups.
func changedList(groups []string) []string {
	if groups == nil {
		return nil
	}
	return []string{strings.Join(groups, ",")}
}

// TestAuthentication: every endpoint needs the bearer token; a missing, wrong or differently
// spelled token gets 401 with SCIM error JSON and changes nothing.
func TestAuthentication(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201)
	before := f.state()
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"no Authorization header", nil, 401},
		{"a wrong token", map[string]string{"Authorization": "Bearer not-the-token-at-all"}, 401},
		{"the token with another scheme", map[string]string{"Authorization": "Basic " + testToken}, 401},
		{"the token without a scheme", map[string]string{"Authorization": testToken}, 401},
		{"the token as a prefix", map[string]string{"Authorization": "Bearer " + testToken + "x"}, 401},
		{"bearer in lower case is fine", map[string]string{"Authorization": "bearer " + testToken}, 200},
	} {
		for _, call := range []struct{ method, path, body string }{
			{"GET", "/scim/v2/Users/id-1", ""},
			{"GET", "/scim/v2/ServiceProviderConfig", ""},
			{"DELETE", "/scim/v2/Users/id-1", ""},
		} {
			if tc.status == 200 && call.method == "DELETE" {
				continue
			}
			r := f.send(call.method, call.path, call.body, tc.headers)
			if tc.status == 401 {
				r.checkError(t, 401, "")
				if r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s: %s %s: no WWW-Authenticate header", tc.name, call.method, call.path)
				}
			} else if r.status != tc.status {
				t.Errorf("%s: %s %s = %d, want %d", tc.name, call.method, call.path, r.status, tc.status)
			}
		}
	}
	if after := f.state(); !reflect.DeepEqual(before, after) {
		t.Errorf("refused requests changed the state:\n before %+v\n after  %+v", before, after)
	}
	if _, err := New(Options{Resources: f.res}); err == nil {
		t.Error("a handler without a token was made")
	}
}

// TestBadRequests: every malformed request gets RFC 7644 error JSON with the right status and
// scimType, and changes nothing at all, a PATCH whose last operation is bad included.
func TestBadRequests(t *testing.T) {
	seed := func(t *testing.T) *fixture {
		f := newFixture(t, 0)
		f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201)                         // id-1
		f.do("POST", "/scim/v2/Users", bobBody).must(t, 201)                           // id-2
		f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201)                        // id-3
		f.do("POST", "/scim/v2/Groups", oldBody).must(t, 201)                          // id-4
		f.do("PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-1")).must(t, 200) // alice in staff
		f.changes.take()
		return f
	}
	patch := func(ops string) string { return `{` + patchOp + `,"Operations":[` + ops + `]}` }
	tests := []struct {
		name, method, path, body string
		headers                  map[string]string
		status                   int
		scimType                 string
	}{
		{"bad JSON", "POST", "/scim/v2/Users", `{"userName": "carol"`, nil, 400, "invalidSyntax"},
		{"two JSON values", "POST", "/scim/v2/Users", `{"userName":"carol"} {}`, nil, 400, "invalidSyntax"},
		{"a JSON array", "POST", "/scim/v2/Groups", `[{"displayName":"x"}]`, nil, 400, "invalidValue"},
		{"an empty body", "POST", "/scim/v2/Users", ``, nil, 400, "invalidSyntax"},
		{"an unknown schema", "POST", "/scim/v2/Users", `{"schemas":["urn:example:unknown"],"userName":"carol"}`, nil, 400, "invalidSyntax"},
		{"a group's schema on /Users", "POST", "/scim/v2/Users", `{"schemas":["` + SchemaGroup + `"],"userName":"carol"}`, nil, 400, "invalidSyntax"},
		{"empty schemas", "POST", "/scim/v2/Groups", `{"schemas":[],"displayName":"x"}`, nil, 400, "invalidSyntax"},
		{"null schemas", "POST", "/scim/v2/Groups", `{"schemas":null,"displayName":"x"}`, nil, 400, "invalidSyntax"},
		{"no userName", "POST", "/scim/v2/Users", `{"schemas":["` + SchemaUser + `"],"displayName":"Carol"}`, nil, 400, "invalidValue"},
		{"userName not a string", "POST", "/scim/v2/Users", `{"userName":42}`, nil, 400, "invalidValue"},
		{"active not a boolean", "POST", "/scim/v2/Users", `{"userName":"carol","active":"maybe"}`, nil, 400, "invalidValue"},
		{"no displayName", "POST", "/scim/v2/Groups", `{"externalId":"x"}`, nil, 400, "invalidValue"},
		{"a member without a value", "POST", "/scim/v2/Groups", `{"displayName":"x","members":[{"display":"alice"}]}`, nil, 400, "invalidValue"},
		{"a taken displayName", "POST", "/scim/v2/Groups", staffBody, nil, 409, "uniqueness"},
		{"a rename to a taken userName", "PUT", "/scim/v2/Users/id-2", strings.Replace(bobBody, `"userName":"bob"`, `"userName":"alice"`, 1), nil, 409, "uniqueness"},
		{"a rename to a taken displayName", "PATCH", "/scim/v2/Groups/id-4", patch(`{"op":"replace","path":"displayName","value":"staff"}`), nil, 409, "uniqueness"},
		{"PUT with another id", "PUT", "/scim/v2/Groups/id-3", `{"id":"id-4","displayName":"staff"}`, nil, 400, "mutability"},
		{"PUT of an unknown user", "PUT", "/scim/v2/Users/nope", aliceBody, nil, 404, ""},
		{"PATCH of an unknown group", "PATCH", "/scim/v2/Groups/nope", sprintf(addMember, "id-2"), nil, 404, ""},
		{"DELETE of an unknown group", "DELETE", "/scim/v2/Groups/nope", "", nil, 404, ""},
		{"PATCH naming another schema instead of PatchOp", "PATCH", "/scim/v2/Groups/id-3", `{"schemas":["` + SchemaGroup + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"id-2"}]}]}`, nil, 400, "invalidSyntax"},
		{"PATCH without operations", "PATCH", "/scim/v2/Groups/id-3", `{` + patchOp + `,"Operations":[]}`, nil, 400, "invalidValue"},
		{"a bad op", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"move","path":"members","value":[{"value":"id-2"}]}`), nil, 400, "invalidSyntax"},
		{"no op", "PATCH", "/scim/v2/Groups/id-3", patch(`{"path":"members","value":[{"value":"id-2"}]}`), nil, 400, "invalidSyntax"},
		{"a good operation and then a bad op change nothing", "PATCH", "/scim/v2/Groups/id-3",
			patch(`{"op":"add","path":"members","value":[{"value":"id-2"}]},{"op":"frobnicate"}`), nil, 400, "invalidSyntax"},
		{"a good operation and then a bad value change nothing", "PATCH", "/scim/v2/Groups/id-3",
			patch(`{"op":"remove","path":"members[value eq \"id-1\"]"},{"op":"add","path":"members","value":"id-2"}`), nil, 400, "invalidValue"},
		{"a good operation and then an unknown attribute change nothing", "PATCH", "/scim/v2/Groups/id-3",
			patch(`{"op":"add","path":"members","value":[{"value":"id-2"}]},{"op":"replace","path":"colour","value":"red"}`), nil, 400, "invalidPath"},
		{"a path that does not parse", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"remove","path":"members[value eq id-1"}`), nil, 400, "invalidPath"},
		{"a filter with an operator that does not exist", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"remove","path":"members[display like \"al\"]"}`), nil, 400, "invalidPath"},
		{"add with a filter", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"add","path":"members[value eq \"id-2\"]","value":[{"value":"id-2"}]}`), nil, 400, "invalidPath"},
		{"remove without a path", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"remove","value":{"members":[{"value":"id-1"}]}}`), nil, 400, "noTarget"},
		{"add without a value", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"add","path":"members"}`), nil, 400, "invalidValue"},
		{"a group made a member of itself", "PATCH", "/scim/v2/Groups/id-3", sprintf(addMember, "id-3"), nil, 400, "invalidValue"},
		{"the displayName emptied", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"replace","path":"displayName","value":" "}`), nil, 400, "invalidValue"},
		{"the displayName removed", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"remove","path":"displayName"}`), nil, 400, "invalidValue"},
		{"the id changed", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"replace","value":{"id":"other"}}`), nil, 400, "mutability"},
		{"replace without a path and no object", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"replace","value":"staff"}`), nil, 400, "invalidValue"},
		{"the userName removed", "PATCH", "/scim/v2/Users/id-1", patch(`{"op":"remove","path":"userName"}`), nil, 400, "invalidValue"},
		{"too many operations", "PATCH", "/scim/v2/Groups/id-3", patch(strings.Repeat(`{"op":"add","path":"members","value":[{"value":"x"}]},`, 1000) +
			`{"op":"add","path":"members","value":[{"value":"y"}]}`), nil, 400, "invalidValue"},
		{"a filter with an unknown operator", "GET", `/scim/v2/Users?filter=userName like "al"`, "", nil, 400, "invalidFilter"},
		{"a filter cut short", "GET", `/scim/v2/Users?filter=userName eq`, "", nil, 400, "invalidFilter"},
		{"a filter with an unclosed parenthesis", "GET", `/scim/v2/Users?filter=(userName eq "a" or active eq true`, "", nil, 400, "invalidFilter"},
		{"a search with a bad filter", "POST", "/scim/v2/.search", `{"schemas":["` + SchemaSearchRequest + `"],"filter":"userName zz 1"}`, nil, 400, "invalidFilter"},
		{"a search naming another message", "POST", "/scim/v2/Users/.search", `{"schemas":["` + SchemaPatchOp + `"],"filter":"userName eq \"a\""}`, nil, 400, "invalidSyntax"},
		{"a search by GET", "GET", "/scim/v2/Groups/.search", "", nil, 405, ""},
		{"attributes that are no attribute names", "GET", "/scim/v2/Users?attributes=user%20name", "", nil, 400, "invalidPath"},
		{"a replace selecting no e-mail with a filter that says nothing of a new one", "PATCH", "/scim/v2/Users/id-1", patch(`{"op":"replace","path":"emails[value co \"nowhere\"].type","value":"home"}`), nil, 400, "noTarget"},
		{"an e-mail part that does not exist", "PATCH", "/scim/v2/Users/id-1", patch(`{"op":"replace","path":"emails[type eq \"other\"].colour","value":"red"}`), nil, 400, "invalidPath"},
		{"a user attribute outside every schema", "PATCH", "/scim/v2/Users/id-1", patch(`{"op":"replace","path":"shoeSize","value":"44"}`), nil, 400, "invalidPath"},
		{"a filter on an attribute groups lack", "GET", `/scim/v2/Groups?filter=userName eq "alice"`, "", nil, 400, "invalidFilter"},
		{"startIndex not a number", "GET", `/scim/v2/Users?startIndex=first`, "", nil, 400, "invalidValue"},
		{"a body that is not JSON by its type", "POST", "/scim/v2/Users", aliceBody, map[string]string{"Content-Type": "text/plain"}, 415, ""},
		{"a userName too long", "POST", "/scim/v2/Users", `{"userName":"` + strings.Repeat("x", maxStringLength+1) + `"}`, nil, 400, "invalidValue"},
		{"an externalId too long", "PUT", "/scim/v2/Users/id-1", `{"userName":"alice","externalId":"` + strings.Repeat("x", maxStringLength+1) + `"}`, nil, 400, "invalidValue"},
		{"a name part too long", "PATCH", "/scim/v2/Users/id-1", patch(`{"op":"replace","path":"name.givenName","value":"` + strings.Repeat("x", maxStringLength+1) + `"}`), nil, 400, "invalidValue"},
		{"an e-mail too long", "POST", "/scim/v2/Users", `{"userName":"carol","emails":[{"value":"` + strings.Repeat("x", maxStringLength) + `@example.com"}]}`, nil, 400, "invalidValue"},
		{"too many e-mails", "POST", "/scim/v2/Users", `{"userName":"carol","emails":[` + strings.Repeat(`{"value":"c@example.com"},`, maxEmails) + `{"value":"c@example.com"}]}`, nil, 400, "invalidValue"},
		{"a displayName too long", "POST", "/scim/v2/Groups", `{"displayName":"` + strings.Repeat("x", maxStringLength+1) + `"}`, nil, 400, "invalidValue"},
		{"a rename too long", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"replace","path":"displayName","value":"` + strings.Repeat("x", maxStringLength+1) + `"}`), nil, 400, "invalidValue"},
		{"a member value too long", "POST", "/scim/v2/Groups", `{"displayName":"x","members":[{"value":"` + strings.Repeat("x", maxStringLength+1) + `"}]}`, nil, 400, "invalidValue"},
		{"too many members in a new group", "POST", "/scim/v2/Groups", `{"displayName":"x","members":[` + manyMembers(maxGroupMembers+1) + `]}`, nil, 413, "invalidValue"},
		{"too many members added", "PATCH", "/scim/v2/Groups/id-3", patch(`{"op":"add","path":"members","value":[` + manyMembers(maxGroupMembers) + `]}`), nil, 413, "invalidValue"},
		{"a body too large", "POST", "/scim/v2/Users", `{"userName":"` + strings.Repeat("x", defaultMaxBodyBytes) + `"}`, nil, 413, ""},
		{"a method a collection does not take", "DELETE", "/scim/v2/Users", "", nil, 405, ""},
		{"a method a resource does not take", "POST", "/scim/v2/Users/id-1", aliceBody, nil, 405, ""},
		{"an unknown endpoint", "GET", "/scim/v2/Bulk", "", nil, 404, ""},
		{"a path outside the base", "GET", "/scim/v2x/Users", "", nil, 404, ""},
		{"a path too deep", "GET", "/scim/v2/Users/id-1/extra", "", nil, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := seed(t)
			before := f.state()
			headers := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": mediaType}
			for k, v := range tc.headers {
				headers[k] = v
			}
			f.send(tc.method, tc.path, tc.body, headers).checkError(t, tc.status, tc.scimType)
			if after := f.state(); !reflect.DeepEqual(before, after) {
				t.Errorf("the state changed:\n before %+v\n after  %+v", before, after)
			}
			if got := f.changes.take(); got != nil {
				t.Errorf("reported changes %q", got)
			}
		})
	}
}

// TestStoreFailure: a write the store refuses is a 503 with error JSON, and memory stays as the
// store is.
func TestStoreFailure(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201)
	f.store.failApply = errDiskFull
	f.do("PATCH", "/scim/v2/Groups/id-1", sprintf(addMember, "u")).checkError(t, http.StatusServiceUnavailable, "")
	f.store.failApply = nil
	if got := f.do("GET", "/scim/v2/Groups/id-1", "").memberValues(t); len(got) != 0 {
		t.Errorf("members after a failed write: %v", got)
	}
}

var errDiskFull = errors.New("disk full")

// TestOtherReplicaWrites: a write another process made to a shared store is seen, and a write
// computed from the older state is computed again instead of overwriting it.
func TestOtherReplicaWrites(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201) // id-1
	other, err := Open(t.Context(), f.store, Settings{Now: f.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	oh, _ := New(Options{Token: testToken, Resources: other, NewID: func() string { return "other-1" }})
	g := &fixture{t: t, store: f.store, clock: f.clock, res: other, h: oh, changes: &changes{}}
	g.do("PATCH", "/scim/v2/Groups/id-1", sprintf(addMember, "from-other")).must(t, 200)
	f.do("PATCH", "/scim/v2/Groups/id-1", sprintf(addMember, "from-first")).must(t, 200)
	if got := g.do("GET", "/scim/v2/Groups/id-1", "").memberValues(t); !slices.Equal(got, []string{"from-first", "from-other"}) {
		t.Errorf("members = %v, want both writes", got)
	}
}

// TestConcurrentLocalWrites: writes racing on one replica all land, and none of them reloads
// the whole state, since memory is current for the replica's own writes.
func TestConcurrentLocalWrites(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Groups", staffBody).must(t, 201) // id-1
	var wg sync.WaitGroup
	var want []string
	for i := range 8 {
		member := fmt.Sprintf("member-%d", i)
		want = append(want, member)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := f.do("PATCH", "/scim/v2/Groups/id-1", sprintf(addMember, member)); r.status != 200 {
				t.Errorf("PATCH adding %s = %d %s", member, r.status, r.raw)
			}
		}()
	}
	wg.Wait()
	if got := f.do("GET", "/scim/v2/Groups/id-1", "").memberValues(t); !slices.Equal(got, want) {
		t.Errorf("members = %v, want %v", got, want)
	}
	f.store.mu.Lock()
	defer f.store.mu.Unlock()
	if f.store.loads != 1 {
		t.Errorf("the whole state was read %d times, want once (at Open)", f.store.loads)
	}
}

// TestDiscovery: the discovery endpoints answer what RFC 7643 §5–7 describe.
func TestDiscovery(t *testing.T) {
	f := newFixture(t, 0)
	r := f.do("GET", "/scim/v2/ServiceProviderConfig", "").must(t, 200)
	if r.str(t, "schemas.0") != SchemaServiceProvider || r.at(t, "etag.supported") != false || r.at(t, "bulk.supported") != false ||
		r.str(t, "authenticationSchemes.0.type") != "oauthbearertoken" {
		t.Errorf("ServiceProviderConfig %s", r.raw)
	}
	r = f.do("GET", "/scim/v2/ResourceTypes", "").must(t, 200)
	if r.at(t, "totalResults") != float64(2) || r.str(t, "Resources.0.endpoint") != "/Users" || r.str(t, "Resources.1.schema") != SchemaGroup {
		t.Errorf("ResourceTypes %s", r.raw)
	}
	if r := f.do("GET", "/scim/v2/ResourceTypes/Group", "").must(t, 200); r.str(t, "endpoint") != "/Groups" {
		t.Errorf("ResourceTypes/Group %s", r.raw)
	}
	f.do("GET", "/scim/v2/ResourceTypes/Robot", "").checkError(t, 404, "")
	r = f.do("GET", "/scim/v2/Schemas", "").must(t, 200)
	if r.at(t, "totalResults") != float64(2) || r.str(t, "Resources.0.id") != SchemaUser || r.str(t, "Resources.0.attributes.0.name") != "userName" {
		t.Errorf("Schemas %s", r.raw)
	}
	if r := f.do("GET", "/scim/v2/Schemas/"+SchemaGroup, "").must(t, 200); r.str(t, "attributes.2.name") != "members" {
		t.Errorf("Schemas/Group %s", r.raw)
	}
	f.do("POST", "/scim/v2/ServiceProviderConfig", "{}").checkError(t, 405, "")
	f.do("GET", "/scim/v2/ServiceProviderConfig/x", "").checkError(t, 404, "")
}

// TestUserPatch: PATCH of a user, which Authentik does not send but other clients do.
func TestUserPatch(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201)
	f.do("POST", "/scim/v2/Groups", `{"displayName":"staff","members":[{"value":"id-1"}]}`).must(t, 201)
	f.changes.take()
	r := f.do("PATCH", "/scim/v2/Users/id-1", `{`+patchOp+`,"Operations":[`+
		`{"op":"Replace","path":"active","value":"False"},`+
		`{"op":"replace","path":"name.givenName","value":"Ali"},`+
		`{"op":"add","path":"emails","value":[{"value":"ali@example.org"}]},`+
		`{"op":"remove","path":"emails[value eq \"alice@example.org\"]"},`+
		`{"op":"replace","value":{"displayName":"Ali Anders","nickName":"ignored"}}]}`).must(t, 200)
	if r.at(t, "active") != false || r.str(t, "name.givenName") != "Ali" || r.str(t, "emails.0.value") != "ali@example.org" ||
		r.str(t, "displayName") != "Ali Anders" || len(r.at(t, "emails").([]any)) != 1 {
		t.Errorf("patched user %s", r.raw)
	}
	if got := f.changes.take(); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("reported %q, want [staff]", got)
	}
}

// manyMembers is n distinct members for a group body.
func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"value":"m-%d"}`, i)
	}
	return b.String()
}
