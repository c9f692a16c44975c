package scim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/scimstate"
)

// The request forms other SCIM clients document for their provisioning (docs/scim.md has a
// section per client): each client's own life of a user and a group, replayed in order, with the
// receiver's answer and state checked after each step. The bodies follow the vendors' published
// examples: Entra ID's provisioning tutorial and its SCIM compatibility notes, Okta's SCIM 2.0
// reference, the Keycloak SCIM client extensions (built on the UnboundID SCIM SDK, which sends
// PUT with meta.location and members with a relative $ref), and JumpCloud's custom SCIM
// integration.

// clientStep is one request; {uid} and {gid} stand for the ids the receiver answered.
type clientStep struct {
	name, method, path, body string
	contentType              string
	status                   int
	check                    func(t *testing.T, f *fixture, r reply)
}

// replayClient sends the steps in order; the first user and group created give {uid} and {gid}.
func replayClient(t *testing.T, steps []clientStep) *fixture {
	t.Helper()
	f := newFixture(t, 0)
	ids := map[string]string{}
	for _, s := range steps {
		if t.Failed() {
			return f
		}
		f.clock.advance(time.Second)
		fill := func(x string) string {
			for k, v := range ids {
				x = strings.ReplaceAll(x, k, v)
			}
			return x
		}
		headers := map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": mediaType}
		if s.contentType != "" {
			headers["Content-Type"] = s.contentType
		}
		r := f.send(s.method, fill(s.path), fill(s.body), headers)
		if r.status != s.status {
			t.Fatalf("%s: %s %s = %d, want %d: %s", s.name, s.method, s.path, r.status, s.status, r.raw)
		}
		if s.method == "POST" && r.status == 201 {
			key := "{uid}"
			if strings.HasSuffix(s.path, "/Groups") {
				key = "{gid}"
			}
			if _, taken := ids[key]; !taken {
				ids[key] = r.str(t, "id")
			}
		}
		if s.check != nil {
			s.check(t, f, r)
		}
	}
	return f
}

func total(t *testing.T, r reply, want int) {
	t.Helper()
	if got := r.at(t, "totalResults"); got != float64(want) {
		t.Errorf("totalResults %v, want %d: %s", got, want, r.raw)
	}
}

func onlyUser(t *testing.T, f *fixture) scimstate.User {
	t.Helper()
	s := f.state()
	if len(s.Users) != 1 {
		t.Fatalf("%d users stored, want 1", len(s.Users))
	}
	for _, u := range s.Users {
		return u
	}
	return scimstate.User{}
}

func onlyGroup(t *testing.T, f *fixture) scimstate.Group {
	t.Helper()
	s := f.state()
	if len(s.Groups) != 1 {
		t.Fatalf("%d groups stored, want 1", len(s.Groups))
	}
	for _, g := range s.Groups {
		return g
	}
	return scimstate.Group{}
}

