package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"authentik-matrix-sync/authentik/authentiktest"
)

// AuthentikFault is one way the faulty Authentik answers a request.
type AuthentikFault int

const (
	NoFault AuthentikFault = iota
	// ServerError answers 500, 502 or 503.
	ServerError
	// Timeout holds the request until the client gives up (its timeout is short in a run).
	Timeout
	// Truncated announces the whole body and sends half of it.
	Truncated
	// InvalidJSON answers 200 with a body that is not JSON.
	InvalidJSON
	// ForbiddenPage answers 403 to page 2 or later of a listing.
	ForbiddenPage
	// ShiftedPage deletes a user (or group) listed before the page asked for and creates one
	// listed after it, for real, just before serving page 2 or later of a listing: every row
	// moves up by one, so one entry is on neither page, while the total stays the same.
	ShiftedPage
	// MissingEntry leaves one user or group out of every page of one listing, with a count that
	// agrees, or one member out of a group read with its members (out of "users" and users_obj
	// alike): a consistent answer that is wrong this once.
	MissingEntry
)

var faultNames = [...]string{"none", "5xx", "timeout", "truncated", "invalid JSON", "403 mid-listing", "shifted page", "missing entry"}

func (f AuthentikFault) String() string { return faultNames[f] }

// AuthentikFaults says which faults a run's Authentik may show and how often.
type AuthentikFaults struct {
	// Rate is the share of requests hit by a fault; zero serves everything as it is.
	Rate float64
	// Kinds are the faults to choose from, each as likely as the others.
	Kinds []AuthentikFault
}

// listingKind tells the requests apart as the faults need.
type listingKind int

const (
	otherRequest    listingKind = iota
	groupListing                // core/groups/, with or without the members
	groupRead                   // core/groups/{pk}/
	userListing                 // every user
	memberListing               // the direct members of one group (groups_by_pk)
	inactiveListing             // is_active=false
	userLookup                  // core/users/{pk}/
)

type request struct {
	kind    listingKind
	page    int
	key     string // the listing without its page: pages of one listing share it
	members bool   // a group listing or read with its members (include_users=true)
}

func classify(r *http.Request) request {
	q := r.URL.Query()
	page := 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil {
		page = n
	}
	q.Del("page")
	req := request{page: page, key: r.URL.Path + "?" + q.Encode(), members: q.Get("include_users") != "false"}
	switch p := r.URL.Path; {
	case p == "/api/v3/core/groups/":
		req.kind = groupListing
	case strings.HasPrefix(p, "/api/v3/core/groups/"):
		req.kind = groupRead
	case p == "/api/v3/core/users/" && q.Has("groups_by_pk"):
		req.kind = memberListing
	case p == "/api/v3/core/users/" && q.Get("is_active") == "false":
		req.kind = inactiveListing
	case p == "/api/v3/core/users/":
		req.kind = userListing
	case strings.HasPrefix(p, "/api/v3/core/users/") && p != "/api/v3/core/users/me/":
		req.kind = userLookup
	}
	return req
}

func (r request) listing() bool {
	return r.kind == groupListing || r.kind == userListing || r.kind == memberListing || r.kind == inactiveListing
}

// applies reports whether fault f can hit request r. A direct lookup never answers "no such
// user" falsely: that answer is Authentik's own word that an account is deleted, the evidence
// the bot is meant to act on, not a fault it could tell from the truth.
func (f AuthentikFault) applies(r request, missingMembers bool) bool {
	switch f {
	case ServerError, Timeout, Truncated, InvalidJSON:
		return r.kind != otherRequest
	case ForbiddenPage:
		return r.listing() && r.page >= 2
	case ShiftedPage:
		return r.listing() && r.page >= 2
	case MissingEntry:
		switch r.kind {
		case memberListing, groupRead:
			return missingMembers
		}
		return r.listing() && r.page == 1
	}
	return false
}

