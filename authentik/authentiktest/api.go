package authentiktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Authentik's answers, word for word, so the client meets the texts it will see in production.
const (
	detailNoCredentials = "Authentication credentials were not provided."
	detailBadToken      = "Token invalid/expired"
	detailNoPermission  = "You do not have permission to perform this action."
	detailInvalidPage   = "Invalid page."
	detailNotFound      = "Not found."
	detailNoGroup       = "No Group matches the given query."
	detailNoUser        = "No User matches the given query."
)

// The Allow header Authentik sends on every answer of a route, errors included.
const (
	allowList   = "GET, POST, HEAD, OPTIONS"
	allowDetail = "GET, PUT, PATCH, DELETE, HEAD, OPTIONS"
	allowRead   = "GET, HEAD, OPTIONS"
	allowAction = "POST, OPTIONS"
)

// endpoint is one route of the API the fake serves.
type endpoint int

const (
	groupList endpoint = iota + 1
	groupDetail
	groupAddUser
	groupRemoveUser
	userList
	userDetail
	userMe
	adminVersion
)

// route is a request's endpoint and the pk in its path, if any.
type route struct {
	endpoint endpoint
	pk       string
	allow    string
}

// findRoute maps a path below /api/v3/ to an endpoint. found is false for a path Authentik
// does not route at all (answered with its HTML 404 page); slashless is true for a known route
// without its trailing slash.
func findRoute(rest string) (rt route, found, slashless bool) {
	if !strings.HasSuffix(rest, "/") {
		if r, ok, _ := findRoute(rest + "/"); ok {
			return r, false, true
		}
		return route{}, false, false
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "admin" && parts[1] == "version":
		return route{endpoint: adminVersion, allow: allowRead}, true, false
	case len(parts) < 2 || parts[0] != "core" || slices.Contains(parts, ""):
		return route{}, false, false
	}
	switch {
	case parts[1] == "groups" && len(parts) == 2:
		return route{endpoint: groupList, allow: allowList}, true, false
	case parts[1] == "groups" && len(parts) == 3:
		return route{endpoint: groupDetail, pk: parts[2], allow: allowDetail}, true, false
	case parts[1] == "groups" && len(parts) == 4 && parts[3] == "add_user":
		return route{endpoint: groupAddUser, pk: parts[2], allow: allowAction}, true, false
	case parts[1] == "groups" && len(parts) == 4 && parts[3] == "remove_user":
		return route{endpoint: groupRemoveUser, pk: parts[2], allow: allowAction}, true, false
	case parts[1] == "users" && len(parts) == 2:
		return route{endpoint: userList, allow: allowList}, true, false
	case parts[1] == "users" && len(parts) == 3 && parts[2] == "me":
		return route{endpoint: userMe, allow: allowRead}, true, false
	case parts[1] == "users" && len(parts) == 3:
		return route{endpoint: userDetail, pk: parts[2], allow: allowDetail}, true, false
	}
	return route{}, false, false
}

