package authentik

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"authentik-matrix-sync/directory"
)

// The contract tests hold the client to answers recorded from a real Authentik 2025.12.4
// (testdata/recorded/2025.12.4/README.md says what the data set holds), not to what the fake
// in authentiktest believes Authentik says.

const recordedDir = "testdata/recorded/2025.12.4"

const recordedToken = "ak-recorded-token-3e9b1f"

// The recorded primary keys of the data set.
const (
	pkAdmins      = "5495ba89-efeb-4464-a1fb-5903cf2c0533"
	pkBackend     = "0effb86f-f639-4d47-bb84-a63563e75e5a"
	pkEngineering = "8c9c0443-4c94-4cd9-b28d-6a827f91c524"
	pkLegacy      = "ed17ddfd-41c5-48cd-8767-adce38bf5c5b"
)

// recording is one recorded answer.
type recording struct {
	status int
	header http.Header
	body   []byte
}

// statusWithoutHeaders gives the status of the answers recorded without a .headers file, as the
// README and the recording script tell it; their bodies are JSON like every other API answer.
var statusWithoutHeaders = map[int]int{
	50: http.StatusBadRequest, 51: http.StatusBadRequest, // validation errors of a POST
	54: http.StatusForbidden, 55: http.StatusForbidden, 56: http.StatusForbidden, // alice's own token
	61: http.StatusOK,
}

// loadRecorded reads recording number n: NN_*.json, and NN_*.headers when there is one (its
// first line the status line). Files are found by number because a body and its headers do not
// always share the rest of their name (42_malformed_auth_scheme.json, 42_malformed_auth.headers).
func loadRecorded(t *testing.T, n int) recording {
	t.Helper()
	only := func(pattern string) string {
		t.Helper()
		m, err := filepath.Glob(filepath.Join(recordedDir, fmt.Sprintf("%02d_*", n)+pattern))
		if err != nil || len(m) > 1 {
			t.Fatalf("recording %02d: %d files match %s (%v)", n, len(m), pattern, err)
		}
		if len(m) == 0 {
			return ""
		}
		return m[0]
	}
	bodyFile := only(".json")
	if bodyFile == "" {
		t.Fatalf("recording %02d: no body file", n)
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		t.Fatal(err)
	}
	r := recording{header: http.Header{}, body: body}
	headerFile := only(".headers")
	if headerFile == "" {
		status, ok := statusWithoutHeaders[n]
		if !ok {
			t.Fatalf("recording %02d has no headers and no known status", n)
		}
		r.status = status
		r.header.Set("Content-Type", "application/json")
		return r
	}
	raw, err := os.ReadFile(headerFile)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for first := true; sc.Scan(); first = false {
		line := strings.TrimRight(sc.Text(), "\r")
		if first {
			// "HTTP/1.1 404 Not Found"
			f := strings.Fields(line)
			if len(f) < 2 {
				t.Fatalf("%s: status line %q", headerFile, line)
			}
			if r.status, err = strconv.Atoi(f[1]); err != nil {
				t.Fatalf("%s: status line %q: %v", headerFile, line, err)
			}
			continue
		}
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("%s: header line %q", headerFile, line)
		}
		r.header.Add(k, strings.TrimSpace(v))
	}
	if cl := r.header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
		t.Fatalf("recording %02d: content-length %s, body file holds %d bytes: not the whole body", n, cl, len(body))
	}
	return r
}

// replay is an Authentik that answers with recordings: page N of a listing gets pages[N-1], a
// request without a page (one object) gets pages[0], and a page past the list fails the test.
type replay struct {
	t     *testing.T
	pages []recording
	srv   *httptest.Server

	mu       sync.Mutex
	requests []string // request URIs, in order
}

func newReplay(t *testing.T, pages ...recording) *replay {
	t.Helper()
	r := &replay{t: t, pages: pages}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replay) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, req.URL.RequestURI())
	r.mu.Unlock()
	n := 1
	if p := req.URL.Query().Get("page"); p != "" {
		var err error
		if n, err = strconv.Atoi(p); err != nil {
			n = 0
		}
	}
	if n < 1 || n > len(r.pages) {
		r.t.Errorf("replay: nothing recorded for %s", req.URL.RequestURI())
		http.Error(w, "not recorded", http.StatusTeapot)
		return
	}
	rec := r.pages[n-1]
	for k, vs := range rec.header {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Date": // net/http writes its own
			continue
		}
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body)
}