const enterpriseUser = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func TestEntraID(t *testing.T) {
	replayClient(t, []clientStep{
		{name: "Entra looks the user up by its matching attribute first", method: "GET", path: `/scim/v2/Users?filter=userName eq "ada@contoso.example"`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 0) }},
		{name: "user create with the enterprise extension", method: "POST", path: "/scim/v2/Users", status: 201,
			body: `{"schemas":["` + SchemaUser + `","` + enterpriseUser + `"],"externalId":"0a21f0f2-8d2a-4f8e-bf98-7e4d3f4b2c11",` +
				`"userName":"ada@contoso.example","active":true,"displayName":"Ada Lovelace",` +
				`"emails":[{"primary":"True","type":"work","value":"ada@contoso.example"}],"meta":{"resourceType":"User"},` +
				`"name":{"formatted":"Ada Lovelace","familyName":"Lovelace","givenName":"Ada"},"roles":[],` +
				`"` + enterpriseUser + `":{"employeeNumber":"701","department":"Engines"}}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if u := onlyUser(t, f); !u.Active || u.PrimaryEmail() != "ada@contoso.example" || !u.Emails[0].Primary {
					t.Errorf("stored %+v", u)
				}
			}},
		{name: "the user is found by externalId", method: "GET", path: `/scim/v2/Users?filter=externalId eq "0a21f0f2-8d2a-4f8e-bf98-7e4d3f4b2c11"`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
		{name: "and by its work address, as Entra matches on emails", method: "GET",
			path: `/scim/v2/Users?filter=emails[type eq "work"].value eq "ada@contoso.example"`, status: 200,
			check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
		{name: "multi-valued and extension attributes in capitalised operations", method: "PATCH", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[` +
				`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"ada.king@contoso.example"},` +
				`{"op":"Replace","path":"name.familyName","value":"King"},` +
				`{"op":"Add","path":"` + enterpriseUser + `:manager","value":"2819c223-7f76-453a-919d-413861904646"},` +
				`{"op":"Add","path":"phoneNumbers[type eq \"work\"].value","value":"+44 20 7946 0000"},` +
				`{"op":"Add","path":"title","value":"Countess"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if u := onlyUser(t, f); u.PrimaryEmail() != "ada.king@contoso.example" || u.Name.FamilyName != "King" || len(u.Emails) != 1 {
					t.Errorf("stored %+v", u)
				}
			}},
		{name: "disabled with a boolean as a string", method: "PATCH", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if onlyUser(t, f).Active {
					t.Error("still active")
				}
			}},
		{name: "enabled again without a path", method: "PATCH", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Replace","value":{"active":"True","name.givenName":"Augusta"}}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if u := onlyUser(t, f); !u.Active || u.Name.GivenName != "Augusta" {
					t.Errorf("stored %+v", u)
				}
			}},
		{name: "the group is looked up without its members", method: "GET", path: `/scim/v2/Groups?excludedAttributes=members&filter=displayName eq "Engines"`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 0) }},
		{name: "group create", method: "POST", path: "/scim/v2/Groups", status: 201,
			body: `{"schemas":["` + SchemaGroup + `"],"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"Engines","meta":{"resourceType":"Group"}}`},
		{name: "member added with a null $ref", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":"{uid}"}]}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 1 {
					t.Errorf("members %v", g.Members)
				}
			}},
		{name: "membership checked with a filter on id and members", method: "GET",
			path: `/scim/v2/Groups?excludedAttributes=members&filter=id eq "{gid}" and members[value eq "{uid}"]`, status: 200,
			check: func(t *testing.T, _ *fixture, r reply) {
				total(t, r, 1)
				if _, has := r.at(t, "Resources.0").(map[string]any)["members"]; has {
					t.Errorf("members not excluded: %s", r.raw)
				}
			}},
		{name: "group renamed", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Replace","path":"displayName","value":"Analytical Engines"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); g.DisplayName != "Analytical Engines" {
					t.Errorf("group %+v", g)
				}
			}},
		{name: "member removed with the value list", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":"{uid}"}]}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 0 {
					t.Errorf("members %v", g.Members)
				}
			}},
		{name: "user deleted", method: "DELETE", path: "/scim/v2/Users/{uid}", status: 204},
	})
}

