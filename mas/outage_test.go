package mas_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/mas"
	"authentik-matrix-sync/mas/mastest"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
	"authentik-matrix-sync/usermap"
)

const (
	provider = "01H8PKNWKKRPCBW4YGH1RWV279"
	room     = id.RoomID("!staff:example.org")
	bot      = id.UserID("@sync:example.org")
)

// rooms is one room in memory; invited users join at once.
type rooms struct {
	mu      sync.Mutex
	members map[id.UserID]plan.RoomMember
	writes  []string
}

var _ reconcile.Rooms = (*rooms)(nil)

func (r *rooms) RoomState(_ context.Context, rm id.RoomID) (plan.RoomState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm != room {
		return plan.RoomState{}, fmt.Errorf("no room %s", rm)
	}
	return plan.RoomState{Members: plan.NewRoomMembers(r.members),
		PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{bot: 100}, Kick: 50, Ban: 50}}, nil
}

func (r *rooms) UserExists(context.Context, id.UserID) (bool, error) { return true, nil }

func (r *rooms) write(kind string, u id.UserID, membership string, sender id.UserID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, kind+" "+string(u))
	r.members[u] = plan.RoomMember{Membership: membership, Sender: sender, Since: time.Now()}
	return nil
}

func (r *rooms) Invite(_ context.Context, _ id.RoomID, u id.UserID, _ string) error {
	return r.write("invite", u, plan.MembershipJoin, u)
}

func (r *rooms) ForceJoin(_ context.Context, _ id.RoomID, u id.UserID, _ bool) error {
	return r.write("join", u, plan.MembershipJoin, u)
}

func (r *rooms) Unban(_ context.Context, _ id.RoomID, u id.UserID, _ string) error {
	return r.write("unban", u, plan.MembershipLeave, bot)
}

func (r *rooms) Kick(_ context.Context, _ id.RoomID, u id.UserID, _ string) error {
	return r.write("kick", u, plan.MembershipLeave, bot)
}

func (r *rooms) Ban(_ context.Context, _ id.RoomID, u id.UserID, _ string) error {
	return r.write("ban", u, plan.MembershipBan, bot)
}

func (r *rooms) kicks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range r.writes {
		if w[:4] == "kick" {
			out = append(out, w)
		}
	}
	return out
}

// group is an Authentik stand-in holding the group "staff".
type group struct {
	mu    sync.Mutex
	users []directory.User
}

func (g *group) EffectiveMembers(context.Context, []string) map[string]directory.Membership {
	g.mu.Lock()
	defer g.mu.Unlock()
	return map[string]directory.Membership{"staff": {Users: slices.Clone(g.users)}}
}

// TestReconcilerRemovesNobodyWhileMASIsDown runs the real reconciler, directory and store over
// the fake MAS: a cycle during a MAS outage kicks nobody, although grace period 0 and a
// "nobody has this ID" reading of the outage would have kicked everyone; once MAS answers
// again, a user who really left the group is kicked, so the setup can remove at all.
func TestReconcilerRemovesNobodyWhileMASIsDown(t *testing.T) {
	ctx := t.Context()
	f := mastest.New(t)
	var mu sync.Mutex
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	f.SetNow(now)
	f.AddProvider(provider, "Authentik")
	alice, bob := f.AddUser("alice"), f.AddUser("bob")
	f.AddLink(provider, "uid-alice", alice.ID)
	f.AddLink(provider, "uid-bob", bob.ID)
	client, err := mas.New(mas.Options{URL: f.URL, ClientID: mastest.ClientID, ClientSecret: mastest.ClientSecret,
		HTTPClient: f.Client(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, store.Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	g := &group{users: []directory.User{{PK: 1, Username: "alice", UID: "uid-alice"}, {PK: 2, Username: "bob", UID: "uid-bob"}}}
	dir := &usermap.Directory{Source: g, Log: zerolog.Nop(), External: &usermap.ExternalResolver{
		Provider: provider, Subject: usermap.SubjectUID, Refresh: time.Hour,
		Lookup: &mas.Lookup{Client: client, Server: "example.org"}, Cache: st, Now: now}}
	rs := &rooms{members: map[id.UserID]plan.RoomMember{bot: {Membership: plan.MembershipJoin, Sender: bot}}}
	rec := reconcile.New(reconcile.Options{
		Directory: dir, Rooms: rs, Store: st, Backup: st, Now: now, Log: zerolog.Nop(), Interval: time.Minute,
		Policy: plan.Policy{Bot: bot, GracePeriod: 0, RemoveAction: plan.RemoveKick,
			Mappings: []plan.Mapping{{Group: "staff", Room: room, Method: plan.MethodInvite}}},
	})
	cycles := func(n int) {
		for range n {
			rec.RunCycle(ctx)
			advance(time.Minute)
		}
	}

	cycles(2)
	if m := plan.NewRoomMembers(rs.members); m.Get("@alice:example.org").Membership != plan.MembershipJoin ||
		m.Get("@bob:example.org").Membership != plan.MembershipJoin {
		t.Fatalf("MAS up: alice and bob were not added; writes %v", rs.writes)
	}

	advance(time.Hour) // every cached lookup is due again
	f.SetDown(true)
	cycles(3)
	if k := rs.kicks(); len(k) != 0 {
		t.Fatalf("MAS down: the reconciler kicked %v", k)
	}

	f.SetDown(false)
	g.mu.Lock()
	g.users = g.users[:1] // bob leaves the group in Authentik
	g.mu.Unlock()
	cycles(2)
	if k := rs.kicks(); !slices.Equal(k, []string{"kick @bob:example.org"}) {
		t.Fatalf("MAS back, bob gone from the group: kicks %v, want bob's only", k)
	}
}