func (r *replay) client(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := New(r.srv.URL, recordedToken, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *replay) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

func groupNames(gs []directory.Group) []string {
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

func userNames(us []directory.User) []string {
	out := make([]string, 0, len(us))
	for _, u := range us {
		out = append(out, u.Username)
	}
	return out
}

// TestRecordedGroupPagesDecode: every recorded page of groups passes the page checks and
// decodes, with its parents lists, children, users (int pks), users_obj (null with
// include_users=false, 12) and top-level autocomplete key.
func TestRecordedGroupPagesDecode(t *testing.T) {
	all := []string{"authentik Admins", "backend", "engineering", "legacy-parent-field"}
	tests := []struct {
		n         int
		wantNames []string
		wantNext  int
	}{
		{10, []string{"authentik Admins", "backend"}, 2}, // page 1 of 2 at page_size 2
		{11, []string{"engineering", "legacy-parent-field"}, 0},
		{12, []string{"authentik Admins", "backend"}, 2}, // include_users=false: users_obj null
		{13, all, 0}, // no parameters: users_obj filled, children_obj null
		{14, all, 0}, // include_children, include_parents: children_obj, parents_obj filled
		{15, []string{"backend"}, 0},
		{16, []string{}, 0}, // no match: count 0, still page 1 of 1
		{17, []string{"engineering"}, 0},
		{18, []string{"engineering"}, 0},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			rec := loadRecorded(t, tt.n)
			if rec.status != http.StatusOK {
				t.Fatalf("recorded status %d", rec.status)
			}
			p, err := decodePage(rec.body)
			if err != nil {
				t.Fatalf("decodePage: %v", err)
			}
			if p.Pagination.Next != tt.wantNext {
				t.Errorf("pagination.next = %d, want %d", p.Pagination.Next, tt.wantNext)
			}
			groups, err := decodeGroups(p.Results)
			if err != nil {
				t.Fatalf("decodeGroups: %v", err)
			}
			if got := groupNames(groups); !slices.Equal(got, tt.wantNames) {
				t.Errorf("groups %v, want %v", got, tt.wantNames)
			}
		})
	}
}

// TestRecordedGroupRetrieved: one group as GET core/groups/<pk>/ answers it (19) decodes as the
// items of a listing do.
func TestRecordedGroupRetrieved(t *testing.T) {
	rec := loadRecorded(t, 19)
	groups, err := decodeGroups([]json.RawMessage{rec.body})
	if err != nil {
		t.Fatal(err)
	}
	want := []directory.Group{{PK: pkEngineering, Name: "engineering", Children: []string{pkBackend}}}
	if !reflect.DeepEqual(groups, want) {
		t.Fatalf("got %+v, want %+v", groups, want)
	}
}

// TestRecordedTreeFromChildrenAndParents: in 13 and 14 both sides name the edge engineering →
// backend (engineering's "children", backend's "parents"); either side alone gives the same
// tree, so a server that fills only one of them still works.
func TestRecordedTreeFromChildrenAndParents(t *testing.T) {
	for _, n := range []int{13, 14} {
		for _, drop := range []string{"", "children", "parents"} {
			t.Run(fmt.Sprintf("%d without %q", n, drop), func(t *testing.T) {
				p, err := decodePage(loadRecorded(t, n).body)
				if err != nil {
					t.Fatal(err)
				}
				results := p.Results
				if drop != "" {
					results = make([]json.RawMessage, len(p.Results))
					for i, r := range p.Results {
						results[i] = withoutKey(t, r, drop)
					}
				}
				groups, err := decodeGroups(results)
				if err != nil {
					t.Fatal(err)
				}
				want := []directory.Group{
					{PK: pkAdmins, Name: "authentik Admins"},
					{PK: pkBackend, Name: "backend"},
					{PK: pkEngineering, Name: "engineering", Children: []string{pkBackend}},
					{PK: pkLegacy, Name: "legacy-parent-field"},
				}
				if !reflect.DeepEqual(groups, want) {
					t.Fatalf("got %+v, want %+v", groups, want)
				}
			})
		}
	}
}

