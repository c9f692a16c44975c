package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/harness"
)

const scimToken = "e2e-scim-token-6a0f2c9d41"

// withSCIM makes the SCIM state the directory: the receiver on its own listener, a short settle
// time, and no debounce window.
func withSCIM(listen string) func(map[string]any) {
	return func(conf map[string]any) {
		conf["directory"] = map[string]any{"source": "scim"}
		conf["scim"] = map[string]any{"listen": listen, "token": scimToken, "settle": "2s", "debounce": "0s"}
	}
}

// scimCall sends a request as Authentik's SCIM provider does and returns the status and the
// decoded answer.
func scimCall(t testing.TB, addr, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+"/scim/v2"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Accept", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("%s %s answered %d with no JSON: %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out
}

// scimUser is a user create as Authentik's default SCIM property mapping makes it.
func scimUser(name string) string {
	return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"active":true,`+
		`"emails":[{"primary":true,"type":"other","value":"%[1]s@example.org"}],"externalId":"uid-%[1]s",`+
		`"name":{"familyName":"","formatted":"%[1]s","givenName":"%[1]s"},"displayName":"%[1]s","userName":"%[1]s","photos":[]}`, name)
}

const scimPatchOp = `"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`

// TestSCIMDirectoryInvitesAndKicksAfterGrace runs the bot with directory.source scim against the
// real Synapse: Authentik's SCIM provider (played by the test, with its request shapes) creates
// two users and a group and adds them; both are invited. A PATCH removing one of them gets that
// user kicked once the grace period is over, and not before. The state survives a restart.
func TestSCIMDirectoryInvitesAndKicksAfterGrace(t *testing.T) {
	t.Parallel()
	const grace = 10 * time.Second
	ctx := context.Background()
	room := newRoom(t, false, "scim")
	for _, n := range []string{"scim-amy", "scim-ben"} {
		if err := registerAppserviceUser(ctx, env.hs.URL, env.asToken, n); err != nil {
			t.Fatal(err)
		}
	}
	ak := newAuthentik(t) // still configured, never asked for members
	listen := freeAddr(t)
	cfg := botConfig{grace: grace, mappings: []mapping{{Group: "scim-team", Room: room}}, edit: withSCIM(listen)}
	b := startBot(t, ak, cfg, "")

	if code, _ := scimCall(t, listen, "", "GET", "/ServiceProviderConfig", ""); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d, want 401", code)
	}
	if code, body := scimCall(t, listen, "wrong-token-wrong-token", "POST", "/Users", scimUser("scim-eve")); code != http.StatusUnauthorized ||
		body["schemas"].([]any)[0] != "urn:ietf:params:scim:api:messages:2.0:Error" {
		t.Fatalf("with a wrong token: %d %v, want 401 with SCIM error JSON", code, body)
	}
	code, cfgBody := scimCall(t, listen, scimToken, "GET", "/ServiceProviderConfig", "")
	if code != http.StatusOK || cfgBody["patch"].(map[string]any)["supported"] != true {
		t.Fatalf("ServiceProviderConfig: %d %v", code, cfgBody)
	}
	ids := map[string]string{}
	for _, n := range []string{"scim-amy", "scim-ben"} {
		code, body := scimCall(t, listen, scimToken, "POST", "/Users", scimUser(n))
		if code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", n, code, body)
		}
		ids[n] = body["id"].(string)
	}
	code, group := scimCall(t, listen, scimToken, "POST", "/Groups",
		`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"5d9e0c1a-2b3c-4d5e-6f7a-8b9c0d1e2f3a","displayName":"scim-team"}`)
	if code != http.StatusCreated {
		t.Fatalf("create the group: %d %v", code, group)
	}
	gid := group["id"].(string)
	for _, n := range []string{"scim-amy", "scim-ben"} {
		body := `{` + scimPatchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"` + ids[n] + `"}]}]}`
		if code, ans := scimCall(t, listen, scimToken, "PATCH", "/Groups/"+gid, body); code != http.StatusOK {
			t.Fatalf("add %s: %d %v", n, code, ans)
		}
	}
	waitMembership(t, room, uid("scim-amy"), "invite")
	waitMembership(t, room, uid("scim-ben"), "invite")

	// Past the settle time the group is complete; then Authentik removes ben.
	time.Sleep(3 * time.Second)
	removed := time.Now()
	body := `{` + scimPatchOp + `,"Operations":[{"op":"remove","path":"members[value eq \"` + ids["scim-ben"] + `\"]"}]}`
	if code, ans := scimCall(t, listen, scimToken, "PATCH", "/Groups/"+gid, body); code != http.StatusOK {
		t.Fatalf("remove ben: %d %v", code, ans)
	}
	for time.Since(removed) < grace-2*time.Second {
		if m := membership(t, room, uid("scim-ben")); m.Membership != "invite" {
			t.Fatalf("ben is %q %s after the removal, before the %s grace period ended", m.Membership, time.Since(removed).Round(time.Second), grace)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var kicked harness.Membership
	err := harness.WaitFor(ctx, grace+30*time.Second, func() (bool, error) {
		kicked = membership(t, room, uid("scim-ben"))
		return kicked.Membership == "leave", fmt.Errorf("ben is %q", kicked.Membership)
	})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(removed)
	if took < grace {
		t.Errorf("ben kicked %s after the removal, before the %s grace period", took, grace)
	}
	if kicked.Sender != env.client.ID || !strings.Contains(kicked.Reason, "scim-team") {
		t.Errorf("ben's kick: %+v, want one by the bot naming the group", kicked)
	}
	if m := membership(t, room, uid("scim-amy")).Membership; m != "invite" {
		t.Errorf("amy is %q, want still invited", m)
	}
	t.Logf("ben kicked %s after the SCIM removal (grace %s)", took.Round(100*time.Millisecond), grace)

	// The SCIM state is in the store: a restarted bot still knows the group and its member.
	dataDir := b.dataDir
	b.stop()
	startBot(t, ak, cfg, dataDir)
	code, after := scimCall(t, listen, scimToken, "GET", "/Groups/"+gid, "")
	if code != http.StatusOK {
		t.Fatalf("the group after a restart: %d %v", code, after)
	}
	members := after["members"].([]any)
	if len(members) != 1 || members[0].(map[string]any)["value"] != ids["scim-amy"] {
		t.Errorf("members after a restart: %v, want amy only", members)
	}
	if m := membership(t, room, uid("scim-amy")).Membership; m != "invite" {
		t.Errorf("amy is %q after the restart, want still invited", m)
	}
}

// TestSCIMTriggersCyclesWithAuthentikSource: with the default directory (Authentik's API) and
// polling once an hour, a SCIM push that changes a group's members starts a cycle for that
// group's rooms at once, as a webhook does; the cycle reads the members from Authentik.
func TestSCIMTriggersCyclesWithAuthentikSource(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "scim-trigger")
	ak := newAuthentik(t)
	registerUsers(t, ak, "scimtr-amy", "scimtr-ben")
	ak.AddGroup("scimtr-team", "")
	ak.AddMembers("scimtr-team", "scimtr-amy")
	listen := freeAddr(t)
	b := startBot(t, ak, botConfig{grace: time.Hour, mappings: []mapping{{Group: "scimtr-team", Room: room}},
		edit: func(conf map[string]any) {
			conf["sync"].(map[string]any)["interval"] = "1h"
			conf["scim"] = map[string]any{"listen": listen, "token": scimToken, "debounce": "0s"}
		}}, "")
	waitMembership(t, room, uid("scimtr-amy"), "invite")

	// Authentik adds ben to the group: its API has him, and its SCIM provider pushes the change.
	ak.AddMembers("scimtr-team", "scimtr-ben")
	_, ben := scimCall(t, listen, scimToken, "POST", "/Users", scimUser("scimtr-ben"))
	_, group := scimCall(t, listen, scimToken, "POST", "/Groups", `{"displayName":"scimtr-team","externalId":"x"}`)
	body := `{` + scimPatchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"` + ben["id"].(string) + `"}]}]}`
	if code, ans := scimCall(t, listen, scimToken, "PATCH", "/Groups/"+group["id"].(string), body); code != http.StatusOK {
		t.Fatalf("add ben: %d %v", code, ans)
	}
	err := harness.WaitFor(context.Background(), 15*time.Second, func() (bool, error) {
		m := membership(t, room, uid("scimtr-ben")).Membership
		return m == "invite", fmt.Errorf("ben is %q", m)
	})
	if err != nil {
		t.Fatalf("ben not invited within 15 s of the SCIM push (polling is 1 h): %v", err)
	}
	scoped := 0
	for _, line := range b.logLines("Cycle finished") {
		if s, ok := line["scope"].([]any); ok && fmt.Sprint(s) == "[scimtr-team]" {
			scoped++
		}
	}
	if scoped == 0 {
		t.Error("no cycle scoped to [scimtr-team] was logged")
	}
}

