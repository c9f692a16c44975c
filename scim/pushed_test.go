package scim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"authentik-matrix-sync/scim"
	"authentik-matrix-sync/scimstate"
	"authentik-matrix-sync/store"
)

// The contract tests replay the requests a real Authentik 2025.12.4 sent to the receiver
// (testdata/pushed-2025.12.4/README.md says how they were recorded). They outrank what the
// other tests believe Authentik sends.

// pushedDir holds the recorded requests; sharedPushedDir is where they were first put, next to
// the repository.
const (
	pushedDir       = "testdata/pushed-2025.12.4"
	sharedPushedDir = "../../shared/reference/authentik-2025.12.4-pushed"
)

// pushedRequest is one recorded request with the answer the receiver gave then.
type pushedRequest struct {
	file    string
	Version string `json:"authentik_version"`
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   string            `json:"query"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"request"`
	Response struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	} `json:"response"`
}

// loadPushed reads every recorded SCIM request, in the order Authentik sent their kinds.
func loadPushed(t *testing.T) []pushedRequest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(pushedDir, "[0-9][0-9]_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded requests in %s (%v)", pushedDir, err)
	}
	slices.Sort(files)
	out := make([]pushedRequest, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p pushedRequest
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if p.Version != "2025.12.4" {
			t.Fatalf("%s was recorded from Authentik %q", f, p.Version)
		}
		p.file = filepath.Base(f)
		out = append(out, p)
	}
	return out
}

// contract is a receiver over a real SQLite store, as the bot runs it, that speaks in the
// recording's ids: ids maps each id the recording holds to the one this receiver gave the same
// resource, so that a request naming a resource Authentik learnt from an earlier answer names
// the same resource here.
type contract struct {
	t       *testing.T
	st      *store.SQLite
	h       *scim.Handler
	ids     map[string]string
	mu      sync.Mutex
	changed [][]string
}