func withoutKey(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m[key]; !ok {
		t.Fatalf("recorded group has no %q to drop", key)
	}
	delete(m, key)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRecordedUserPagesDecode: every recorded page of users decodes, with or without
// groups_obj (24: include_groups=false), and alice comes through field by field.
func TestRecordedUserPagesDecode(t *testing.T) {
	alice := directory.User{PK: 4, Username: "alice", Name: "Alice Example", Email: "alice@example.com",
		UID: "df17b299cb043d49114e95dbca7f785a7816b25dccd6f27d514373dfe9d8ec08", IsActive: true,
		Attributes: map[string]any{"dept": "eng"}}
	tests := []struct {
		n         int
		wantNames []string
		wantNext  int
	}{
		{20, []string{"akadmin"}, 2}, // page 1 of 3 at page_size 1
		{21, []string{"alice"}, 3},   // page 2 of 3
		{22, []string{"alice"}, 0},   // username=alice
		{23, []string{"akadmin", "alice", "bob"}, 0},
		{24, []string{"akadmin"}, 2}, // include_groups=false: groups_obj null
		{25, []string{"alice"}, 0},   // groups_by_name=engineering: bob, only in backend, is not listed
		{61, []string{"alice"}, 0},   // groups_by_pk=<engineering>, as ListGroupUsers asks
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.n), func(t *testing.T) {
			p, err := decodePage(loadRecorded(t, tt.n).body)
			if err != nil {
				t.Fatalf("decodePage: %v", err)
			}
			if p.Pagination.Next != tt.wantNext {
				t.Errorf("pagination.next = %d, want %d", p.Pagination.Next, tt.wantNext)
			}
			users, err := decodeUsers(p.Results)
			if err != nil {
				t.Fatalf("decodeUsers: %v", err)
			}
			if got := userNames(users); !slices.Equal(got, tt.wantNames) {
				t.Fatalf("users %v, want %v", got, tt.wantNames)
			}
			for _, u := range users {
				if u.Username == "alice" && !reflect.DeepEqual(u, alice) {
					t.Errorf("alice decoded as %+v, want %+v", u, alice)
				}
			}
		})
	}
}

// TestRecordedGroupListingFollowsPages: ListGroups at page_size 2 reads 10 then 11, gets all four
// groups with the tree, and stops at 11's next: 0 without asking for a third page.
func TestRecordedGroupListingFollowsPages(t *testing.T) {
	r := newReplay(t, loadRecorded(t, 10), loadRecorded(t, 11))
	groups, err := r.client(t, Options{PageSize: 2}).ListGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []directory.Group{
		{PK: pkAdmins, Name: "authentik Admins"},
		{PK: pkBackend, Name: "backend"},
		{PK: pkEngineering, Name: "engineering", Children: []string{pkBackend}},
		{PK: pkLegacy, Name: "legacy-parent-field"},
	}
	if !reflect.DeepEqual(groups, want) {
		t.Fatalf("got %+v, want %+v", groups, want)
	}
	wantReq := []string{
		"/api/v3/core/groups/?include_users=false&page=1&page_size=2",
		"/api/v3/core/groups/?include_users=false&page=2&page_size=2",
	}
	if got := r.seen(); !slices.Equal(got, wantReq) {
		t.Fatalf("requests %v, want %v", got, wantReq)
	}
}

// TestRecordedMemberListing: ListGroupUsers reads a recorded member listing (61), and over the
// three pages of 20, 21 and 33 ("Invalid page.": the listing lost a user after page 2 was read)
// reports a listing that shrank, never the two users it did read.
func TestRecordedMemberListing(t *testing.T) {
	t.Run("one page", func(t *testing.T) {
		r := newReplay(t, loadRecorded(t, 61))
		users, err := r.client(t, Options{}).ListGroupUsers(t.Context(), pkEngineering)
		if err != nil {
			t.Fatal(err)
		}
		if got := userNames(users); !slices.Equal(got, []string{"alice"}) {
			t.Fatalf("users %v, want [alice]", got)
		}
	})
	t.Run("shrinks after page 2", func(t *testing.T) {
		r := newReplay(t, loadRecorded(t, 20), loadRecorded(t, 21), loadRecorded(t, 33))
		users, err := r.client(t, Options{PageSize: 1}).ListGroupUsers(t.Context(), pkEngineering)
		if err == nil || users != nil {
			t.Fatalf("got users %v, err %v; want an error and no users", userNames(users), err)
		}
		if !errors.Is(err, errListingShrank) || !strings.Contains(err.Error(), "page=3") ||
			!strings.Contains(err.Error(), "the listing shrank while it was read") {
			t.Fatalf("error %v, want a listing that shrank at page 3", err)
		}
		if len(r.seen()) != 3 {
			t.Fatalf("requests %v, want 3", r.seen())
		}
	})
}

