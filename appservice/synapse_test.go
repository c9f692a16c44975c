package appservice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
	"authentik-matrix-sync/plan"
)

// synapseEnv is one real homeserver shared by the subtests, with an appservice registration
// pointing at a running transactions server.
type synapseEnv struct {
	syn        *harness.Synapse
	reg        *Registration
	alice, bob harness.User
	ghost      id.UserID // never registered
	pushed     *pushLog
}

// pushLog records what the homeserver pushed to the transactions server.
type pushLog struct {
	mu     sync.Mutex
	events []*event.Event
}

func (p *pushLog) handle(_ context.Context, evt *event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, evt)
}

func (p *pushLog) has(match func(*event.Event) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.events {
		if match(e) {
			return true
		}
	}
	return false
}

func startSynapse(t *testing.T, ctx context.Context) *synapseEnv {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := GenerateRegistration("authentik-sync-test", "http://"+ln.Addr().String(), "authentik-sync", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	regPath := filepath.Join(dir, "registration.yaml")
	if err := reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	pushed := &pushLog{}
	srv, err := NewServer(ServerOptions{HSToken: reg.HSToken, OnEvent: pushed.handle, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()
	t.Cleanup(func() {
		stopSrv()
		if err := <-served; err != nil {
			t.Errorf("transactions server: %v", err)
		}
	})

	syn, err := harness.Start(ctx, harness.Options{Dir: filepath.Join(dir, "synapse"), AppserviceRegistrations: []string{regPath}})
	if err != nil {
		t.Fatalf("start Synapse: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("homeserver log tail:\n%s", syn.LogTail(40))
		}
		_ = syn.Stop()
	})
	env := &synapseEnv{syn: syn, reg: reg, pushed: pushed, ghost: "@ghost:localhost"}
	if env.alice, err = syn.RegisterUser(ctx, "alice", "alice-password", false); err != nil {
		t.Fatal(err)
	}
	if env.bob, err = syn.RegisterUser(ctx, "bob", "bob-password", false); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *synapseEnv) matrix(t *testing.T, opts Options) *Matrix {
	t.Helper()
	opts.HomeserverURL = env.syn.URL
	opts.Timeout = 20 * time.Second
	opts.Log = zerolog.Nop()
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (env *synapseEnv) appserviceOptions(via string) Options {
	return Options{
		BotUserID:      "@authentik-sync:localhost",
		Appservice:     true,
		ASToken:        env.reg.ASToken,
		RegistrationID: env.reg.ID,
		ForceJoinVia:   via,
	}
}

// TestSynapse runs every reconcile.Rooms method and Check against a real Synapse, in appservice mode
// and in client mode, and checks the outcome through the harness's admin view.
func TestSynapse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Synapse")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	env := startSynapse(t, ctx)

	t.Run("appservice mode", func(t *testing.T) {
		m := env.matrix(t, env.appserviceOptions(ForceJoinAuto))
		if err := m.Check(ctx, true); err != nil {
			t.Fatalf("Check: %v", err)
		}
		// The as_token without ?user_id= acts as the bot: that is how the harness joins it.
		env.exercise(t, ctx, m, harness.User{ID: m.BotUserID(), Token: env.reg.ASToken}, "as")

		err := harness.WaitFor(ctx, 10*time.Second, func() (bool, error) {
			return env.pushed.has(func(e *event.Event) bool {
				return e.Type == event.StateMember && e.GetStateKey() == string(m.BotUserID()) &&
					e.Content.AsMember().Membership == event.MembershipInvite
			}), nil
		})
		if err != nil {
			t.Errorf("the homeserver did not push the bot's invite to the transactions server: %v", err)
		}
	})

	t.Run("appservice mode with the admin route", func(t *testing.T) {
		m := env.matrix(t, env.appserviceOptions(ForceJoinAdminAPI))
		err := m.Check(ctx, true)
		if err == nil || !strings.Contains(err.Error(), "not a server admin") {
			t.Fatalf("Check with a bot that is no server admin = %v; want a 'not a server admin' error", err)
		}
		if err := m.Check(ctx, false); err != nil {
			t.Fatalf("Check without force joins: %v", err)
		}
		env.makeServerAdmin(t, ctx, m.BotUserID())
		if err := m.Check(ctx, true); err != nil {
			t.Fatalf("Check after making the bot a server admin: %v", err)
		}
		env.exercise(t, ctx, m, harness.User{ID: m.BotUserID(), Token: env.reg.ASToken}, "asadmin")
	})

	t.Run("client mode", func(t *testing.T) {
		bot, err := env.syn.RegisterUser(ctx, "clientbot", "clientbot-password", true)
		if err != nil {
			t.Fatal(err)
		}
		m := env.matrix(t, Options{BotUserID: bot.ID, AccessToken: bot.Token})
		if err := m.Check(ctx, true); err != nil {
			t.Fatalf("Check: %v", err)
		}
		env.exercise(t, ctx, m, bot, "client")
	})

	t.Run("client mode without admin rights", func(t *testing.T) {
		bot, err := env.syn.RegisterUser(ctx, "plainbot", "plainbot-password", false)
		if err != nil {
			t.Fatal(err)
		}
		m := env.matrix(t, Options{BotUserID: bot.ID, AccessToken: bot.Token})
		err = m.Check(ctx, true)
		if err == nil || !strings.Contains(err.Error(), "not a server admin") {
			t.Fatalf("Check with force joins = %v; want a 'not a server admin' error", err)
		}
		if err := m.Check(ctx, false); err != nil {
			t.Fatalf("Check without force joins: %v", err)
		}
		// UserExists falls back to profiles.
		for user, want := range map[id.UserID]bool{env.alice.ID: true, env.ghost: false} {
			got, err := m.UserExists(ctx, user)
			if err != nil || got != want {
				t.Errorf("UserExists(%s) = %v, %v; want %v", user, got, err, want)
			}
		}
		wrong := env.matrix(t, Options{BotUserID: env.alice.ID, AccessToken: bot.Token})
		if err := wrong.Check(ctx, false); err == nil {
			t.Error("Check passed with a token of another user")
		}
		expired := env.matrix(t, Options{BotUserID: bot.ID, AccessToken: "not-a-token"})
		if err := expired.Check(ctx, false); err == nil {
			t.Error("Check passed with an invalid token")
		}
	})

	t.Run("appservice mode with an unknown as_token", func(t *testing.T) {
		opts := env.appserviceOptions(ForceJoinAuto)
		opts.ASToken = "unknown"
		if err := env.matrix(t, opts).Check(ctx, false); err == nil {
			t.Error("Check passed with an as_token the homeserver does not know")
		}
	})

	if env.pushed.has(func(e *event.Event) bool { return e == nil }) {
		t.Error("a nil event was delivered")
	}
	if exists, err := env.syn.UserExists(ctx, env.ghost); err != nil || exists {
		t.Errorf("after all subtests, %s exists = %v (%v); no account may ever be created", env.ghost, exists, err)
	}
}

// exercise runs the membership operations in fresh rooms, checking each outcome through the
// admin API and through RoomState.
func (env *synapseEnv) exercise(t *testing.T, ctx context.Context, m *Matrix, bot harness.User, tag string) {
	syn, admin := env.syn, env.syn.Admin()
	alice, bob, ghost := env.alice.ID, env.bob.ID, env.ghost

	room, err := syn.CreateRoom(ctx, admin, harness.RoomOptions{
		Name: "staff " + tag, Alias: "staff-" + tag, Invite: []id.UserID{bot.ID},
		PowerLevelUsers: map[id.UserID]int{bot.ID: 90},
	})
	if err != nil {
		t.Fatal(err)
	}

	// Before joining, the bot sees nothing.
	if _, err := m.RoomState(ctx, room); !errors.Is(err, ErrBotNotInRoom) {
		t.Errorf("RoomState before the bot joined = %v, want ErrBotNotInRoom", err)
	}
	if err := syn.Join(ctx, bot, room); err != nil {
		t.Fatal(err)
	}
	if got, err := m.ResolveRoom(ctx, "#staff-"+tag+":localhost"); err != nil || got != room {
		t.Errorf("ResolveRoom = %s, %v; want %s", got, err, room)
	}

	st := roomState(t, ctx, m, room)
	if st.Members.Get(bot.ID).Membership != plan.MembershipJoin || st.PowerLevels.Level(bot.ID) != 90 {
		t.Errorf("bot in RoomState: %+v at level %d; want joined at 90", st.Members.Get(bot.ID), st.PowerLevels.Level(bot.ID))
	}
	// Current Synapse creates room version 12 rooms, whose creator has unlimited power.
	if !st.PowerLevels.Creators[admin.ID] || st.PowerLevels.Level(admin.ID) != plan.Unlimited {
		t.Errorf("creators = %v; want the room's creator %s with unlimited power", st.PowerLevels.Creators, admin.ID)
	}
	if st.PowerLevels.Kick != 50 || st.PowerLevels.Ban != 50 || st.PowerLevels.Invite != 0 {
		t.Errorf("levels = %+v; want Synapse's private_chat defaults invite 0, kick 50, ban 50", st.PowerLevels)
	}

	for user, want := range map[id.UserID]bool{alice: true, bob: true, ghost: false} {
		if got, err := m.UserExists(ctx, user); err != nil || got != want {
			t.Errorf("UserExists(%s) = %v, %v; want %v", user, got, err, want)
		}
	}

	expect := func(step string, user id.UserID, membership string) {
		t.Helper()
		ms, err := syn.Memberships(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		if ms[user].Membership != membership {
			t.Errorf("%s: %s is %q on the server, want %q", step, user, ms[user].Membership, membership)
		}
		if st := roomState(t, ctx, m, room); st.Members.Get(user).Membership != membership {
			t.Errorf("%s: RoomState says %s is %q, want %q", step, user, st.Members.Get(user).Membership, membership)
		}
	}

	must(t, "invite alice", m.Invite(ctx, room, alice, "member of staff"))
	expect("invite", alice, plan.MembershipInvite)
	if ms, _ := syn.Memberships(ctx, room); ms[alice].Sender != bot.ID || ms[alice].Reason != "member of staff" {
		t.Errorf("invite event: %+v; want sent by the bot with the reason", ms[alice])
	}

	must(t, "force-join invited alice", m.ForceJoin(ctx, room, alice, true))
	expect("force-join after invite", alice, plan.MembershipJoin)

	must(t, "force-join bob", m.ForceJoin(ctx, room, bob, false))
	expect("force-join", bob, plan.MembershipJoin)
	must(t, "force-join bob again", m.ForceJoin(ctx, room, bob, false))
	expect("force-join repeated", bob, plan.MembershipJoin)

	err = m.ForceJoin(ctx, room, ghost, false)
	if !IsNoAccount(err) {
		t.Errorf("ForceJoin of a user without account = %v; want ErrNoAccount", err)
	}
	if exists, err := syn.UserExists(ctx, ghost); err != nil || exists {
		t.Errorf("%s exists = %v (%v) after ForceJoin; no account may be created", ghost, exists, err)
	}

	must(t, "kick alice", m.Kick(ctx, room, alice, "left staff"))
	expect("kick", alice, plan.MembershipLeave)
	if st := roomState(t, ctx, m, room); st.Members.Get(alice).Sender != bot.ID {
		t.Errorf("kick: RoomState sender %s, want the bot (so the sync knows it removed alice)", st.Members.Get(alice).Sender)
	}

	must(t, "ban bob", m.Ban(ctx, room, bob, "left staff"))
	expect("ban", bob, plan.MembershipBan)
	if err := m.Invite(ctx, room, bob, ""); err == nil {
		t.Error("inviting a banned user succeeded; the homeserver should refuse until unbanned")
	}
	must(t, "unban bob", m.Unban(ctx, room, bob, "back in staff"))
	expect("unban", bob, plan.MembershipLeave)
	must(t, "invite bob after unban", m.Invite(ctx, room, bob, ""))
	expect("invite after unban", bob, plan.MembershipInvite)

	if err := m.Kick(ctx, room, admin.ID, ""); !IsForbidden(err) {
		t.Errorf("kicking the room creator = %v; want a forbidden error", err)
	}

	// A room version 11 room: no unlimited creators, the creator holds 100.
	old, err := syn.CreateRoom(ctx, admin, harness.RoomOptions{
		Name: "old " + tag, RoomVersion: "11", Invite: []id.UserID{bot.ID},
		PowerLevelUsers: map[id.UserID]int{bot.ID: 50},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := syn.Join(ctx, bot, old); err != nil {
		t.Fatal(err)
	}
	if st := roomState(t, ctx, m, old); len(st.PowerLevels.Creators) != 0 || st.PowerLevels.Level(admin.ID) != 100 {
		t.Errorf("room v11: creators %v, creator level %d; want none and 100", st.PowerLevels.Creators, st.PowerLevels.Level(admin.ID))
	}

	// Once kicked, the bot must not trust the state it is still shown.
	if err := syn.Kick(ctx, admin, room, bot.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.RoomState(ctx, room); !errors.Is(err, ErrBotNotInRoom) {
		t.Errorf("RoomState after the bot was kicked = %v, want ErrBotNotInRoom", err)
	}
}

func roomState(t *testing.T, ctx context.Context, m *Matrix, room id.RoomID) plan.RoomState {
	t.Helper()
	st, err := m.RoomState(ctx, room)
	if err != nil {
		t.Fatalf("RoomState(%s): %v", room, err)
	}
	return st
}

func must(t *testing.T, step string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
}

// makeServerAdmin promotes a user with Synapse's admin API; the harness has no call for it.
func (env *synapseEnv) makeServerAdmin(t *testing.T, ctx context.Context, user id.UserID) {
	t.Helper()
	url := fmt.Sprintf("%s/_synapse/admin/v2/users/%s", env.syn.URL, user)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader([]byte(`{"admin": true}`)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+env.syn.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("make %s a server admin: HTTP %d", user, resp.StatusCode)
	}
}
