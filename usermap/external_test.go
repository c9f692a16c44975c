package usermap_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/usermap"
)

// adminAPI is a Synapse admin API stand-in answering external-ID lookups from links, counting
// the lookups of each subject; a subject in failing answers 500.
type adminAPI struct {
	mu      sync.Mutex
	links   map[string]id.UserID
	failing map[string]bool
	asked   map[string]int
}

func newAdminAPI(t *testing.T, links map[string]id.UserID) (*adminAPI, *appservice.Matrix) {
	a := &adminAPI{links: links, failing: map[string]bool{}, asked: map[string]int{}}
	const prefix = "/_synapse/admin/v1/auth_providers/oidc-authentik/users/"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer tok" || !strings.HasPrefix(r.URL.Path, prefix) {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}`))
			return
		}
		subject := strings.TrimPrefix(r.URL.Path, prefix)
		a.mu.Lock()
		a.asked[subject]++
		user, ok := a.links[subject]
		fail := a.failing[subject]
		a.mu.Unlock()
		switch {
		case fail:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"errcode":"M_UNKNOWN","error":"Internal server error"}`))
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errcode":"M_NOT_FOUND","error":"User not found"}`))
		default:
			_ = json.NewEncoder(w).Encode(map[string]any{"user_id": user})
		}
	}))
	t.Cleanup(srv.Close)
	m, err := appservice.New(appservice.Options{HomeserverURL: srv.URL, BotUserID: "@sync:example.org", AccessToken: "tok",
		Timeout: 5 * time.Second, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return a, m
}

func (a *adminAPI) lookups() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]int{}
	for k, v := range a.asked {
		out[k] = v
	}
	clear(a.asked)
	return out
}

// memCache is an in-memory ExternalCache.
type memCache struct {
	mu sync.Mutex
	m  map[string]usermap.CachedID
}

func (c *memCache) ExternalIDs(_ context.Context, provider string) (map[string]usermap.CachedID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]usermap.CachedID{}
	for k, v := range c.m {
		if p, s, _ := strings.Cut(k, "\x00"); p == provider {
			out[s] = v
		}
	}
	return out, nil
}

func (c *memCache) PutExternalID(_ context.Context, provider, subject string, v usermap.CachedID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[provider+"\x00"+subject] = v
	return nil
}

// source is a fixed Authentik stand-in.
type source map[string]directory.Membership

func (s source) EffectiveMembers(_ context.Context, names []string) map[string]directory.Membership {
	out := map[string]directory.Membership{}
	for _, n := range names {
		if m, ok := s[n]; ok {
			out[n] = m
		}
	}
	return out
}

func TestExternalIDDirectory(t *testing.T) {
	api, m := newAdminAPI(t, map[string]id.UserID{"uid-alice": "@alice:example.org", "uid-bob": "@bob:example.org"})
	cache := &memCache{m: map[string]usermap.CachedID{}}
	clock := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	src := source{"staff": {Users: []directory.User{
		{PK: 1, Username: "alice", UID: "uid-alice"},
		{PK: 2, Username: "bob", UID: "uid-bob"},
		{PK: 3, Username: "carol", UID: "uid-carol"}, // never signed in: no Matrix account yet
	}}}
	d := &usermap.Directory{Source: src, Log: zerolog.Nop(), External: &usermap.ExternalResolver{
		Provider: "oidc-authentik", Subject: usermap.SubjectUID, Refresh: time.Hour, Lookup: m, Cache: cache,
		Now: func() time.Time { return clock }}}
	members := func() ([]id.UserID, error) {
		g := d.Members(t.Context(), []string{"staff"})["staff"]
		var out []id.UserID
		for _, mem := range g.Members {
			out = append(out, mem.UserID)
		}
		return out, g.Err
	}
	check := func(step string, wantUsers []id.UserID, wantErr bool, wantLookups map[string]int) {
		t.Helper()
		got, err := members()
		if strings.Join(toStrings(got), ",") != strings.Join(toStrings(wantUsers), ",") || (err != nil) != wantErr {
			t.Errorf("%s: members %v err %v; want %v, error %v", step, got, err, wantUsers, wantErr)
		}
		if l := api.lookups(); !equalCounts(l, wantLookups) {
			t.Errorf("%s: lookups %v, want %v", step, l, wantLookups)
		}
	}
	both := []id.UserID{"@alice:example.org", "@bob:example.org"}
	check("first cycle asks for everyone", both, false, map[string]int{"uid-alice": 1, "uid-bob": 1, "uid-carol": 1})
	check("a cycle with no changes asks nothing", both, false, nil)

	// Alice is renamed in Authentik: her uid, and so her Matrix ID, stay.
	src["staff"].Users[0].Username = "alice.smith"
	clock = clock.Add(11 * time.Minute)
	check("after a rename only the user without an account is asked again", both, false, map[string]int{"uid-carol": 1})

	// Carol signs in; her link is found once the negative answer is old enough.
	api.mu.Lock()
	api.links["uid-carol"] = "@carol:example.org"
	api.failing["uid-bob"] = true
	api.mu.Unlock()
	clock = clock.Add(time.Hour)
	check("stale answers are refreshed; a failed lookup keeps the last answer but marks the group incomplete",
		[]id.UserID{"@alice:example.org", "@bob:example.org", "@carol:example.org"}, true,
		map[string]int{"uid-alice": 1, "uid-bob": 1, "uid-carol": 1})
}

func TestExternalIDSubjects(t *testing.T) {
	for _, tc := range []struct {
		subject string
		user    directory.User
		asked   string
		errPart string
	}{
		{usermap.SubjectUID, directory.User{PK: 7, Username: "a", UID: "h7"}, "h7", ""},
		{usermap.SubjectPK, directory.User{PK: 7, Username: "a"}, "7", ""},
		{usermap.SubjectUsername, directory.User{PK: 7, Username: "a"}, "a", ""},
		{"attribute:sub", directory.User{PK: 7, Username: "a", Attributes: map[string]any{"sub": "s-7"}}, "s-7", ""},
		{"attribute:sub", directory.User{PK: 7, Username: "a"}, "", "has no attribute:sub"},
		{usermap.SubjectUID, directory.User{PK: 7, Username: "a"}, "", "has no uid"},
	} {
		t.Run(tc.subject+"/"+tc.asked, func(t *testing.T) {
			api, m := newAdminAPI(t, map[string]id.UserID{tc.asked: "@x:example.org"})
			d := &usermap.Directory{Source: source{"g": {Users: []directory.User{tc.user}}}, Log: zerolog.Nop(),
				External: &usermap.ExternalResolver{Provider: "oidc-authentik", Subject: tc.subject, Lookup: m}}
			g := d.Members(t.Context(), []string{"g"})["g"]
			if tc.errPart != "" {
				if g.Err == nil || !strings.Contains(g.Err.Error(), tc.errPart) || len(g.Members) != 0 {
					t.Errorf("got %+v, want no member and an error mentioning %q", g, tc.errPart)
				}
				return
			}
			if g.Err != nil || len(g.Members) != 1 || g.Members[0].UserID != "@x:example.org" || api.lookups()[tc.asked] != 1 {
				t.Errorf("got %+v", g)
			}
		})
	}
	if err := usermap.CheckSubject("email"); err == nil {
		t.Error("email accepted as a subject")
	}
}

func toStrings(us []id.UserID) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = string(u)
	}
	return out
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