// TestRecordedErrors serves each recorded error through the client: it must come back as the
// right kind (and no other), as an *APIError with the recorded status, saying what to do.
func TestRecordedErrors(t *testing.T) {
	kinds := []error{ErrTokenRejected, ErrPermissionDenied, ErrNotAuthentikAPI, ErrNotFound, errListingShrank}
	type call func(c *Client) error
	listGroups := func(c *Client) error { _, err := c.ListGroups(t.Context()); return err }
	listMembers := func(c *Client) error { _, err := c.ListGroupUsers(t.Context(), pkEngineering); return err }
	listWithMembers := func(c *Client) error {
		return c.readMemberListing(t.Context(), memberPlan{pageSize: 2}, map[string]directory.Group{pkEngineering: {PK: pkEngineering, Name: "engineering"}},
			func(string, directMembers) {})
	}
	getOne := func(path string) call {
		return func(c *Client) error {
			u := c.api.ResolveReference(&url.URL{Path: path})
			_, _, err := c.get(t.Context(), u, u.RequestURI())
			return err
		}
	}
	tests := []struct {
		name       string
		pages      []int // recordings for page 1, 2, …
		status     int   // replaces the recorded status when set
		call       call
		wantKind   error // nil: none of the kinds
		wantStatus int   // 0: not an *APIError
		wantMsg    []string
	}{
		{name: "30 unknown group", pages: []int{30}, call: getOne("core/groups/00000000-0000-0000-0000-000000000000/"),
			wantKind: ErrNotFound, wantStatus: 404, wantMsg: []string{"HTTP 404: No Group matches the given query.", hintNotFound}},
		{name: "31 unknown user", pages: []int{31}, call: getOne("core/users/999999/"),
			wantKind: ErrNotFound, wantStatus: 404, wantMsg: []string{"HTTP 404: No User matches the given query.", hintNotFound}},
		{name: "32 unknown endpoint, an HTML page", pages: []int{32}, call: getOne("core/nosuch/"),
			wantKind: ErrNotAuthentikAPI, wantStatus: 404, wantMsg: []string{`HTTP 404: an HTML page titled "authentik" (` + hintNotAuthentikAPI + ")"}},
		{name: "32 as the listing's answer", pages: []int{32}, call: listGroups,
			wantKind: ErrNotAuthentikAPI, wantStatus: 404, wantMsg: []string{"list authentik groups: authentik GET /api/v3/core/groups/", "set AUTHENTIK_URL to Authentik's base address, e.g. https://auth.example.com, without a path"}},
		{name: "33 invalid page in the middle of the group listing", pages: []int{10, 33}, call: listGroups,
			wantKind: errListingShrank, wantStatus: 404, wantMsg: []string{"page=2", "HTTP 404: Invalid page.", "it will be read again next cycle"}},
		{name: "33 invalid page in the middle of the listing of groups with their members", pages: []int{10, 33}, call: listWithMembers,
			wantKind: errListingShrank, wantStatus: 404, wantMsg: []string{"list authentik groups with their members", "include_users=true&page=2", "HTTP 404: Invalid page."}},
		{name: "40 bad token", pages: []int{40}, call: listGroups,
			wantKind: ErrTokenRejected, wantStatus: 403, wantMsg: []string{"HTTP 403: Token invalid/expired (check AUTHENTIK_TOKEN", "wrong, expired or revoked", "intent API"}},
		{name: "41 no credentials", pages: []int{41}, call: listGroups,
			wantKind: ErrTokenRejected, wantStatus: 403, wantMsg: []string{"HTTP 403: Authentication credentials were not provided.", "received no token", "proxy", `"Token" scheme`}},
		{name: "42 Token scheme", pages: []int{42}, call: listMembers,
			wantKind: ErrTokenRejected, wantStatus: 403, wantMsg: []string{"received no token", "Authorization header"}},
		{name: "54 groups as a user without permission", pages: []int{54}, call: listGroups,
			wantKind: ErrPermissionDenied, wantStatus: 403, wantMsg: []string{"HTTP 403: You do not have permission to perform this action.", "authentik_core.view_user and authentik_core.view_group"}},
		{name: "55 users as a user without permission", pages: []int{55}, call: listMembers,
			wantKind: ErrPermissionDenied, wantStatus: 403, wantMsg: []string{"list direct members of authentik group " + pkEngineering, hintPermissionDenied}},
		{name: "56 any call as a user without permission", pages: []int{56}, call: getOne("core/groups/"),
			wantKind: ErrPermissionDenied, wantStatus: 403, wantMsg: []string{hintPermissionDenied}},
		{name: "32's HTML page answered with 200, as a login page in front of Authentik", pages: []int{32}, status: 200, call: listGroups,
			wantKind: ErrNotAuthentikAPI, wantMsg: []string{"the answer is text/html, not JSON: is AUTHENTIK_URL behind a login page or pointing elsewhere?"}},
		{name: "50 validation error", pages: []int{50}, call: getOne("core/users/"),
			wantStatus: 400, wantMsg: []string{"HTTP 400: username: This field must be unique."}},
		{name: "51 validation error", pages: []int{51}, call: listGroups,
			wantStatus: 400, wantMsg: []string{"HTTP 400: name: Group with this name already exists."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []recording
			for _, n := range tt.pages {
				recs = append(recs, loadRecorded(t, n))
			}
			if tt.status != 0 {
				recs[len(recs)-1].status = tt.status
			}
			r := newReplay(t, recs...)
			err := tt.call(r.client(t, Options{PageSize: 2}))
			if err == nil {
				t.Fatal("no error")
			}
			for _, k := range kinds {
				if errors.Is(err, k) != (k == tt.wantKind) {
					t.Errorf("errors.Is(err, %q) = %v, want %v", k, errors.Is(err, k), k == tt.wantKind)
				}
			}
			var apiErr *APIError
			switch isAPI := errors.As(err, &apiErr); {
			case tt.wantStatus == 0 && isAPI:
				t.Errorf("want no *APIError for a 2xx answer, got %#v", apiErr)
			case tt.wantStatus != 0 && (!isAPI || apiErr.Status != tt.wantStatus || apiErr.Method != http.MethodGet):
				t.Errorf("want a GET *APIError with status %d, got %#v", tt.wantStatus, err)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), recordedToken) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

// TestRecordedErrorsReadApart: a wrong token, a token that never arrived, a token without
// permission and a wrong address each say something different, so that the operator fixes the
// right thing.
func TestRecordedErrorsReadApart(t *testing.T) {
	hints := map[string]int{}
	for _, n := range []int{40, 41, 54, 32} {
		r := newReplay(t, loadRecorded(t, n))
		_, err := r.client(t, Options{}).ListGroups(t.Context())
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			t.Fatalf("recording %02d: want an *APIError, got %v", n, err)
		}
		h := apiErr.hint()
		if other, seen := hints[h]; seen || h == "" {
			t.Errorf("recordings %02d and %02d read alike: %q", other, n, h)
		}
		hints[h] = n
	}
}

// recordedAlice is alice as every recorded answer that holds her gives her.
var recordedAlice = directory.User{PK: 4, Username: "alice", Name: "Alice Example", Email: "alice@example.com",
	UID: "df17b299cb043d49114e95dbca7f785a7816b25dccd6f27d514373dfe9d8ec08", IsActive: true,
	Attributes: map[string]any{"dept": "eng"}}

// TestRecordedGroupMembersDecode: the member reads take their users from a group's users_obj,
// which the recordings hold with include_users=true (10, 11), by default (13) and in one group
// read (19): every member decodes with the fields the sync uses, alice exactly as the user
// listing gives her (20–25, 61); include_users=false (12) nulls users_obj, which is an error
// for a member read, never "nobody".
func TestRecordedGroupMembersDecode(t *testing.T) {
	want := map[string][]string{"authentik Admins": {"akadmin"}, "backend": {"bob"}, "engineering": {"alice"}, "legacy-parent-field": {}}
	decodeOne := func(t *testing.T, raw json.RawMessage) (string, []directory.User, error) {
		t.Helper()
		var w wireGroupMembers
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatal(err)
		}
		users, err := w.members()
		return w.Name, users, err
	}
	check := func(t *testing.T, name string, users []directory.User, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := userNames(users); !slices.Equal(got, want[name]) {
			t.Errorf("%s: members %v, want %v", name, got, want[name])
		}
		for _, u := range users {
			if u.Username == "alice" && !reflect.DeepEqual(u, recordedAlice) {
				t.Errorf("alice decoded as %+v, want %+v", u, recordedAlice)
			}
			if u.UID == "" || u.Email == "" || !u.IsActive {
				t.Errorf("%s: member %+v lacks a field the sync reads", name, u)
			}
		}
	}
	for _, n := range []int{10, 11, 13} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			p, err := decodePage(loadRecorded(t, n).body)
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range p.Results {
				name, users, err := decodeOne(t, raw)
				check(t, name, users, err)
			}
		})
	}
	t.Run("19", func(t *testing.T) {
		name, users, err := decodeOne(t, loadRecorded(t, 19).body)
		check(t, name, users, err)
	})
	t.Run("12", func(t *testing.T) {
		p, err := decodePage(loadRecorded(t, 12).body)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range p.Results {
			name, users, err := decodeOne(t, raw)
			if err == nil || users != nil || !strings.Contains(err.Error(), "came without users_obj") {
				t.Errorf("%s: users %v, err %v; want no users and an error", name, users, err)
			}
		}
	})
}