// FaultyAuthentik serves the fake Authentik with faults. It draws each request's fault from the
// run's random source; the bot reads Authentik one request at a time, so a seed gives the same
// faults on the same requests every time.
type FaultyAuthentik struct {
	fake  *authentiktest.Server
	truth *Truth
	note  func(string)
	// missingMembers lets MissingEntry hit member listings too. With no grace period a user left
	// out of a consistent member listing is removed on the spot, rightly by the rule the bot
	// follows and wrongly in truth: no bot could tell, so such runs leave member listings whole.
	missingMembers bool

	mu      sync.Mutex
	rng     *rand.Rand
	faults  AuthentikFaults
	hidden  map[string]hidden // listing key → what it leaves out
	created int
}

// hidden is what MissingEntry leaves out of one listing: the entry with primary key pk, or,
// with member set, that member of the group pk.
type hidden struct {
	pk, member string
}

// NewFaultyAuthentik wraps fake.
func NewFaultyAuthentik(fake *authentiktest.Server, truth *Truth, rng *rand.Rand, missingMembers bool, note func(string)) *FaultyAuthentik {
	return &FaultyAuthentik{fake: fake, truth: truth, rng: rng, note: note, missingMembers: missingMembers, hidden: map[string]hidden{}}
}

// SetFaults changes the faults from the next request on.
func (f *FaultyAuthentik) SetFaults(faults AuthentikFaults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = faults
}

func (f *FaultyAuthentik) draw(req request) AuthentikFault {
	if f.faults.Rate == 0 || f.rng.Float64() >= f.faults.Rate {
		return NoFault
	}
	var can []AuthentikFault
	for _, k := range f.faults.Kinds {
		if k.applies(req, f.missingMembers) {
			can = append(can, k)
		}
	}
	if len(can) == 0 {
		return NoFault
	}
	return can[f.rng.IntN(len(can))]
}

func (f *FaultyAuthentik) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := classify(r)
	if req.members && (req.kind == groupListing || req.kind == groupRead) {
		rec := &answerRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { f.recordAnswer(req, rec) }()
		w = rec
	}
	f.mu.Lock()
	fault := f.draw(req)
	if req.listing() && req.page == 1 {
		delete(f.hidden, req.key) // a listing read again starts afresh
	}
	f.mu.Unlock()
	where := r.URL.RequestURI()
	switch fault {
	case ServerError:
		status := []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable}[f.intN(3)]
		f.note(fmt.Sprintf("authentik: GET %s -> %d", where, status))
		writeBody(w, status, `{"detail":"Internal Server Error"}`)
		return
	case Timeout:
		f.note(fmt.Sprintf("authentik: GET %s -> no answer until the client gives up", where))
		<-r.Context().Done()
		return
	case Truncated:
		f.note(fmt.Sprintf("authentik: GET %s -> body cut in half", where))
		rec := httptest.NewRecorder()
		f.fake.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body[:len(body)/2])
		return
	case InvalidJSON:
		f.note(fmt.Sprintf("authentik: GET %s -> invalid JSON", where))
		writeBody(w, http.StatusOK, `{"pagination": {"next": 0, "count": 1}, "results": [{"pk": 1,`)
		return
	case ForbiddenPage:
		f.note(fmt.Sprintf("authentik: GET %s -> 403", where))
		writeBody(w, http.StatusForbidden, `{"detail":"You do not have permission to perform this action."}`)
		return
	case ShiftedPage:
		f.shift(r, req)
	case MissingEntry:
		if req.kind == groupRead {
			f.serveGroupWithoutMember(w, r)
			return
		}
		f.hide(r, req)
	}
	f.mu.Lock()
	h, hiding := f.hidden[req.key]
	f.mu.Unlock()
	if !hiding {
		f.fake.ServeHTTP(w, r)
		return
	}
	f.serveWithout(w, r, req, h)
}

func (f *FaultyAuthentik) intN(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.IntN(n)
}