func TestOkta(t *testing.T) {
	replayClient(t, []clientStep{
		{name: "Okta looks the user up by userName, paged", method: "GET", path: `/scim/v2/Users?filter=userName eq "grace@example.com"&startIndex=1&count=100`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 0) }},
		{name: "user create with a password and groups, which are ignored", method: "POST", path: "/scim/v2/Users", status: 201,
			body: `{"schemas":["` + SchemaUser + `"],"userName":"grace@example.com","name":{"givenName":"Grace","familyName":"Hopper"},` +
				`"emails":[{"primary":true,"value":"grace@example.com","type":"work"}],"displayName":"Grace Hopper","locale":"en-US",` +
				`"externalId":"00ujl29u0le5T6Aj10h7","groups":[],"password":"1mz050nq","active":true}`},
		{name: "the user by id", method: "GET", path: "/scim/v2/Users/{uid}", status: 200},
		{name: "a profile update replaces the user", method: "PUT", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaUser + `"],"id":"{uid}","userName":"grace@example.com","name":{"givenName":"Grace","familyName":"Murray Hopper"},` +
				`"emails":[{"primary":true,"value":"grace@example.com","type":"work"}],"displayName":"Grace Murray Hopper","locale":"en-US",` +
				`"externalId":"00ujl29u0le5T6Aj10h7","groups":[],"active":true,"meta":{"resourceType":"User"}}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if u := onlyUser(t, f); u.DisplayName != "Grace Murray Hopper" || u.Name.FamilyName != "Murray Hopper" {
					t.Errorf("stored %+v", u)
				}
			}},
		{name: "deactivation without a path", method: "PATCH", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if onlyUser(t, f).Active {
					t.Error("still active")
				}
			}},
		{name: "group push", method: "POST", path: "/scim/v2/Groups", status: 201,
			body: `{"schemas":["` + SchemaGroup + `"],"displayName":"Test SCIMv2","members":[]}`},
		{name: "groups listed page by page", method: "GET", path: "/scim/v2/Groups?startIndex=1&count=100", status: 200,
			check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
		{name: "group renamed by a replace without a path", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"replace","value":{"id":"{gid}","displayName":"Test SCIMv2 renamed"}}]}`},
		{name: "member added with its display", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"{uid}","display":"grace@example.com"}]}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 1 || g.DisplayName != "Test SCIMv2 renamed" {
					t.Errorf("group %+v", g)
				}
			}},
		{name: "member removed by a value filter", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"remove","path":"members[value eq \"{uid}\"]"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 0 {
					t.Errorf("members %v", g.Members)
				}
			}},
		{name: "the group replaced with its members", method: "PUT", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaGroup + `"],"id":"{gid}","displayName":"Test SCIMv2","members":[{"value":"{uid}","display":"grace@example.com"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 1 || g.DisplayName != "Test SCIMv2" {
					t.Errorf("group %+v", g)
				}
			}},
		{name: "group deleted", method: "DELETE", path: "/scim/v2/Groups/{gid}", status: 204},
	})
}

func TestKeycloak(t *testing.T) {
	replayClient(t, []clientStep{
		{name: "user create as JSON, with roles", method: "POST", path: "/scim/v2/Users", contentType: "application/json", status: 201,
			body: `{"schemas":["` + SchemaUser + `"],"externalId":"5b8d0c6e-8b44-4d3e-9e0f-5d1c2b3a4f60","userName":"alan","displayName":"Alan Turing",` +
				`"emails":[{"value":"alan@example.org","primary":true}],"active":true,"roles":[{"value":"matrix-user"}]}`},
		{name: "group create with members given by value and relative $ref", method: "POST", path: "/scim/v2/Groups", contentType: "application/json", status: 201,
			body: `{"schemas":["` + SchemaGroup + `"],"externalId":"0e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b","displayName":"bletchley",` +
				`"members":[{"value":"{uid}","$ref":"Users/{uid}"}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if r.str(t, "members.0.type") != "User" {
					t.Errorf("member not typed from its id: %s", r.raw)
				}
			}},
		{name: "the users are found by externalId", method: "GET", path: `/scim/v2/Users?filter=externalId eq "5b8d0c6e-8b44-4d3e-9e0f-5d1c2b3a4f60"`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
		{name: "and the groups", method: "GET", path: `/scim/v2/Groups?filter=externalId eq "0e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b"`,
			status: 200, check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
		{name: "a refresh replaces the group, meta.location included", method: "PUT", path: "/scim/v2/Groups/{gid}", contentType: "application/json", status: 200,
			body: `{"schemas":["` + SchemaGroup + `"],"id":"{gid}","externalId":"0e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b","displayName":"bletchley-park",` +
				`"members":[{"$ref":"Users/{uid}"}],"meta":{"location":"Groups/{gid}"}}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 1 || g.DisplayName != "bletchley-park" {
					t.Errorf("group %+v", g)
				}
			}},
		{name: "a disabled user replaced", method: "PUT", path: "/scim/v2/Users/{uid}", contentType: "application/json", status: 200,
			body: `{"schemas":["` + SchemaUser + `"],"id":"{uid}","externalId":"5b8d0c6e-8b44-4d3e-9e0f-5d1c2b3a4f60","userName":"alan","displayName":"Alan Turing",` +
				`"emails":[{"value":"alan@example.org","primary":true}],"active":false,"roles":[],"meta":{"location":"Users/{uid}"}}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if onlyUser(t, f).Active {
					t.Error("still active")
				}
			}},
		{name: "user deleted", method: "DELETE", path: "/scim/v2/Users/{uid}", status: 204},
	})
}

