package mastest

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

const adminPrefix = "/api/admin/v1/"

// serveAdmin answers the admin API calls the bot makes. It holds s.mu throughout.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	auth := r.Header.Get("Authorization")
	tok, ok := s.tokens[strings.TrimPrefix(auth, "Bearer ")]
	switch {
	case !strings.HasPrefix(auth, "Bearer ") || !ok:
		writeErrors(w, http.StatusUnauthorized, "Invalid access token")
		return
	case !s.now().Before(tok.expires):
		writeErrors(w, http.StatusUnauthorized, "Access token expired")
		return
	case !slices.Contains(tok.scopes, "urn:mas:admin"):
		writeErrors(w, http.StatusForbidden, "Missing urn:mas:admin scope")
		return
	}
	if s.adminStatus != 0 {
		writeErrors(w, s.adminStatus, "Internal server error")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, adminPrefix), "/")
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	switch {
	case get && len(parts) == 3 && parts[0] == "users" && parts[1] == "by-username":
		for _, u := range s.users {
			if u.Username == parts[2] {
				writeJSON(w, http.StatusOK, single(userResource(u), r.URL.Path))
				return
			}
		}
		writeErrors(w, http.StatusNotFound, "User with username %q not found", parts[2])
	case get && len(parts) == 2 && parts[0] == "users":
		if u := s.users[parts[1]]; u != nil {
			writeJSON(w, http.StatusOK, single(userResource(u), r.URL.Path))
			return
		}
		writeErrors(w, http.StatusNotFound, "User ID %s not found", parts[1])
	case post && len(parts) == 3 && parts[0] == "users" && (parts[2] == "lock" || parts[2] == "unlock"):
		u := s.users[parts[1]]
		if u == nil {
			writeErrors(w, http.StatusNotFound, "User ID %s not found", parts[1])
			return
		}
		if parts[2] == "lock" && u.LockedAt == nil {
			now := s.now().UTC()
			u.LockedAt = &now
		} else if parts[2] == "unlock" {
			u.LockedAt = nil
		}
		writeJSON(w, http.StatusOK, single(userResource(u), r.URL.Path))
	case get && len(parts) == 1 && parts[0] == "upstream-oauth-links":
		s.listLinks(w, r)
	case get && len(parts) == 2 && parts[0] == "upstream-oauth-providers":
		name, ok := s.providers[parts[1]]
		if !ok {
			writeErrors(w, http.StatusNotFound, "Provider %s not found", parts[1])
			return
		}
		writeJSON(w, http.StatusOK, single(resource{Type: "upstream-oauth-provider", ID: parts[1], Attributes: map[string]any{
			"issuer": "https://auth.example.com/application/o/matrix/", "human_name": name, "brand_name": nil,
			"created_at": "2026-01-01T00:00:00Z", "disabled_at": nil, "registration_token_required": false,
		}}, r.URL.Path))
	case get && len(parts) == 1 && isSessionKind(parts[0]):
		s.listSessions(w, r, parts[0])
	case post && len(parts) == 3 && isSessionKind(parts[0]) && parts[2] == "finish":
		x := s.sessions[parts[1]]
		if x == nil || x.Kind != parts[0] {
			writeErrors(w, http.StatusNotFound, "Session with ID %s not found", parts[1])
			return
		}
		if x.FinishedAt != nil {
			writeErrors(w, http.StatusBadRequest, "Session with ID %s is already finished", x.ID)
			return
		}
		now := s.now().UTC()
		x.FinishedAt = &now
		writeJSON(w, http.StatusOK, single(sessionResource(x), r.URL.Path))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func isSessionKind(k string) bool { return k == Compat || k == OAuth2 || k == Browser }

// resource is one JSON:API resource.
type resource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	Links      map[string]any `json:"links"`
	Meta       map[string]any `json:"meta,omitempty"`
}

func (r resource) withSelf(kind string) resource {
	r.Links = map[string]any{"self": adminPrefix + kind + "/" + r.ID}
	return r
}

func single(r resource, self string) map[string]any {
	return map[string]any{"data": r, "links": map[string]any{"self": self}}
}

func stamp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.RFC3339Nano)
}

func userResource(u *User) resource {
	return resource{Type: "user", ID: u.ID, Attributes: map[string]any{
		"username": u.Username, "created_at": u.CreatedAt.Format(time.RFC3339Nano), "locked_at": stamp(u.LockedAt),
		"deactivated_at": stamp(u.DeactivatedAt), "admin": false, "legacy_guest": false,
	}}.withSelf("users")
}

