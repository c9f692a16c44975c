package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/scimstate"
)

const testToken = "scim-test-token-4c2e9a71"

// memStore is the Store of the tests: the snapshot in memory, copied on every read and write so
// that nobody shares maps with it, and a way to make the next writes fail.
type memStore struct {
	mu        sync.Mutex
	snap      scimstate.Snapshot
	applied   int
	loads     int // reads of the whole state
	failApply error
}

func newMemStore() *memStore { return &memStore{snap: scimstate.Empty()} }

func (m *memStore) SCIMState(context.Context) (scimstate.Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	return cloneSnapshot(m.snap), nil
}

func (m *memStore) SCIMVersion(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snap.Version, nil
}

func (m *memStore) ApplySCIM(_ context.Context, c scimstate.Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failApply != nil {
		return m.failApply
	}
	if c.Base != m.snap.Version {
		return fmt.Errorf("at version %d, not %d: %w", m.snap.Version, c.Base, scimstate.ErrStale)
	}
	next := cloneSnapshot(m.snap)
	next.Apply(cloneChange(c))
	m.snap = next
	m.applied++
	return nil
}

func cloneSnapshot(s scimstate.Snapshot) scimstate.Snapshot {
	out := s
	out.Users = maps.Clone(s.Users)
	out.Groups = make(map[string]scimstate.Group, len(s.Groups))
	for id, g := range s.Groups {
		g.Members = slices.Clone(g.Members)
		out.Groups[id] = g
	}
	for id, u := range out.Users {
		u.Emails = slices.Clone(u.Emails)
		out.Users[id] = u
	}
	if out.Users == nil {
		out.Users = map[string]scimstate.User{}
	}
	return out
}

func cloneChange(c scimstate.Change) scimstate.Change {
	if c.PutUser != nil {
		u := *c.PutUser
		u.Emails = slices.Clone(u.Emails)
		c.PutUser = &u
	}
	if c.PutGroup != nil {
		g := *c.PutGroup
		c.PutGroup = &g
	}
	c.AddMembers, c.RemoveMembers = slices.Clone(c.AddMembers), slices.Clone(c.RemoveMembers)
	return c
}

// fakeNow is a clock the test moves by hand.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeNow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// start is the instant the tests' clocks start from.
var start = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// changes records what the handler told OnChange.
type changes struct {
	mu  sync.Mutex
	got []string
}

func (c *changes) record(groups []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, strings.Join(groups, ","))
}

func (c *changes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// fixture is a handler on a memStore with a clock the test moves and ids id-1, id-2… in
// creation order.
type fixture struct {
	t       *testing.T
	store   *memStore
	clock   *fakeNow
	res     *Resources
	h       *Handler
	changes *changes
	nextID  int
}

func newFixture(t *testing.T, settle time.Duration) *fixture {
	t.Helper()
	f := &fixture{t: t, store: newMemStore(), clock: &fakeNow{t: start}, changes: &changes{}}
	f.open(settle)
	return f
}

// open (re)creates Resources and Handler on the fixture's store, as a restart does.
func (f *fixture) open(settle time.Duration) {
	f.t.Helper()
	res, err := Open(f.t.Context(), f.store, Settings{Settle: settle, Now: f.clock.now, Log: zerolog.Nop()})
	if err != nil {
		f.t.Fatal(err)
	}
	h, err := New(Options{Token: testToken, Resources: res, OnChange: f.changes.record, Log: zerolog.Nop(),
		NewID: func() string { f.nextID++; return fmt.Sprintf("id-%d", f.nextID) }})
	if err != nil {
		f.t.Fatal(err)
	}
	f.res, f.h = res, h
}

// reply is an answer as a test reads it.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request with the token, as Authentik does (application/scim+json).
func (f *fixture) do(method, path, body string) reply {
	f.t.Helper()
	return f.send(method, path, body, map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": mediaType})
}

func (f *fixture) send(method, path, body string, headers map[string]string) reply {
	f.t.Helper()
	// Tests write filters as they read ("userName eq \"alice\""); the wire has them encoded.
	if p, query, ok := strings.Cut(path, "?"); ok {
		values, err := url.ParseQuery(query)
		if err != nil {
			f.t.Fatalf("query %q: %v", query, err)
		}
		path = p + "?" + values.Encode()
	}
	req := httptest.NewRequestWithContext(f.t.Context(), method, path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	r := reply{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &r.body); err != nil {
			f.t.Fatalf("%s %s answered %d with a body that is no JSON object: %v\n%s", method, path, rec.Code, err, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != mediaType {
			f.t.Errorf("%s %s answered with Content-Type %q, want %s", method, path, ct, mediaType)
		}
	}
	return r
}

// must fails unless the reply has the status.
func (r reply) must(t *testing.T, status int) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	return r
}

// str reads a string at a dotted path of the reply's body ("meta.location", "Resources.0.id").
func (r reply) str(t *testing.T, path string) string {
	t.Helper()
	v := r.at(t, path)
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s is %#v, not a string, in %s", path, v, r.raw)
	}
	return s
}

func (r reply) at(t *testing.T, path string) any {
	t.Helper()
	var v any = r.body
	for part := range strings.SplitSeq(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			var i int
			if _, err := fmt.Sscan(part, &i); err != nil || i >= len(c) {
				t.Fatalf("%s: no element %s in %s", path, part, r.raw)
			}
			v = c[i]
		default:
			t.Fatalf("%s: nothing at %s in %s", path, part, r.raw)
		}
	}
	return v
}

// memberValues returns the values of a group reply's members.
func (r reply) memberValues(t *testing.T) []string {
	t.Helper()
	list, ok := r.body["members"].([]any)
	if !ok {
		t.Fatalf("members is %#v, not a list, in %s", r.body["members"], r.raw)
	}
	out := []string{}
	for _, m := range list {
		out = append(out, m.(map[string]any)["value"].(string))
	}
	return out
}

// checkError holds when the reply is RFC 7644 error JSON with the status and scimType.
func (r reply) checkError(t *testing.T, status int, scimType string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d: %s", r.status, status, r.raw)
		return
	}
	want := map[string]any{"schemas": []any{SchemaError}, "status": fmt.Sprint(status)}
	if scimType != "" {
		want["scimType"] = scimType
	}
	got := maps.Clone(r.body)
	detail, _ := got["detail"].(string)
	delete(got, "detail")
	if !reflect.DeepEqual(got, want) || detail == "" {
		t.Errorf("error body %s, want %v with a detail", r.raw, want)
	}
}

// state is the store's state now.
func (f *fixture) state() scimstate.Snapshot {
	f.t.Helper()
	s, err := f.store.SCIMState(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}