func TestJumpCloud(t *testing.T) {
	replayClient(t, []clientStep{
		{name: "user create", method: "POST", path: "/scim/v2/Users", status: 201,
			body: `{"schemas":["` + SchemaUser + `"],"userName":"kat@example.com","externalId":"5f3d4c2b1a0e9d8c7b6a5f4e",` +
				`"name":{"givenName":"Katherine","familyName":"Johnson"},"emails":[{"value":"kat@example.com","type":"work","primary":true}],` +
				`"active":true,"displayName":"Katherine Johnson"}`},
		{name: "group create", method: "POST", path: "/scim/v2/Groups", status: 201,
			body: `{"schemas":["` + SchemaGroup + `"],"displayName":"Orbits","members":[]}`},
		{name: "member added", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"add","path":"members","value":[{"value":"{uid}"}]}]}`},
		{name: "member removed with the path members and a value list, without a filter", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"remove","path":"members","value":[{"value":"{uid}"}]}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if g := onlyGroup(t, f); len(g.Members) != 0 {
					t.Errorf("members %v", g.Members)
				}
			}},
		{name: "group renamed", method: "PATCH", path: "/scim/v2/Groups/{gid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"replace","path":"displayName","value":"Trajectories"}]}`},
		{name: "user suspended", method: "PATCH", path: "/scim/v2/Users/{uid}", status: 200,
			body: `{"schemas":["` + SchemaPatchOp + `"],"Operations":[{"op":"replace","path":"active","value":false}]}`,
			check: func(t *testing.T, f *fixture, r reply) {
				if onlyUser(t, f).Active {
					t.Error("still active")
				}
			}},
		{name: "the renamed group by filter", method: "GET", path: `/scim/v2/Groups?filter=displayName eq "Trajectories"`, status: 200,
			check: func(t *testing.T, _ *fixture, r reply) { total(t, r, 1) }},
	})
}

// TestFilters: the filter grammar of RFC 7644 §3.4.2.2 on every attribute the receiver answers,
// with case-insensitive strings except for id, externalId and member values.
func TestFilters(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201) // id-1
	f.do("POST", "/scim/v2/Users", bobBody).must(t, 201)   // id-2
	f.do("POST", "/scim/v2/Users", `{"userName":"carol","active":false,"emails":[{"value":"carol@example.net","type":"work"}]}`).must(t, 201)
	f.do("POST", "/scim/v2/Groups", `{"displayName":"staff","externalId":"pk-staff","members":[{"value":"id-1"},{"value":"id-2"}]}`).must(t, 201) // id-4
	f.do("POST", "/scim/v2/Groups", `{"displayName":"alumni","members":[{"value":"id-3"},{"value":"id-4"}]}`).must(t, 201)                        // id-5
	users := func(filter string) []string {
		t.Helper()
		r := f.do("GET", "/scim/v2/Users?filter="+filter, "").must(t, 200)
		var out []string
		for _, res := range r.at(t, "Resources").([]any) {
			out = append(out, res.(map[string]any)["userName"].(string))
		}
		return out
	}
	groups := func(filter string) []string {
		t.Helper()
		r := f.do("GET", "/scim/v2/Groups?filter="+filter, "").must(t, 200)
		var out []string
		for _, res := range r.at(t, "Resources").([]any) {
			out = append(out, res.(map[string]any)["displayName"].(string))
		}
		return out
	}
	for _, tc := range []struct {
		filter string
		group  bool
		want   []string
	}{
		{`userName eq "ALICE"`, false, []string{"alice"}},
		{`userName sw "a" or userName ew "ol"`, false, []string{"alice", "carol"}},
		{`userName co "o" and active eq true`, false, []string{"bob"}},
		{`not (active eq true)`, false, []string{"carol"}},
		{`active ne true`, false, []string{"carol"}},
		{`(userName eq "alice" or userName eq "bob") and not (displayName pr)`, false, []string{"bob"}},
		{`externalId eq "A1B2C3UID"`, false, nil},
		{`externalId eq "a1b2c3uid"`, false, []string{"alice"}},
		{`name.givenName eq "alice"`, false, []string{"alice"}},
		{`emails.value ew ".net"`, false, []string{"carol"}},
		{`emails[type eq "work" and value co "example"]`, false, []string{"carol"}},
		{`emails[type eq "work"].value eq "carol@example.net"`, false, []string{"carol"}},
		{`emails pr`, false, []string{"alice", "carol"}},
		{`title pr`, false, nil},
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob"`, false, []string{"bob"}},
		{`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1"`, false, nil},
		{`meta.lastModified gt "2000-01-01T00:00:00Z"`, false, []string{"alice", "bob", "carol"}},
		{`meta.resourceType eq "User" and userName lt "b"`, false, []string{"alice"}},
		{`displayName eq null`, false, []string{"bob", "carol"}},
		{`members[value eq "id-1"]`, true, []string{"staff"}},
		{`members.value eq "id-4"`, true, []string{"alumni"}},
		{`members[type eq "Group"]`, true, []string{"alumni"}},
		{`members.display eq "ALICE"`, true, []string{"staff"}},
		{`id eq "id-5" or externalId eq "pk-staff"`, true, []string{"alumni", "staff"}},
		{`externalId pr`, true, []string{"staff"}},
	} {
		var got []string
		if tc.group {
			got = groups(tc.filter)
		} else {
			got = users(tc.filter)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.filter, got, tc.want)
		}
	}
}