// serveAPI answers as Authentik would: routing first (an unknown path is Django's HTML 404,
// token or not), then authentication (403, never 401), permissions, method, and the view.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered++
	s.modelledCPU += s.cost.PerRequest
	w.Header().Set("X-Authentik-Id", hexHash("answer", strconv.FormatUint(s.answered, 10))[:32])
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3/")
	if !ok {
		writeNotFoundPage(w)
		return
	}
	rt, found, slashless := findRoute(rest)
	if slashless {
		// Not recorded from a real server; kept as the fake has always answered it.
		writeDetail(w, http.StatusNotFound, detailNotFound)
		return
	}
	if !found {
		writeNotFoundPage(w)
		return
	}
	w.Header().Set("Allow", rt.allow)

	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	holder, known := s.tokens[token]
	switch {
	case !strings.EqualFold(scheme, "bearer") || token == "":
		writeDetail(w, http.StatusForbidden, detailNoCredentials)
		return
	case !known:
		writeDetail(w, http.StatusForbidden, detailBadToken)
		return
	case !holder.privileged && rt.endpoint != userMe && rt.endpoint != adminVersion:
		writeDetail(w, http.StatusForbidden, detailNoPermission)
		return
	}

	reading := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case reading && rt.endpoint == groupList:
		s.listGroups(w, r)
	case r.Method == http.MethodPost && rt.endpoint == groupList:
		s.createGroup(w, r)
	case reading && rt.endpoint == groupDetail:
		s.oneGroup(w, r, rt.pk)
	case r.Method == http.MethodPost && rt.endpoint == groupAddUser:
		s.changeGroupMember(w, r, rt.pk, true)
	case r.Method == http.MethodPost && rt.endpoint == groupRemoveUser:
		s.changeGroupMember(w, r, rt.pk, false)
	case reading && rt.endpoint == userList:
		s.listUsers(w, r)
	case r.Method == http.MethodPost && rt.endpoint == userList:
		s.createUser(w, r)
	case reading && rt.endpoint == userDetail:
		s.oneUser(w, r, rt.pk)
	case reading && rt.endpoint == userMe:
		writeJSON(w, http.StatusOK, s.renderMe(holder))
	case reading && rt.endpoint == adminVersion:
		v := s.version.text
		writeJSON(w, http.StatusOK, versionJSON{VersionCurrent: v, VersionLatest: v, VersionLatestValid: true})
	default:
		// Also the methods Allow names that the fake does not implement (PUT, PATCH, DELETE, OPTIONS).
		writeDetail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
	}
}

// writeJSON writes v as Authentik's renderer does: compact, <>& unescaped, with its headers.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	setCommonHeaders(h)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeEmpty answers 204 as Authentik's add_user and remove_user: no body, no Content-Type.
func writeEmpty(w http.ResponseWriter) {
	setCommonHeaders(w.Header())
	w.WriteHeader(http.StatusNoContent)
}

// setCommonHeaders sets what Authentik's middleware adds to every answer.
func setCommonHeaders(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Vary", "Accept-Language, Cookie")
	h.Set("Content-Language", "en")
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, struct {
		Detail string `json:"detail"`
	}{detail})
}

// fieldError is one field's messages in a 400 answer; a list of them keeps the fields in the
// order Authentik checks them, which a map would not.
type fieldError struct {
	field    string
	messages []string
}

type fieldErrors []fieldError

func (fe fieldErrors) MarshalJSON() ([]byte, error) {
	buf := []byte{'{'}
	for i, e := range fe {
		if i > 0 {
			buf = append(buf, ',')
		}
		k, err := marshal(e.field)
		if err != nil {
			return nil, err
		}
		v, err := marshal(e.messages)
		if err != nil {
			return nil, err
		}
		buf = append(append(append(buf, k...), ':'), v...)
	}
	return append(buf, '}'), nil
}

func writeFieldErrors(w http.ResponseWriter, errs fieldErrors) {
	writeJSON(w, http.StatusBadRequest, errs)
}

// notFoundPage stands in for the HTML page Django serves for a path no route matches; the
// client must tell it from an API answer by its content type.
const notFoundPage = `<!DOCTYPE html>
<html lang="en" data-theme="light" data-theme-choice="auto">
    <head>
        <meta charset="UTF-8">
        <title>authentik</title>
    </head>
    <body>
        <main class="pf-c-login__main" aria-label="Authentication form">
            <h1 class="pf-c-title pf-m-3xl" data-test-id="card-title">Not Found</h1>
            <a id="ak-back-home" href="/" class="pf-c-button pf-m-primary pf-m-block">Go home</a>
        </main>
    </body>
</html>
`

func writeNotFoundPage(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(notFoundPage)))
	setCommonHeaders(h)
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(notFoundPage))
}

