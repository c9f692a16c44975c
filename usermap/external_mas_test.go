package usermap_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/mas"
	"authentik-matrix-sync/mas/mastest"
	"authentik-matrix-sync/usermap"
)

const masProvider = "01H8PKNWKKRPCBW4YGH1RWV279"

// masGroup is an Authentik stand-in holding one group.
type masGroup struct {
	mu    sync.Mutex
	users []directory.User
}

func (g *masGroup) EffectiveMembers(_ context.Context, names []string) map[string]directory.Membership {
	g.mu.Lock()
	defer g.mu.Unlock()
	return map[string]directory.Membership{names[0]: {Users: slices.Clone(g.users)}}
}

// masCache is an in-memory ExternalCache.
type masCache struct {
	mu sync.Mutex
	m  map[string]usermap.CachedID
}

func (c *masCache) ExternalIDs(context.Context, string) (map[string]usermap.CachedID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]usermap.CachedID, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out, nil
}

func (c *masCache) PutExternalID(_ context.Context, _, subject string, v usermap.CachedID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[subject] = v
	return nil
}

// TestMASOutageRemovesNobody: with identities looked up in MAS, a MAS that is down or failing
// makes the group incomplete (so the reconciler removes nobody from its rooms), the last known
// Matrix IDs still count for additions, and no "nobody has this ID" answer is stored.
func TestMASOutageRemovesNobody(t *testing.T) {
	f := mastest.New(t)
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	f.SetNow(now)
	f.AddProvider(masProvider, "Authentik")
	alice, bob := f.AddUser("alice"), f.AddUser("bob.old")
	f.AddLink(masProvider, "uid-alice", alice.ID)
	f.AddLink(masProvider, "uid-bob", bob.ID)
	client, err := mas.New(mas.Options{URL: f.URL, ClientID: mastest.ClientID, ClientSecret: mastest.ClientSecret,
		HTTPClient: f.Client(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	group := &masGroup{users: []directory.User{
		{PK: 1, Username: "alice", UID: "uid-alice"},
		{PK: 2, Username: "bob", UID: "uid-bob"}, // renamed in Authentik; MAS keeps bob.old
	}}
	cache := &masCache{m: map[string]usermap.CachedID{}}
	d := &usermap.Directory{Source: group, Log: zerolog.Nop(), External: &usermap.ExternalResolver{
		Provider: masProvider, Subject: usermap.SubjectUID, Refresh: time.Hour,
		Lookup: &mas.Lookup{Client: client, Server: "example.org"}, Cache: cache, Now: now}}
	members := func(step string, want []id.UserID, wantKnown bool) {
		t.Helper()
		g := d.Members(t.Context(), []string{"staff"})["staff"]
		var got []id.UserID
		for _, m := range g.Members {
			got = append(got, m.UserID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) || g.Known() != wantKnown {
			t.Errorf("%s: members %v, known %v (err %v); want %v, known %v", step, got, g.Known(), g.Err, want, wantKnown)
		}
	}
	both := []id.UserID{"@alice:example.org", "@bob.old:example.org"}
	members("MAS up", both, true)

	// The answers are an hour old: the next cycle asks MAS again, which is down.
	advance(61 * time.Minute)
	f.SetDown(true)
	group.mu.Lock()
	group.users = append(group.users, directory.User{PK: 3, Username: "carol", UID: "uid-carol"})
	group.mu.Unlock()
	members("MAS down: incomplete, last known IDs kept, the new user waits", both, false)

	f.SetDown(false)
	f.FailAdmin(http.StatusServiceUnavailable)
	members("MAS answering 503: incomplete as well", both, false)

	f.FailAdmin(0)
	f.FailToken(http.StatusInternalServerError)
	f.RevokeTokens() // the cached token is refused, and no new one is issued
	members("no token to be had: incomplete as well", both, false)

	// Nothing the outage answered was stored as "nobody".
	for _, s := range []string{"uid-alice", "uid-bob"} {
		if c := cache.m[s]; c.User == "" {
			t.Errorf("cache of %s lost its user during the outage: %+v", s, c)
		}
	}
	if _, stored := cache.m["uid-carol"]; stored {
		t.Error("carol's failed lookup was cached")
	}

	f.FailToken(0)
	carol := f.AddUser("carol")
	f.AddLink(masProvider, "uid-carol", carol.ID)
	members("MAS back", []id.UserID{"@alice:example.org", "@bob.old:example.org", "@carol:example.org"}, true)
}
