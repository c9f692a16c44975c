package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/store"
)

// levelOf reads user's power level in room as Synapse holds it; ok is false when the users map
// has no entry for them (the room's users_default applies).
func levelOf(t *testing.T, room id.RoomID, user id.UserID) (level int, ok bool) {
	t.Helper()
	content, err := env.hs.State(context.Background(), env.users["owner"], room, "m.room.power_levels", "")
	mustOK(t, err)
	users, _ := content["users"].(map[string]any)
	v, ok := users[string(user)].(float64)
	return int(v), ok
}

// waitLevel waits until user has level in room; -1 means "no entry" (back to users_default).
func waitLevel(t *testing.T, room id.RoomID, user id.UserID, want int) {
	t.Helper()
	err := harness.WaitFor(context.Background(), 30*time.Second, func() (bool, error) {
		got, ok := levelOf(t, room, user)
		if !ok {
			got = -1
		}
		return got == want, fmt.Errorf("%s has level %d in %s, want %d", user, got, room, want)
	})
	mustOK(t, err)
}

// powerGrants reads the bot's stored grants without disturbing it.
func powerGrants(t *testing.T, dataDir string) map[plan.RoomUser]plan.PowerGrant {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), store.Options{DataDir: dataDir, BackupRetention: 3, ReadOnly: true})
	mustOK(t, err)
	defer st.Close()
	g, err := st.PowerGrants(context.Background())
	mustOK(t, err)
	return g
}

// powerEventsBy lists the m.room.power_levels events user sent in room, oldest first.
func powerEventsBy(t *testing.T, room id.RoomID, user id.UserID) []harness.Event {
	t.Helper()
	evs, err := env.hs.Messages(context.Background(), env.users["owner"], room, 200)
	mustOK(t, err)
	var out []harness.Event
	for _, ev := range evs {
		if ev.Type == "m.room.power_levels" && ev.Sender == user {
			out = append(out, ev)
		}
	}
	return out
}

// TestPowerLevelsFromGroups: members of a "moderators" group get PL 50, all in one power-levels
// event; a member who leaves the group is demoted after the grace period, one who comes back in
// time keeps the level, and a user the bot did not promote (set to 50 by hand) is left alone.
func TestPowerLevelsFromGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	room := newRoom(t, false, "power-mods")
	// Frank was made a moderator by hand before the bot ran.
	mustOK(t, env.hs.SetPowerLevel(ctx, env.users["owner"], room, uid("frank"), 50))
	ak := directory(t, "power-moderators", "alice", "bob", "frank")
	const grace = 10 * time.Second
	// remove: false keeps the test on power levels: leaving the group demotes without a kick.
	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: grace,
		edit: spaceMappings(map[string]any{"group": "power-moderators", "room": string(room), "power_level": 50, "remove": false})}, "")
	// Raised in the cycle that joined them (startBot waited for it), not one cycle later.
	for _, u := range []string{"alice", "bob"} {
		if l, _ := levelOf(t, room, uid(u)); l != 50 {
			t.Errorf("%s has level %d after the bot's first cycle, want 50", u, l)
		}
	}
	for _, u := range []string{"alice", "bob", "frank"} {
		waitMembership(t, room, uid(u), "join")
	}
	waitLevel(t, room, uid("alice"), 50)
	waitLevel(t, room, uid("bob"), 50)

	// Both promotions went out in one event, and the hand-made moderator is not the bot's.
	evs := powerEventsBy(t, room, env.client.ID)
	if len(evs) != 1 {
		t.Errorf("the bot sent %d power-levels events, want 1 with both promotions", len(evs))
	}
	grants := powerGrants(t, b.dataDir)
	for _, u := range []string{"alice", "bob"} {
		if g := grants[plan.RoomUser{Room: room, User: uid(u)}]; g.Level != 50 || !g.DemoteAt.IsZero() {
			t.Errorf("grant of %s = %+v, want level 50 and no demotion", u, g)
		}
	}
	if _, ok := grants[plan.RoomUser{Room: room, User: uid("frank")}]; ok {
		t.Error("the bot recorded a grant for frank, whom it never promoted")
	}

	// Alice, Bob and Frank leave the group; Bob comes back before his grace period ends.
	ak.RemoveMembers("power-moderators", "alice", "bob", "frank")
	left := time.Now()
	err := harness.WaitFor(ctx, 20*time.Second, func() (bool, error) {
		g := powerGrants(t, b.dataDir)
		a, bb := g[plan.RoomUser{Room: room, User: uid("alice")}], g[plan.RoomUser{Room: room, User: uid("bob")}]
		return !a.DemoteAt.IsZero() && !bb.DemoteAt.IsZero(), fmt.Errorf("demotions pending: alice %v, bob %v", a.DemoteAt, bb.DemoteAt)
	})
	mustOK(t, err)
	ak.AddMembers("power-moderators", "bob")
	if l, _ := levelOf(t, room, uid("alice")); l != 50 {
		t.Errorf("alice was demoted to %d before her grace period ended", l)
	}
	waitLevel(t, room, uid("alice"), -1)
	if waited := time.Since(left); waited < grace {
		t.Errorf("alice was demoted %s after leaving the group, before the %s grace period", waited, grace)
	}
	b.waitCycles(2)
	if l, _ := levelOf(t, room, uid("bob")); l != 50 {
		t.Errorf("bob, back in the group in time, has level %d, want 50", l)
	}
	if l, _ := levelOf(t, room, uid("frank")); l != 50 {
		t.Errorf("frank, promoted by hand, has level %d, want 50 left alone", l)
	}
	if m := membership(t, room, uid("alice")); m.Membership != "join" {
		t.Errorf("alice is %q; a demotion is not a removal", m.Membership)
	}
	grants = powerGrants(t, b.dataDir)
	if _, ok := grants[plan.RoomUser{Room: room, User: uid("alice")}]; ok {
		t.Error("alice's grant is still stored after her demotion")
	}
	if g := grants[plan.RoomUser{Room: room, User: uid("bob")}]; g.Level != 50 || !g.DemoteAt.IsZero() {
		t.Errorf("bob's grant = %+v, want level 50 with the demotion cancelled", g)
	}
	if n := len(powerEventsBy(t, room, env.client.ID)); n != 2 {
		t.Errorf("the bot sent %d power-levels events in all, want 2 (promotions, alice's demotion)", n)
	}
}

