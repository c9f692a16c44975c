package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/e2e/harness"
)

// TestMembershipRefusalsThatMeanDone sends Synapse the membership changes the room already shows
// (a kick re-sent after the first one went through, a kick of a user who left, an unban of a user
// not banned, an invite of a joined user): Synapse refuses each with a 403, and the bot's client
// takes each as done. A refusal for want of power, or because the bot is not in the room, stays
// an error that says so.
func TestMembershipRefusalsThatMeanDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := env.users["owner"]
	m, err := appservice.New(appservice.Options{HomeserverURL: env.hs.URL, BotUserID: env.client.ID,
		AccessToken: env.client.Token, Log: zerolog.Nop()})
	mustOK(t, err)

	room := newRoom(t, false, "refusals")
	alice, bob, carol := env.users["alice"], env.users["bob"], env.users["carol"]
	for _, u := range []harness.User{alice, carol} {
		mustOK(t, env.hs.Invite(ctx, owner, room, u.ID))
		mustOK(t, env.hs.Join(ctx, u, room))
	}
	mustOK(t, env.hs.Leave(ctx, alice, room))
	// What Synapse itself answers, so the test stands on the real refusal.
	if err := env.hs.Kick(ctx, owner, room, alice.ID); err == nil || !strings.Contains(err.Error(), "not in the room") {
		t.Fatalf("Synapse's answer to a kick of a user who left = %v; want 403 \"The target user is not in the room\"", err)
	}

	done := []struct {
		name string
		call func() error
	}{
		{"kick of a user who left", func() error { return m.Kick(ctx, room, alice.ID, "left group staff") }},
		{"kick of a user never in the room", func() error { return m.Kick(ctx, room, bob.ID, "left group staff") }},
		{"unban of a user not banned", func() error { return m.Unban(ctx, room, alice.ID, "in group staff") }},
		{"invite of a joined user", func() error { return m.Invite(ctx, room, carol.ID, "in group staff") }},
		{"first kick of a joined user", func() error { return m.Kick(ctx, room, carol.ID, "left group staff") }},
		{"the same kick re-sent", func() error { return m.Kick(ctx, room, carol.ID, "left group staff") }},
	}
	for _, tc := range done {
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v; want done", tc.name, err)
		}
	}
	ms, err := env.hs.Memberships(ctx, room)
	mustOK(t, err)
	if got := ms[carol.ID].Membership; got != "leave" {
		t.Errorf("carol is %q after the kicks, want leave", got)
	}

	// The bot at power 0 cannot kick; in a room it never joined it cannot do anything.
	weak := roomWithBot(t, false, "refusals-weak", nil)
	mustOK(t, env.hs.Invite(ctx, owner, weak, bob.ID))
	mustOK(t, env.hs.Join(ctx, bob, weak))
	outside, err := env.hs.CreateRoom(ctx, owner, harness.RoomOptions{Name: "refusals-outside"})
	mustOK(t, err)
	mustOK(t, env.hs.Invite(ctx, owner, outside, bob.ID))
	mustOK(t, env.hs.Join(ctx, bob, outside))
	failed := []struct {
		name string
		room id.RoomID
	}{{"kick without power", weak}, {"kick from a room the bot is not in", outside}}
	for _, tc := range failed {
		err := m.Kick(ctx, tc.room, bob.ID, "left group staff")
		if err == nil || !appservice.IsForbidden(err) || !strings.Contains(err.Error(), "power level") {
			t.Errorf("%s: %v; want a refusal with the power-level hint", tc.name, err)
		}
	}
}