// BenchmarkSCIMToJoin measures the time from a SCIM push to the user's join in the real Synapse,
// with the SCIM state as the directory (directory.source: scim) and the default debounce
// window: scimChanges users are added to the mapped group one after another by Authentik's
// PATCH, each once the previous user has joined. It reports the median and 95th percentile.
func BenchmarkSCIMToJoin(b *testing.B) {
	const scimChanges = 50
	ctx := context.Background()
	b.StopTimer()
	var all []time.Duration
	for iter := 0; iter < b.N; iter++ {
		group := fmt.Sprintf("bench-scim-%d", iter)
		room := newRoom(b, true, group)
		users := make([]string, scimChanges)
		for i := range users {
			users[i] = fmt.Sprintf("bench-scim-%d-u%02d", iter, i)
			if err := registerAppserviceUser(ctx, env.hs.URL, env.asToken, users[i]); err != nil {
				b.Fatal(err)
			}
		}
		ak := authentiktest.New(authentikToken) // configured, never asked for members
		b.Cleanup(ak.Close)
		listen := freeAddrTB(b)
		launchWebhookBot(b, ak, room, group, func(conf map[string]any) {
			conf["directory"] = map[string]any{"source": "scim"}
			conf["scim"] = map[string]any{"listen": listen, "token": scimToken, "settle": "0s"}
		})
		ids := map[string]string{}
		for _, u := range users {
			code, body := scimCall(b, listen, scimToken, "POST", "/Users", scimUser(u))
			if code != http.StatusCreated {
				b.Fatalf("create %s: %d %v", u, code, body)
			}
			ids[u] = body["id"].(string)
		}
		code, grp := scimCall(b, listen, scimToken, "POST", "/Groups",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"`+group+`"}`)
		if code != http.StatusCreated {
			b.Fatalf("create the group: %d %v", code, grp)
		}
		gid := grp["id"].(string)
		for _, u := range users {
			patch := `{` + scimPatchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"` + ids[u] + `"}]}]}`
			start := time.Now()
			b.StartTimer()
			if code, ans := scimCall(b, listen, scimToken, "PATCH", "/Groups/"+gid, patch); code != http.StatusOK {
				b.Fatalf("add %s: %d %v", u, code, ans)
			}
			err := harness.WaitFor(ctx, 60*time.Second, func() (bool, error) {
				ms, err := env.hs.Memberships(ctx, room)
				if err != nil {
					return false, err
				}
				m := ms[uid(u)].Membership
				return m == "join" || m == "invite", fmt.Errorf("%s is %q", u, m)
			})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, time.Since(start))
		}
	}
	slices.Sort(all)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(all[len(all)/2]), "median_ms")
	b.ReportMetric(ms(all[(len(all)*95+99)/100-1]), "p95_ms")
	b.ReportMetric(float64(len(all)), "changes")
}