// adminPutUser creates or changes a Synapse account through the admin API.
func adminPutUser(t *testing.T, user id.UserID, body map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPut, env.hs.URL+"/_synapse/admin/v2/users/"+url.PathEscape(string(user)), bytes.NewReader(data))
	mustOK(t, err)
	req.Header.Set("Authorization", "Bearer "+env.hs.Admin().Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	mustOK(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin PUT user %s: %s", user, resp.Status)
	}
}

// externalIDMapping sets user_mapping to Synapse external IDs of provider.
func externalIDMapping(provider string, then func(map[string]any)) func(map[string]any) {
	return func(conf map[string]any) {
		conf["user_mapping"] = map[string]any{"source": "synapse_external_id",
			"external_id": map[string]any{"auth_provider": provider, "subject": "uid", "refresh": "1h"}}
		then(conf)
	}
}

// TestExternalIDMapping: a Matrix account linked to an Authentik user's uid (as Synapse's OIDC
// login links it) is found through the admin API whatever the account is called; renaming the
// user in Authentik changes nothing, a member without a linked account is skipped without
// holding removals back, and lookups are cached.
func TestExternalIDMapping(t *testing.T) {
	t.Parallel()
	const provider = "oidc-e2e-power"
	room := newRoom(t, false, "external-ids")
	ak := directory(t, "ext-staff")
	hana := ak.AddUser("hana")
	ak.AddUser("ivo") // never signed in to Matrix: no linked account
	ak.AddMembers("ext-staff", "hana", "ivo", "alice")
	// The account name has nothing to do with the Authentik username: only the link finds it.
	account := id.UserID("@sso-7f3e:" + serverName)
	adminPutUser(t, account, map[string]any{"password": "pw-sso-7f3e",
		"external_ids": []map[string]any{{"auth_provider": provider, "external_id": hana.UID}}})
	// Alice's account is linked too, so that she can leave the group below.
	alice, _ := ak.User("alice")
	adminPutUser(t, uid("alice"), map[string]any{"external_ids": []map[string]any{{"auth_provider": provider, "external_id": alice.UID}}})

	b := startBot(t, ak, botConfig{joinMethod: "force", forceVia: "admin_api", grace: time.Hour,
		edit: externalIDMapping(provider, spaceMappings(map[string]any{"group": "ext-staff", "room": string(room)}))}, "")
	waitMembership(t, room, account, "join")
	waitMembership(t, room, uid("alice"), "join")

	ak.RenameUser("hana", "hana.k")
	b.waitCycles(3)
	if m := membership(t, room, account); m.Membership != "join" {
		t.Errorf("%s after the rename: %q, want still joined", account, m.Membership)
	}
	pending, _ := pendingRemovals(t, b.dataDir)
	if len(pending) != 0 {
		t.Errorf("removals pending after a rename: %v", pending)
	}
	for _, w := range b.logLines("unknown this cycle") {
		t.Errorf("a group counted as unknown: %v", w)
	}

	// ivo has no account, yet the group is known: alice leaving it schedules her removal.
	ak.RemoveMembers("ext-staff", "alice")
	err := harness.WaitFor(context.Background(), 20*time.Second, func() (bool, error) {
		pending, _ := pendingRemovals(t, b.dataDir)
		_, ok := pending[plan.RoomUser{Room: room, User: uid("alice")}]
		return ok, fmt.Errorf("alice's removal not pending yet: %v", pending)
	})
	mustOK(t, err)
	if lines := b.logLines("External ID cache unavailable"); len(lines) != 0 {
		t.Errorf("the cache failed: %v", lines[0])
	}
}

// TestExternalIDMappingNeedsAServerAdmin: the appservice bot is no server admin, so a bot
// configured for external IDs refuses to start and says why.
func TestExternalIDMappingNeedsAServerAdmin(t *testing.T) {
	t.Parallel()
	room := newRoom(t, true, "external-ids-refused")
	ak := directory(t, "ext-refused", "alice")
	b := launchBot(t, ak, botConfig{appservice: true, grace: time.Hour,
		edit: externalIDMapping("oidc-authentik", spaceMappings(map[string]any{"group": "ext-refused", "room": string(room)}))}, "")
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the bot kept running without admin rights for external IDs")
	}
	data := b.logTail(20)
	if b.exitErr == nil || !strings.Contains(data, "synapse_external_id") || !strings.Contains(data, "server admin") {
		t.Errorf("exit %v; log tail:\n%s", b.exitErr, data)
	}
}