func writeBody(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// listingPage is a page of the fake's listings, results left raw.
type listingPage struct {
	Pagination struct {
		Count int `json:"count"`
	} `json:"pagination"`
	Results      []json.RawMessage `json:"results"`
	Autocomplete json.RawMessage   `json:"autocomplete"`
}

// entry is what the faults read of a listed user or group.
type entry struct {
	PK       json.RawMessage `json:"pk"`
	Username string          `json:"username"`
	Name     string          `json:"name"`
}

// label names a listed user by username, a group by name.
func (e entry) label() string {
	if e.Username != "" {
		return e.Username
	}
	return e.Name
}

// whole reads the whole listing r is a page of, in one page, from the fake itself.
func (f *FaultyAuthentik) whole(r *http.Request) (listingPage, []entry) {
	q := r.URL.Query()
	q.Set("page", "1")
	q.Set("page_size", "100000")
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	r2.RequestURI = r2.URL.RequestURI()
	rec := httptest.NewRecorder()
	f.fake.ServeHTTP(rec, r2)
	var p listingPage
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &p) != nil {
		return listingPage{}, nil
	}
	entries := make([]entry, len(p.Results))
	for i, raw := range p.Results {
		_ = json.Unmarshal(raw, &entries[i])
	}
	return p, entries
}

func pageSize(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page_size"))
	if err != nil || n < 1 {
		return 20
	}
	return n
}

// shift makes the concurrent change of ShiftedPage: it deletes an entry listed before page
// req.page and creates one that the listing counts and lists last, so that the entry first on
// the page moves to the page before, already read, and is read on neither. In a listing of
// users the new user is made to fit its filter (inactive, or in the group listed); in the
// listing of groups the new group is an empty one.
func (f *FaultyAuthentik) shift(r *http.Request, req request) {
	_, entries := f.whole(r)
	boundary := (req.page - 1) * pageSize(r)
	if boundary == 0 || boundary >= len(entries) {
		return
	}
	f.mu.Lock()
	victim := entries[f.rng.IntN(boundary)]
	f.created++
	created := fmt.Sprintf("zz%02d", f.created)
	f.mu.Unlock()
	missed := entries[boundary]
	f.note(fmt.Sprintf("authentik: GET %s -> shifted: %s is on neither page", r.URL.RequestURI(), missed.label()))
	if req.kind == groupListing {
		f.truth.ShiftGroupListing(victim.Name, created)
		return
	}
	group := ""
	if req.kind == memberListing {
		group = f.truth.GroupNameOf(r.URL.Query().Get("groups_by_pk"))
	}
	f.truth.ShiftListing(victim.Username, created, req.kind != inactiveListing, group)
}

// hide starts MissingEntry on a listing: one of its entries, drawn at random, is left out of
// every page of it; in a listing of groups with their members (and member faults allowed),
// one member of one group may be left out instead.
func (f *FaultyAuthentik) hide(r *http.Request, req request) {
	whole, entries := f.whole(r)
	if len(entries) == 0 {
		return
	}
	f.mu.Lock()
	i := f.rng.IntN(len(entries))
	h := hidden{pk: string(entries[i].PK)}
	members := groupMembers(whole.Results[i])
	if req.kind == groupListing && req.members && f.missingMembers && len(members) > 0 && f.rng.IntN(2) == 0 {
		h.member = members[f.rng.IntN(len(members))]
	}
	f.hidden[req.key] = h
	f.mu.Unlock()
	what := entries[i].label()
	if h.member != "" {
		what = fmt.Sprintf("member pk %s of group %s", h.member, entries[i].Name)
	}
	f.note(fmt.Sprintf("authentik: GET %s -> %s left out of this listing", r.URL.RequestURI(), what))
}

// groupMembers lists the member pks (raw JSON) of a group as listed, none for a user.
func groupMembers(raw json.RawMessage) []string {
	var g struct {
		Users []json.RawMessage `json:"users"`
	}
	if json.Unmarshal(raw, &g) != nil {
		return nil
	}
	out := make([]string, len(g.Users))
	for i, u := range g.Users {
		out[i] = string(u)
	}
	return out
}

// withoutMember is a group's JSON without member pk in "users" and users_obj, which must agree.
func withoutMember(raw json.RawMessage, member string) json.RawMessage {
	var g map[string]json.RawMessage
	if json.Unmarshal(raw, &g) != nil {
		return raw
	}
	var users, objs []json.RawMessage
	_ = json.Unmarshal(g["users"], &users)
	_ = json.Unmarshal(g["users_obj"], &objs)
	users = slices.DeleteFunc(users, func(u json.RawMessage) bool { return string(u) == member })
	objs = slices.DeleteFunc(objs, func(o json.RawMessage) bool {
		var e entry
		return json.Unmarshal(o, &e) == nil && string(e.PK) == member
	})
	if users == nil {
		users = []json.RawMessage{}
	}
	g["users"], _ = json.Marshal(users)
	if string(g["users_obj"]) != "null" && g["users_obj"] != nil {
		if objs == nil {
			objs = []json.RawMessage{}
		}
		g["users_obj"], _ = json.Marshal(objs)
	}
	out, err := json.Marshal(g)
	if err != nil {
		return raw
	}
	return out
}