// TestSCIMPlanKeepsMembersOfSubgroups: Authentik's SCIM provider pushes direct group members
// only, so with directory.source scim the bot takes the subgroups from Authentik's group tree.
// A bot that ran on Authentik's API (with the SCIM endpoint filling up, as the switch-over is
// documented) has invited amy (direct member of the mapped group), ben (member of its child
// group) and cid; SCIM then pushes the groups as Authentik does, cid no longer in the parent.
// `plan` under directory.source scim schedules cid's removal and none of ben's.
func TestSCIMPlanKeepsMembersOfSubgroups(t *testing.T) {
	t.Parallel()
	room := newRoom(t, false, "scim-tree")
	ak := newAuthentik(t)
	registerUsers(t, ak, "scimtree-amy", "scimtree-ben", "scimtree-cid")
	parent := ak.AddGroup("scimtree-parent", "")
	child := ak.AddGroup("scimtree-child", "scimtree-parent")
	ak.AddMembers("scimtree-parent", "scimtree-amy", "scimtree-cid")
	ak.AddMembers("scimtree-child", "scimtree-ben")
	listen := freeAddr(t)
	endpoint := func(conf map[string]any) {
		conf["scim"] = map[string]any{"listen": listen, "token": scimToken, "settle": "1s", "debounce": "0s"}
	}
	cfg := botConfig{grace: time.Hour, mappings: []mapping{{Group: "scimtree-parent", Room: room}}, edit: endpoint}
	b := startBot(t, ak, cfg, "")
	for _, u := range []string{"scimtree-amy", "scimtree-ben", "scimtree-cid"} {
		waitMembership(t, room, uid(u), "invite")
	}

	ids := map[string]string{}
	for _, n := range []string{"scimtree-amy", "scimtree-ben", "scimtree-cid"} {
		code, body := scimCall(t, listen, scimToken, "POST", "/Users", scimUser(n))
		if code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", n, code, body)
		}
		ids[n] = body["id"].(string)
	}
	// Authentik's default group mapping: its name as displayName, its pk as externalId; members
	// follow as PATCH requests, users only.
	for _, g := range []struct {
		name, pk string
		members  []string
	}{{"scimtree-parent", parent.PK, []string{"scimtree-amy", "scimtree-cid"}}, {"scimtree-child", child.PK, []string{"scimtree-ben"}}} {
		code, group := scimCall(t, listen, scimToken, "POST", "/Groups",
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"externalId":"`+g.pk+`","displayName":"`+g.name+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", g.name, code, group)
		}
		ids[g.name] = group["id"].(string)
		for _, m := range g.members {
			body := `{` + scimPatchOp + `,"Operations":[{"op":"add","path":"members","value":[{"value":"` + ids[m] + `"}]}]}`
			if code, ans := scimCall(t, listen, scimToken, "PATCH", "/Groups/"+ids[g.name], body); code != http.StatusOK {
				t.Fatalf("add %s to %s: %d %v", m, g.name, code, ans)
			}
		}
	}
	drop := `{` + scimPatchOp + `,"Operations":[{"op":"remove","path":"members[value eq \"` + ids["scimtree-cid"] + `\"]"}]}`
	if code, ans := scimCall(t, listen, scimToken, "PATCH", "/Groups/"+ids["scimtree-parent"], drop); code != http.StatusOK {
		t.Fatalf("remove cid: %d %v", code, ans)
	}
	b.stop()
	ak.RemoveMembers("scimtree-parent", "scimtree-cid")
	time.Sleep(2 * time.Second) // past scim.settle since the last push and each group's creation

	scimCfg := cfg
	scimCfg.edit = func(conf map[string]any) {
		endpoint(conf)
		conf["directory"] = map[string]any{"source": "scim"}
	}
	args, cmdEnv := invocation(t, ak, scimCfg, b.dataDir, freeAddr(t))
	out, err := runCommand(t, args, cmdEnv, "plan")
	if err != nil {
		t.Fatalf("plan failed: %v\n%s", err, out)
	}
	t.Logf("plan:\n%s", out)
	if !strings.Contains(out, "schedule_removal "+string(uid("scimtree-cid"))+" in "+string(room)) {
		t.Errorf("plan does not schedule the removal of cid, who left the group:\n%s", out)
	}
	for _, u := range []string{"scimtree-amy", "scimtree-ben"} {
		if strings.Contains(out, "schedule_removal "+string(uid(u))+" ") {
			t.Errorf("plan schedules the removal of %s, still a member through the group tree:\n%s", u, out)
		}
	}
	if strings.Contains(out, "warning: ") && strings.Contains(out, "scimtree-parent") && strings.Contains(out, "incomplete") {
		t.Errorf("the mapped group is incomplete:\n%s", out)
	}
}
