package adminroom

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// rawEvent builds an event of type typ whose content is exactly content, as a client could send.
func rawEvent(room id.RoomID, sender id.UserID, ts time.Time, typ event.Type, stateKey *string, content map[string]any) *event.Event {
	raw, _ := json.Marshal(content)
	evt := &event.Event{RoomID: room, Sender: sender, Type: typ, StateKey: stateKey, Timestamp: ts.UnixMilli(), ID: "$spoof"}
	evt.Content.VeryRaw = raw
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		panic(err)
	}
	return evt
}

// TestSenderIDDecidesNotDisplayName sends commands from a non-admin dressed up as an admin in
// every way a client controls: display name, mentions, formatted body, extra content fields. The
// bot must judge by the sender's user ID and the homeserver's power levels only.
func TestSenderIDDecidesNotDisplayName(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	key := string(guest)
	// The guest renames themselves after the admin, first as a state event the bot sees.
	f.bot.HandleEvent(ctx, rawEvent(adminRoom, guest, f.clock, event.StateMember, &key,
		map[string]any{"membership": "join", "displayname": string(opUser)}))
	spoofs := []struct {
		name    string
		content map[string]any
	}{
		{"plain command", map[string]any{"msgtype": "m.text", "body": "!sync pause"}},
		{"display name in the content", map[string]any{"msgtype": "m.text", "body": "!sync pause", "displayname": "op", "sender": string(opUser)}},
		{"mentions the admin", map[string]any{"msgtype": "m.text", "body": "!sync pause",
			"m.mentions": map[string]any{"user_ids": []string{string(opUser)}}}},
		{"formatted body names the admin", map[string]any{"msgtype": "m.text", "body": "!sync pause",
			"format": "org.matrix.custom.html", "formatted_body": `<a href="https://matrix.to/#/@op:hs">op</a>: !sync pause`}},
		{"notice type", map[string]any{"msgtype": "m.notice", "body": "!sync pause"}},
	}
	for i, tc := range spoofs {
		t.Run(tc.name, func(t *testing.T) {
			f.clock = f.clock.Add(2 * refusalEvery) // each refusal is answered, so each is visible
			f.bot.HandleEvent(ctx, rawEvent(adminRoom, guest, f.clock, event.EventMessage, nil, tc.content))
			replies := f.mx.take()
			for _, r := range replies {
				if !strings.Contains(r.Plain, "only the bot's admins") {
					t.Errorf("spoof %d answered as if authorised: %q", i, r.Plain)
				}
			}
			if p, _ := f.bot.Paused(ctx); p {
				t.Fatal("a non-admin with a spoofed identity paused the bot")
			}
		})
	}
	// The admin named in the body is not the sender either.
	f.bot.HandleEvent(ctx, rawEvent(adminRoom, guest, f.clock, event.EventMessage, nil,
		map[string]any{"msgtype": "m.text", "body": "@op:hs: !sync pause"}))
	if p, _ := f.bot.Paused(ctx); p {
		t.Fatal("a body naming the admin paused the bot")
	}
	// Control: the real admin is obeyed, so the refusals above are not a broken fixture.
	onlyReply(t, f.say(opUser, "!sync pause"), "Paused")
}

// TestPowerLevelFromHomeserverOnly lowers the moderator's level in the room state the homeserver
// reports: the same sender is refused at once, whatever they claim.
func TestPowerLevelFromHomeserverOnly(t *testing.T) {
	f := newFixture(t)
	onlyReply(t, f.say(modUser, "!sync help"), "help")
	f.mx.mu.Lock()
	f.mx.levels = plan.PowerLevels{Users: map[id.UserID]int{modUser: 49}}
	f.mx.mu.Unlock()
	f.clock = f.clock.Add(2 * refusalEvery)
	onlyReply(t, f.say(modUser, `!sync help "power level 100"`), "only the bot's admins")
}

// TestRepliesEscapeOutsideText puts markup in every piece of outside text a reply can carry: a
// group name, a room ID, a user ID, a removal reason, a command argument.
func TestRepliesEscapeOutsideText(t *testing.T) {
	const script = "<script>alert(1)</script>"
	f := newFixture(t)
	ctx := context.Background()
	evilRoom := id.RoomID("!" + script + ":hs")
	evilUser := id.UserID("@" + script + ":hs")
	f.bot.opts.Policy = plan.Policy{Mappings: []plan.Mapping{{Group: script, Room: evilRoom, Method: plan.MethodInvite}},
		RemoveAction: plan.RemoveKick}
	if err := f.st.PutMember(ctx, plan.ManagedMember{Room: evilRoom, User: evilUser}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutPending(ctx, plan.PendingRemoval{Room: evilRoom, User: evilUser, DueAt: f.clock.Add(time.Hour),
		CreatedAt: f.clock, Reason: "no longer in Authentik group " + script}); err != nil {
		t.Fatal(err)
	}
	commands := []string{
		"!sync mappings",
		"!sync pending",
		"!sync help " + script,
		`!sync cancel "` + string(evilUser) + `"`,
		"!sync audit " + script,
		"!sync " + script,
		"!sync confirm " + script,
	}
	for _, cmd := range commands {
		t.Run(cmd, func(t *testing.T) {
			replies := f.say(opUser, cmd)
			if len(replies) == 0 {
				t.Fatalf("no reply to %q", cmd)
			}
			for _, r := range replies {
				if strings.Contains(strings.ToLower(r.HTML), "<script") {
					t.Errorf("HTML reply carries raw markup: %q", r.HTML)
				}
				if strings.Contains(r.Plain, "script") && !strings.Contains(r.HTML, "&lt;script&gt;") {
					t.Errorf("outside text dropped instead of escaped: plain %q, HTML %q", r.Plain, r.HTML)
				}
			}
		})
	}
	// Notices posted on the bot's own initiative: a held batch names users, rooms and reasons.
	batch := plan.HeldBatch{Why: script, Removals: []plan.HeldRemoval{{Room: evilRoom, User: evilUser, Action: plan.RemoveKick, Reason: script}}}
	batch.ID = plan.BatchID(batch.Removals)
	if _, err := f.bot.HoldRemovals(ctx, batch); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-f.bot.notices:
		if strings.Contains(strings.ToLower(n.HTML), "<script") || !strings.Contains(n.HTML, "&lt;script&gt;") {
			t.Errorf("held-batch notice not escaped: %q", n.HTML)
		}
	default:
		t.Fatal("no notice for the held batch")
	}
}

// TestOversizedCommandGetsAShortReply: a command near the 64 KiB an event holds gets a short
// reply naming the limit. Echoed back, it would make a reply the homeserver refuses (the fake
// refuses one as Synapse does), and the admin would hear nothing.
func TestOversizedCommandGetsAShortReply(t *testing.T) {
	f := newFixture(t)
	huge := strings.Repeat("a", 60000)
	for _, cmd := range []string{
		"!sync " + huge,
		"!sync why @" + huge + ":hs",
		"!sync cancel @alice:hs !" + huge,
		`!sync help "` + huge,
	} {
		t.Run(cmd[:12], func(t *testing.T) {
			r := onlyReply(t, f.say(opUser, cmd), "at most 1024 bytes", "!sync help")
			if len(r.Plain) > 200 || len(r.HTML) > 400 {
				t.Errorf("reply of %d bytes (HTML %d), want a short one: %.200q", len(r.Plain), len(r.HTML), r.Plain)
			}
		})
	}
	// Someone not an admin still gets the refusal, not the limit.
	onlyReply(t, f.say(alice, "!sync "+huge), "only the bot's admins")
}