func sessionResource(x *Session) resource {
	attrs := map[string]any{"user_id": x.UserID, "created_at": x.CreatedAt.Format(time.RFC3339Nano),
		"finished_at": stamp(x.FinishedAt), "user_agent": "Mozilla/5.0", "last_active_at": nil, "last_active_ip": nil}
	switch x.Kind {
	case Compat:
		attrs["device_id"], attrs["user_session_id"], attrs["redirect_uri"], attrs["human_name"] = "AABBCCDDEE", nil, nil, nil
	case OAuth2:
		attrs["user_session_id"], attrs["client_id"], attrs["scope"], attrs["human_name"] = nil, "01J44Q10GR4AMTFZEEF936DTCM", "urn:matrix:client:api:*", nil
	}
	return resource{Type: strings.TrimSuffix(x.Kind, "s"), ID: x.ID, Attributes: attrs}.withSelf(x.Kind)
}

func linkResource(l *Link) resource {
	var user any
	if l.UserID != "" {
		user = l.UserID
	}
	return resource{Type: "upstream-oauth-link", ID: l.ID, Attributes: map[string]any{
		"created_at": l.CreatedAt.Format(time.RFC3339Nano), "provider_id": l.ProviderID, "subject": l.Subject,
		"user_id": user, "human_account_name": nil,
	}}.withSelf("upstream-oauth-links")
}

func (s *Server) listLinks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	provider, subject := q.Get("filter[provider]"), q.Get("filter[subject]")
	if _, ok := s.providers[provider]; provider != "" && !ok {
		writeErrors(w, http.StatusNotFound, "Provider ID %s not found", provider)
		return
	}
	var rs []resource
	for _, l := range s.links {
		if (provider == "" || l.ProviderID == provider) && (subject == "" || l.Subject == subject) {
			rs = append(rs, linkResource(l))
		}
	}
	writePage(w, r, rs)
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, kind string) {
	q := r.URL.Query()
	user, status := q.Get("filter[user]"), q.Get("filter[status]")
	if _, ok := s.users[user]; user != "" && !ok {
		writeErrors(w, http.StatusNotFound, "User ID %s not found", user)
		return
	}
	var rs []resource
	for _, x := range s.sessions {
		switch {
		case x.Kind != kind, user != "" && x.UserID != user,
			status == "active" && x.FinishedAt != nil, status == "finished" && x.FinishedAt == nil:
			continue
		}
		rs = append(rs, sessionResource(x))
	}
	writePage(w, r, rs)
}

// writePage answers a listing: sorted by ID, cut at page[after] and page[first] (default 10,
// as MAS's), with meta.count, a cursor on each item and a next link while more remain.
func writePage(w http.ResponseWriter, r *http.Request, rs []resource) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	q := r.URL.Query()
	first := 10
	if v := q.Get("page[first]"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeErrors(w, http.StatusBadRequest, "Invalid pagination parameter")
			return
		}
		first = n
	}
	total := len(rs)
	if after := q.Get("page[after]"); after != "" {
		i := sort.Search(len(rs), func(i int) bool { return rs[i].ID > after })
		rs = rs[i:]
	}
	more := len(rs) > first
	if more {
		rs = rs[:first]
	}
	for i := range rs {
		rs[i].Meta = map[string]any{"page": map[string]any{"cursor": rs[i].ID}}
	}
	base := r.URL.Path
	with := func(extra url.Values) string {
		v := url.Values{}
		for k, vs := range q {
			if !strings.HasPrefix(k, "page[") {
				v[k] = vs
			}
		}
		for k, vs := range extra {
			v[k] = vs
		}
		return base + "?" + v.Encode()
	}
	links := map[string]any{
		"self":  r.URL.Path + "?" + r.URL.RawQuery,
		"first": with(url.Values{"page[first]": {strconv.Itoa(first)}}),
		"last":  with(url.Values{"page[last]": {strconv.Itoa(first)}}),
	}
	if more {
		links["next"] = with(url.Values{"page[after]": {rs[len(rs)-1].ID}, "page[first]": {strconv.Itoa(first)}})
	}
	if rs == nil {
		rs = []resource{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"meta": map[string]any{"count": total}, "data": rs, "links": links})
}