func newContract(t *testing.T) *contract {
	t.Helper()
	st, err := store.OpenSQLite(t.Context(), store.Options{DataDir: t.TempDir(), BackupRetention: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res, err := scim.Open(t.Context(), st, scim.Settings{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	c := &contract{t: t, st: st, ids: map[string]string{}}
	c.h, err = scim.New(scim.Options{Token: token, Resources: res, Log: zerolog.Nop(), OnChange: func(groups []string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.changed = append(c.changed, groups)
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// takeChanged returns what the writes since the last call reported to the trigger.
func (c *contract) takeChanged() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.changed
	c.changed = nil
	return out
}

// ours rewrites the recording's ids in s to this receiver's.
func (c *contract) ours(s string) string {
	for rec, mine := range c.ids {
		s = strings.ReplaceAll(s, rec, mine)
	}
	return s
}

// recorded rewrites this receiver's ids in s back to the recording's.
func (c *contract) recorded(s string) string {
	for rec, mine := range c.ids {
		s = strings.ReplaceAll(s, mine, rec)
	}
	return s
}

// send makes one request with the headers Authentik sent (its token replaced by the test's) and
// returns the status, headers and body of the answer.
func (c *contract) send(method, path, query string, headers map[string]string, body []byte) *httptest.ResponseRecorder {
	c.t.Helper()
	target := path
	if query != "" {
		target += "?" + query
	}
	req := httptest.NewRequestWithContext(c.t.Context(), method, target, bytes.NewReader(body))
	for k, v := range headers {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization":
			v = "Bearer " + token
		case "Content-Length", "Host":
			continue // taken from the body and the target
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec
}

// create posts a resource the way Authentik does and records that the recording's id recID is
// the one the answer gave.
func (c *contract) create(recID, path, body string) {
	c.t.Helper()
	if _, ok := c.ids[recID]; ok {
		return
	}
	rec := c.send("POST", "/scim/v2/"+path, "", map[string]string{"Authorization": "", "Content-Type": "application/scim+json"}, []byte(c.ours(body)))
	if rec.Code != http.StatusCreated {
		c.t.Fatalf("setting up %s %s: %d %s", path, recID, rec.Code, rec.Body.String())
	}
	var ans struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil || ans.ID == "" {
		c.t.Fatalf("setting up %s %s: answer %s", path, recID, rec.Body.String())
	}
	c.ids[recID] = ans.ID
	c.takeChanged()
}

// givenUser creates the user the recording calls recID, unless it exists, as Authentik created
// it in the requests before the recorded one.
func (c *contract) givenUser(recID, userName string) {
	c.create(recID, "Users", `{"schemas":["`+scim.SchemaUser+`"],"userName":"`+userName+`","active":true,"externalId":"uid-`+userName+`"}`)
}

// givenGroup creates the group the recording calls recID with the members it had before the
// recorded request.
func (c *contract) givenGroup(recID, displayName, externalID string, members []string) {
	var list []string
	for _, m := range members {
		list = append(list, `{"value":"`+m+`"}`)
	}
	c.create(recID, "Groups", `{"schemas":["`+scim.SchemaGroup+`"],"displayName":"`+displayName+`","externalId":"`+externalID+
		`","members":[`+strings.Join(list, ",")+`]}`)
}

// state reads what the store holds now.
func (c *contract) state() scimstate.Snapshot {
	c.t.Helper()
	s, err := c.st.SCIMState(c.t.Context())
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// recordedGroup is the group resource of a recorded answer.
type recordedGroup struct {
	ID          string `json:"id"`
	ExternalID  string `json:"externalId"`
	DisplayName string `json:"displayName"`
	Members     []struct {
		Value   string `json:"value"`
		Display string `json:"display"`
	} `json:"members"`
}

// userOf finds the stored user the recording calls recID.
func (c *contract) userOf(s scimstate.Snapshot, recID string) (scimstate.User, bool) {
	u, ok := s.Users[c.ids[recID]]
	return u, ok && c.ids[recID] != ""
}

// memberNames lists the userNames of a stored group's members.
func memberNames(s scimstate.Snapshot, g scimstate.Group) []string {
	var out []string
	for _, v := range g.Members {
		out = append(out, s.Users[v].UserName)
	}
	slices.Sort(out)
	return out
}

// comparableAnswer is an answer in the recording's ids, without the times of meta (they differ
// by nature) and with members in a stable order.
func (c *contract) comparableAnswer(body []byte) map[string]any {
	c.t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(c.recorded(string(body))), &v); err != nil {
		c.t.Fatalf("answer %s: %v", body, err)
	}
	if m, ok := v["meta"].(map[string]any); ok {
		delete(m, "created")
		delete(m, "lastModified")
	}
	if ms, ok := v["members"].([]any); ok {
		slices.SortFunc(ms, func(a, b any) int {
			return strings.Compare(a.(map[string]any)["value"].(string), b.(map[string]any)["value"].(string))
		})
	}
	return v
}

// TestAuthentikPushedRequests replays every request a real Authentik 2025.12.4 sent, in order,
// against the real handler and a real SQLite store. Each gets a 2xx, the answer has the recorded
// shape (in this receiver's ids), and the store holds what the request meant. The recording
// presupposes resources Authentik created in requests of the same shape before it (their ids came
// from the receiver's earlier answers); each step creates those first.
func TestAuthentikPushedRequests(t *testing.T) {
	c := newContract(t)
	steps := map[string]struct {
		// given creates what the request presupposes, from the recording itself.
		given func(p pushedRequest)
		check func(t *testing.T, p pushedRequest, s scimstate.Snapshot)
		// changed is what the write must report to the trigger; nil for nothing.
		changed [][]string
	}{
		"01_GET_ServiceProviderConfig_200.json": {check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
			if s.Version != 0 {
				t.Errorf("a read wrote the state (version %d)", s.Version)
			}
		}},
		"02_POST_Users_201.json": {check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
			u, ok := c.userOf(s, "9fecfaaa-4649-4010-ade5-f8b58a13b24d")
			if !ok || u.UserName != "akadmin" || !u.Active || u.DisplayName != "authentik Default Admin" || u.PrimaryEmail() != "root@example.com" ||
				u.ExternalID != "64173e826d01f96ff216270ec2338d41bfe25f0a0c24bfd61bed61d3baaa8596" || u.Name.GivenName != "authentik" {
				t.Errorf("stored user %+v (found %v)", u, ok)
			}
		}},
		"03_POST_Groups_201.json": {
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				g := s.Groups[c.ids["8495d8d9-4dad-47e3-965d-e64cfc567921"]]
				if g.DisplayName != "authentik Read-only" || g.ExternalID != "0244413b-7a8a-4586-bf40-7f38f8613ab4" || len(g.Members) != 0 {
					t.Errorf("stored group %+v", g)
				}
			},
			changed: [][]string{{"authentik Read-only"}},
		},
		"04_PATCH_Groups_id_200.json": {
			given: func(p pushedRequest) {
				// The group existed without the member the request adds.
				var g recordedGroup
				mustJSON(t, p.Response.Body, &g)
				c.givenGroup(g.ID, g.DisplayName, g.ExternalID, nil)
			},
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				g := s.Groups[c.ids["48dc6c9f-f873-4bfb-b7e9-33816f9409ed"]]
				if got := memberNames(s, g); !slices.Equal(got, []string{"akadmin"}) {
					t.Errorf("authentik Admins has %v, want akadmin", got)
				}
			},
			changed: [][]string{{"authentik Admins"}},
		},
		"05_PATCH_Groups_id_200.json": {
			given: func(p pushedRequest) {
				// The group had the members of the answer and the one the request removes.
				var g recordedGroup
				mustJSON(t, p.Response.Body, &g)
				var members []string
				for _, m := range g.Members {
					c.givenUser(m.Value, m.Display)
					members = append(members, m.Value)
				}
				c.givenUser("169041ad-a8d3-4966-ae27-4b3ff5615ba0", "removed-member")
				c.givenGroup(g.ID, g.DisplayName, g.ExternalID, append(members, "169041ad-a8d3-4966-ae27-4b3ff5615ba0"))
			},
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				g := s.Groups[c.ids["8991f4a7-5ea7-4d6a-8d8c-011c8136562a"]]
				want := []string{"alice", "carol", "dave", "erin", "judy", "peggy", "quinn", "rupert", "sybil", "trent", "victor"}
				if got := memberNames(s, g); !slices.Equal(got, want) {
					t.Errorf("scimgrp has %v, want %v (removed-member gone)", got, want)
				}
				if _, ok := c.userOf(s, "169041ad-a8d3-4966-ae27-4b3ff5615ba0"); !ok {
					t.Error("the user removed from the group was deleted")
				}
			},
			changed: [][]string{{"scimgrp"}},
		},
		"06_DELETE_Users_id_204.json": {
			given: func(pushedRequest) {
				c.givenUser("49e13f55-5385-47b1-bda7-1795abc4b2a4", "mallory")
				// A member of a group, so that the delete shows it leaves it.
				c.givenGroup("6e0a1c57-0000-4000-8000-00000000d31e", "mallory-team", "pk-mallory-team", []string{"49e13f55-5385-47b1-bda7-1795abc4b2a4"})
			},
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				if u, ok := s.Users[c.ids["49e13f55-5385-47b1-bda7-1795abc4b2a4"]]; ok {
					t.Errorf("the deleted user is still stored: %+v", u)
				}
				if g := s.Groups[c.ids["6e0a1c57-0000-4000-8000-00000000d31e"]]; len(g.Members) != 0 {
					t.Errorf("mallory-team still lists %v", g.Members)
				}
			},
			changed: [][]string{{"mallory-team"}},
		},
		"07_PATCH_Groups_id_400.json": {
			given: func(p pushedRequest) {
				// The group before its rename in Authentik; the request names its externalId.
				c.givenGroup("66b18459-36aa-464e-85bd-5d2b6c2138e8", "notify", "780a8c3c-b96b-49c7-8920-595db4f43ddf",
					[]string{"2fd180c0-af8c-454d-ad43-0f11894d63f6"})
			},
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				g := s.Groups[c.ids["66b18459-36aa-464e-85bd-5d2b6c2138e8"]]
				if g.DisplayName != "notify-renamed" || g.ExternalID != "780a8c3c-b96b-49c7-8920-595db4f43ddf" || !slices.Equal(memberNames(s, g), []string{"peggy"}) {
					t.Errorf("renamed group %+v, want notify-renamed keeping its externalId and peggy", g)
				}
			},
			changed: [][]string{{"notify", "notify-renamed"}},
		},
		"08_PUT_Users_id_200.json": {
			check: func(t *testing.T, p pushedRequest, s scimstate.Snapshot) {
				u, ok := c.userOf(s, "2fd180c0-af8c-454d-ad43-0f11894d63f6")
				if !ok || u.UserName != "peggy" || u.Active || u.DisplayName != "Peggy" || u.PrimaryEmail() != "peggy@example.org" {
					t.Errorf("stored user %+v (found %v), want peggy inactive", u, ok)
				}
			},
			changed: [][]string{{"notify-renamed", "scimgrp"}},
		},
	}
	pushed := loadPushed(t)
	if got, want := len(pushed), len(steps); got != want {
		t.Fatalf("%d recorded requests, %d steps: every recording needs its step", got, want)
	}
	for _, p := range pushed {
		step, ok := steps[p.file]
		if !ok {
			t.Fatalf("%s has no step", p.file)
		}
		t.Run(p.file, func(t *testing.T) {
			if step.given != nil {
				step.given(p)
			}
			var body []byte
			if string(p.Request.Body) != "null" {
				body = []byte(c.ours(string(p.Request.Body)))
			}
			rec := c.send(p.Request.Method, c.ours(p.Request.Path), p.Request.Query, p.Request.Headers, body)
			if rec.Code < 200 || rec.Code > 299 {
				t.Fatalf("%s %s = %d, want 2xx: %s", p.Request.Method, p.Request.Path, rec.Code, rec.Body.String())
			}
			recordedOK := p.Response.Status >= 200 && p.Response.Status <= 299
			if p.Request.Method == http.MethodPost {
				// What was created has the recording's id in its recorded answer.
				var recorded, mine struct{ ID string }
				mustJSON(t, p.Response.Body, &recorded)
				mustJSON(t, rec.Body.Bytes(), &mine)
				c.ids[recorded.ID] = mine.ID
			}
			if recordedOK && rec.Code != p.Response.Status {
				t.Errorf("status %d, recorded %d", rec.Code, p.Response.Status)
			}
			if want := p.Response.Headers["Location"]; recordedOK && want != "" {
				if got := c.recorded(rec.Header().Get("Location")); got != want {
					t.Errorf("Location %q, recorded %q", got, want)
				}
			}
			if recordedOK && string(p.Response.Body) != "null" {
				got, want := c.comparableAnswer(rec.Body.Bytes()), c.comparableAnswer(p.Response.Body)
				if where := lacks(got, want, ""); where != "" {
					t.Errorf("answer differs from the recorded one at %s:\n got  %v\n want %v", where, got, want)
				}
			}
			step.check(t, p, c.state())
			if got := c.takeChanged(); !reflect.DeepEqual(got, step.changed) {
				t.Errorf("reported %q to the trigger, want %q", got, step.changed)
			}
		})
	}
}

// lacks returns where got lacks something of want ("" when it has all of it): every key of an
// object with an equal value, every element of a list. Attributes the receiver answers beyond
// the recorded ones are fine.
func lacks(got, want any, at string) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return at
		}
		for k, wv := range w {
			if where := lacks(g[k], wv, at+"."+k); where != "" {
				return where
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return at
		}
		for i := range w {
			if where := lacks(g[i], w[i], fmt.Sprintf("%s[%d]", at, i)); where != "" {
				return where
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(got, want) {
			return at
		}
		return ""
	}
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
}

// TestPushedRecordingsAreTheSharedOriginals checks that the copy in testdata is the recorded
// original, byte for byte, wherever the original is at hand.
func TestPushedRecordingsAreTheSharedOriginals(t *testing.T) {
	if _, err := os.Stat(sharedPushedDir); os.IsNotExist(err) {
		t.Skipf("%s does not exist here", sharedPushedDir)
	}
	originals := map[string]string{"README.md": filepath.Join(sharedPushedDir, "README.md")}
	scimDir := filepath.Join(sharedPushedDir, "scim")
	entries, err := os.ReadDir(scimDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		originals[e.Name()] = filepath.Join(scimDir, e.Name())
	}
	copies, err := os.ReadDir(pushedDir)
	if err != nil {
		t.Fatal(err)
	}
	var copied []string
	for _, e := range copies {
		copied = append(copied, e.Name())
	}
	if want := slices.Sorted(maps.Keys(originals)); !slices.Equal(copied, want) {
		t.Fatalf("%s holds %v, the originals are %v", pushedDir, copied, want)
	}
	for name, original := range originals {
		a, errA := os.ReadFile(filepath.Join(pushedDir, name))
		b, errB := os.ReadFile(original)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the original %s", name, original)
		}
	}
}