// TestAttributesAndSearch: attributes and excludedAttributes shape every answer, for any
// attribute; POST …/.search queries as GET does, at the root across both types.
func TestAttributesAndSearch(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201)                                                // id-1
	f.do("POST", "/scim/v2/Groups", `{"displayName":"admins","members":[{"value":"id-1"}]}`).must(t, 201) // id-2
	f.do("POST", "/scim/v2/Groups", `{"displayName":"alpha","externalId":"x","members":[]}`).must(t, 201) // id-3
	keys := func(v any) []string {
		m := v.(map[string]any)
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		path string
		want []string // the answer's keys
		sub  func(t *testing.T, r reply)
	}{
		{"/scim/v2/Users/id-1?attributes=userName", []string{"id", "schemas", "userName"}, nil},
		{"/scim/v2/Users/id-1?attributes=urn:ietf:params:scim:schemas:core:2.0:User:displayName,active", []string{"active", "displayName", "id", "schemas"}, nil},
		{"/scim/v2/Users/id-1?attributes=name.givenName,emails.value,name.familyName", []string{"emails", "id", "name", "schemas"}, func(t *testing.T, r reply) {
			if got := keys(r.at(t, "name")); !slices.Equal(got, []string{"familyName", "givenName"}) {
				t.Errorf("name keys %v", got)
			}
			if got := keys(r.at(t, "emails.0")); !slices.Equal(got, []string{"value"}) {
				t.Errorf("email keys %v", got)
			}
		}},
		{"/scim/v2/Users/id-1?excludedAttributes=emails,name.formatted,meta,id", []string{"active", "displayName", "externalId", "id", "name", "schemas", "userName"}, func(t *testing.T, r reply) {
			if got := keys(r.at(t, "name")); !slices.Equal(got, []string{"familyName", "givenName"}) {
				t.Errorf("name keys %v", got)
			}
		}},
		{"/scim/v2/Groups/id-2?attributes=members.value", []string{"id", "members", "schemas"}, func(t *testing.T, r reply) {
			if got := keys(r.at(t, "members.0")); !slices.Equal(got, []string{"value"}) {
				t.Errorf("member keys %v", got)
			}
		}},
		{"/scim/v2/Groups/id-2?excludedAttributes=members", []string{"displayName", "id", "meta", "schemas"}, nil},
	} {
		r := f.do("GET", tc.path, "").must(t, 200)
		if got := keys(r.body); !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys %v, want %v", tc.path, got, tc.want)
		}
		if tc.sub != nil {
			tc.sub(t, r)
		}
	}
	r := f.do("GET", "/scim/v2/Groups?attributes=displayName", "").must(t, 200)
	if got := keys(r.at(t, "Resources.0")); !slices.Equal(got, []string{"displayName", "id", "schemas"}) {
		t.Errorf("list with attributes: keys %v", got)
	}

	// Root search: users first, then groups, each sorted; paged; shaped.
	r = f.do("POST", "/scim/v2/.search", `{"schemas":["`+SchemaSearchRequest+`"],"filter":"displayName sw \"a\" or userName sw \"a\"",`+
		`"attributes":["displayName","userName"],"startIndex":1,"count":10}`).must(t, 200)
	total(t, r, 3)
	if r.str(t, "Resources.0.userName") != "alice" || r.str(t, "Resources.1.displayName") != "admins" || r.str(t, "Resources.2.displayName") != "alpha" {
		t.Errorf("root search %s", r.raw)
	}
	if _, has := r.at(t, "Resources.1").(map[string]any)["members"]; has {
		t.Errorf("a group answered members it was not asked for: %s", r.raw)
	}
	r = f.do("POST", "/scim/v2/Groups/.search", `{"filter":"displayName sw \"a\"","startIndex":"2","count":"1","excludedAttributes":"members"}`).must(t, 200)
	total(t, r, 2)
	if r.str(t, "Resources.0.displayName") != "alpha" || r.at(t, "itemsPerPage") != float64(1) {
		t.Errorf("group search page 2 %s", r.raw)
	}
	r = f.do("POST", "/scim/v2/Users/.search", `{"schemas":["`+SchemaSearchRequest+`"]}`).must(t, 200)
	total(t, r, 1)
	f.do("POST", "/scim/v2/Groups/.search", `{"filter":"userName eq \"alice\""}`).checkError(t, 400, "invalidFilter")
}