// TestRecordedGroupRead: readGroupMembers asks for one group with its members and reads the
// recorded answer (19).
func TestRecordedGroupRead(t *testing.T) {
	r := newReplay(t, loadRecorded(t, 19))
	users, err := r.client(t, Options{}).readGroupMembers(t.Context(), directory.Group{PK: pkEngineering, Name: "engineering"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || !reflect.DeepEqual(users[0], recordedAlice) {
		t.Fatalf("users %+v, want alice", users)
	}
	if want := []string{"/api/v3/core/groups/" + pkEngineering + "/?include_users=true"}; !slices.Equal(r.seen(), want) {
		t.Fatalf("requests %v, want %v", r.seen(), want)
	}
}

// TestRecordedEffectiveMembersFromTheListing runs EachEffective against the recordings: the
// group tree from the listing (13, served for include_users=false: 12 has no recorded page 2),
// then the listing of groups with their members at page_size 2 (10, 11). Bob is in backend
// only, and counts for engineering through it.
func TestRecordedEffectiveMembersFromTheListing(t *testing.T) {
	tree, page1, page2 := loadRecorded(t, 13), loadRecorded(t, 10), loadRecorded(t, 11)
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.URL.RequestURI())
		mu.Unlock()
		q := req.URL.Query()
		var rec recording
		switch {
		case req.URL.Path == "/api/v3/core/groups/" && q.Get("include_users") == "false":
			rec = tree
		case req.URL.Path == "/api/v3/core/groups/" && q.Get("include_users") == "true" && q.Get("page") == "1":
			rec = page1
		case req.URL.Path == "/api/v3/core/groups/" && q.Get("include_users") == "true" && q.Get("page") == "2":
			rec = page2
		default:
			t.Errorf("nothing recorded for %s", req.URL.RequestURI())
			http.Error(w, "not recorded", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", rec.header.Get("Content-Type"))
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, recordedToken, Options{PageSize: 2, MemberRead: MemberReadGroupListing})
	if err != nil {
		t.Fatal(err)
	}
	got := c.EffectiveMembers(t.Context(), []string{"engineering", "backend", "authentik Admins", "legacy-parent-field"})
	want := map[string][]string{"engineering": {"alice", "bob"}, "backend": {"bob"}, "authentik Admins": {"akadmin"}, "legacy-parent-field": {}}
	for name, w := range want {
		m := got[name]
		if m.Err != nil || !slices.Equal(userNames(m.Users), w) {
			t.Errorf("%s: members %v (err %v), want %v", name, userNames(m.Users), m.Err, w)
		}
	}
	if via := got["engineering"].Via; !reflect.DeepEqual(via, map[int]string{5: "backend"}) {
		t.Errorf("engineering's Via = %v, want bob (5) through backend", via)
	}
	wantReq := []string{
		"/api/v3/core/groups/?include_users=false&page=1&page_size=2",
		"/api/v3/core/groups/?include_users=true&page=1&page_size=2",
		"/api/v3/core/groups/?include_users=true&page=2&page_size=2",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, wantReq) {
		t.Fatalf("requests %v, want %v", seen, wantReq)
	}
}