// serveGroupWithoutMember answers a read of one group with its members with one member, drawn
// at random, left out.
func (f *FaultyAuthentik) serveGroupWithoutMember(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	f.fake.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	members := groupMembers(body)
	if rec.Code == http.StatusOK && len(members) > 0 {
		member := members[f.intN(len(members))]
		f.note(fmt.Sprintf("authentik: GET %s -> member pk %s left out of this answer", r.URL.RequestURI(), member))
		body = withoutMember(body, member)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// serveWithout answers a page of the listing with what h names left out: an entry (the pages
// cut anew and the count lowered to match, as Authentik would paginate a listing without it),
// or one member of a group.
func (f *FaultyAuthentik) serveWithout(w http.ResponseWriter, r *http.Request, req request, h hidden) {
	whole, entries := f.whole(r)
	var results []json.RawMessage
	for i, e := range entries {
		switch {
		case string(e.PK) != h.pk:
			results = append(results, whole.Results[i])
		case h.member != "":
			results = append(results, withoutMember(whole.Results[i], h.member))
		}
	}
	size := pageSize(r)
	count := len(results)
	total := max(1, (count+size-1)/size)
	if req.page < 1 || req.page > total {
		writeBody(w, http.StatusNotFound, `{"detail":"Invalid page."}`)
		return
	}
	if req.page == total {
		f.mu.Lock()
		delete(f.hidden, req.key)
		f.mu.Unlock()
	}
	p := authentiktest.PageOf(count, req.page, size)
	start, end := max(p.StartIndex-1, 0), p.EndIndex
	page := results[start:end]
	if page == nil {
		page = []json.RawMessage{}
	}
	body, err := json.Marshal(struct {
		Pagination   authentiktest.Pagination `json:"pagination"`
		Results      []json.RawMessage        `json:"results"`
		Autocomplete json.RawMessage          `json:"autocomplete,omitempty"`
	}{p, page, whole.Autocomplete})
	if err != nil {
		writeBody(w, http.StatusInternalServerError, `{"detail":"fault encoding failed"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// answerRecorder keeps a copy of what an answer with members sent, for the model.
type answerRecorder struct {
	http.ResponseWriter
	status int
	body   []byte
}

func (a *answerRecorder) WriteHeader(status int) {
	a.status = status
	a.ResponseWriter.WriteHeader(status)
}

func (a *answerRecorder) Write(b []byte) (int, error) {
	a.body = append(a.body, b...)
	return a.ResponseWriter.Write(b)
}

// recordAnswer tells the model which direct members each group of a whole, readable answer
// listed: a member the fake holds but the answer left out is a lie the bot could not detect.
func (f *FaultyAuthentik) recordAnswer(req request, rec *answerRecorder) {
	if rec.status != http.StatusOK {
		return
	}
	var groups []json.RawMessage
	if req.kind == groupRead {
		groups = []json.RawMessage{rec.body}
	} else {
		var p listingPage
		if json.Unmarshal(rec.body, &p) != nil {
			return
		}
		groups = p.Results
	}
	for _, raw := range groups {
		var g struct {
			Name  string `json:"name"`
			Users []int  `json:"users"`
		}
		if json.Unmarshal(raw, &g) != nil || g.Name == "" {
			continue
		}
		f.truth.RecordAnswer(g.Name, g.Users)
	}
}

// fenced is an http.RoundTripper that refuses every request once its process is killed.
type fenced struct {
	base http.RoundTripper
	dead interface{ Load() bool }
}

func (t fenced) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.dead.Load() {
		return nil, &url.Error{Op: r.Method, URL: r.URL.String(), Err: errKilled}
	}
	return t.base.RoundTrip(r)
}