// TestMultiValuedPatch: PATCH of e-mail addresses by value filter (RFC 7644 §3.5.2), and members
// whose type is missing or unknown, taken by their id.
func TestMultiValuedPatch(t *testing.T) {
	f := newFixture(t, 0)
	f.do("POST", "/scim/v2/Users", aliceBody).must(t, 201) // other, primary: alice@example.org
	patch := func(ops string) reply {
		return f.do("PATCH", "/scim/v2/Users/id-1", `{"schemas":["`+SchemaPatchOp+`"],"Operations":[`+ops+`]}`).must(t, 200)
	}
	emails := func() []scimstate.Email { return f.state().Users["id-1"].Emails }
	patch(`{"op":"add","path":"emails[type eq \"work\"].value","value":"alice@work.example"}`)
	if got := emails(); len(got) != 2 || got[1] != (scimstate.Email{Value: "alice@work.example", Type: "work"}) {
		t.Fatalf("after adding a work address: %+v", got)
	}
	patch(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"a.anders@work.example"},` +
		`{"op":"replace","path":"emails[primary eq true].type","value":"home"}`)
	if got := emails(); got[0] != (scimstate.Email{Value: "alice@example.org", Type: "home", Primary: true}) || got[1].Value != "a.anders@work.example" {
		t.Fatalf("after the replaces: %+v", got)
	}
	patch(`{"op":"replace","path":"emails[type eq \"work\"]","value":{"primary":"True","value":"alice@new.example"}}`)
	if got := emails(); got[1] != (scimstate.Email{Value: "alice@new.example", Type: "work", Primary: true}) {
		t.Fatalf("after replacing the work address whole: %+v", got)
	}
	patch(`{"op":"remove","path":"emails[type eq \"home\"]"}`)
	if got := emails(); len(got) != 1 || got[0].Type != "work" {
		t.Fatalf("after removing the home address: %+v", got)
	}

	f.do("POST", "/scim/v2/Users", bobBody).must(t, 201)                  // id-2
	f.do("POST", "/scim/v2/Groups", `{"displayName":"sub"}`).must(t, 201) // id-3
	r := f.do("POST", "/scim/v2/Groups", `{"displayName":"mixed","members":[{"value":"id-1","type":"Robot"},{"value":"id-2"},`+
		`{"value":"id-3","type":"User"},{"$ref":"https://bot.example/scim/v2/Users/id-1"}]}`).must(t, 201)
	if got := r.memberValues(t); !slices.Equal(got, []string{"id-1", "id-2", "id-3"}) {
		t.Errorf("members %v", got)
	}
	for i, want := range []string{"User", "User", "Group"} {
		if got := r.str(t, "members."+string(rune('0'+i))+".type"); got != want {
			t.Errorf("member %d typed %q, want %q from its id: %s", i, got, want, r.raw)
		}
	}
	f.do("PATCH", "/scim/v2/Groups/id-4", `{"Operations":[{"op":"remove","path":"members[type eq \"Group\"]"}]}`).must(t, 200)
	if got := f.state().Groups["id-4"].Members; !slices.Equal(got, []string{"id-1", "id-2"}) {
		t.Errorf("after removing the group members: %v", got)
	}
}