// Pagination is Authentik's pagination object, as the fake writes it.
type Pagination struct {
	Next       int `json:"next"`
	Previous   int `json:"previous"`
	Count      int `json:"count"`
	Current    int `json:"current"`
	TotalPages int `json:"total_pages"`
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

// PageOf is the pagination of page current (from 1, within range) of a listing of count entries
// cut into pages of size, as Authentik answers it: next and previous are 0 where there is no such
// page, and the start and end indexes (from 1) are 0 for an empty listing.
func PageOf(count, current, size int) Pagination {
	p := Pagination{Count: count, Current: current, TotalPages: max(1, (count+size-1)/size)}
	if current < p.TotalPages {
		p.Next = current + 1
	}
	if current > 1 {
		p.Previous = current - 1
	}
	if count > 0 {
		p.StartIndex, p.EndIndex = (current-1)*size+1, min(current*size, count)
	}
	return p
}

type pageJSON struct {
	Pagination   Pagination      `json:"pagination"`
	Results      []any           `json:"results"`
	Autocomplete json.RawMessage `json:"autocomplete"`
}

// The autocomplete objects of the listings (the fields Authentik's search language knows),
// copied from the recorded answers.
var (
	groupAutocomplete = json.RawMessage(`{"current_model":"authentik_core.group","models":{"authentik_core.group":` +
		`{"name":{"type":"str","nullable":false,"options":null},"is_superuser":{"type":"bool","nullable":true,"options":null},` +
		`"attributes":{"type":"relation","nullable":false,"options":null,"relation":"authentik_core.group_attributes"}}}}`)
	userAutocomplete = json.RawMessage(`{"current_model":"authentik_core.user","models":{"authentik_core.user":` +
		`{"username":{"type":"str","nullable":false,"options":null},"name":{"type":"str","nullable":false,"options":null},` +
		`"email":{"type":"str","nullable":false,"options":null},"path":{"type":"str","nullable":false,"options":null},` +
		`"is_active":{"type":"bool","nullable":true,"options":null},"type":{"type":"str","nullable":false,` +
		`"options":["internal","external","service_account","internal_service_account"]},` +
		`"attributes":{"type":"relation","nullable":false,"options":null,"relation":"authentik_core.user_attributes"}}}}`)
)

// writePage cuts a listing of count results the way Authentik's pagination class does, and
// renders only the results of the page asked for: a member listing of a large group is read a
// page at a time, and rendering all of it for each page made listings slow.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, count int, render func(i int) any, autocomplete json.RawMessage) {
	q := r.URL.Query()
	size := s.pageSize
	if v, err := strconv.Atoi(q.Get("page_size")); err == nil && v > 0 {
		size = v
	}
	if s.maxPageSize > 0 && size > s.maxPageSize {
		size = s.maxPageSize
	}
	totalPages := max(1, (count+size-1)/size)
	current := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if v == "last" {
			n, err = totalPages, nil
		}
		if err != nil || n < 1 || n > totalPages {
			writeDetail(w, http.StatusNotFound, detailInvalidPage)
			return
		}
		current = n
	}
	p := PageOf(count, current, size)
	start, end := max(p.StartIndex-1, 0), p.EndIndex
	results := make([]any, 0, end-start)
	for i := start; i < end; i++ {
		results = append(results, render(i))
	}
	writeJSON(w, http.StatusOK, pageJSON{Pagination: p, Results: results, Autocomplete: autocomplete})
}

// queryTrue reads a flag the way Authentik's serializers do: only "true" (any case) is true.
func queryTrue(r *http.Request, name string, dflt bool) bool {
	v, ok := r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return dflt
	}
	return strings.EqualFold(v[len(v)-1], "true")
}

// queryBool reads a django-filter boolean: true/false/1/0 (any case), anything else is no
// filter (ok false).
func queryBool(r *http.Request, name string) (value, ok bool) {
	switch strings.ToLower(r.URL.Query().Get(name)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}
