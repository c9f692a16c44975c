package authentiktest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Authentik's answers, word for word, so the client meets the texts it will see in production.
const (
	detailNoCredentials = "Authentication credentials were not provided."
	detailBadToken      = "Token invalid/expired"
	detailInvalidPage   = "Invalid page."
)

type paginationJSON struct {
	Next       int `json:"next"`
	Previous   int `json:"previous"`
	Count      int `json:"count"`
	Current    int `json:"current"`
	TotalPages int `json:"total_pages"`
	StartIndex int `json:"start_index"`
	EndIndex   int `json:"end_index"`
}

type pageJSON struct {
	Pagination paginationJSON `json:"pagination"`
	Results    []any          `json:"results"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

// serveAPI answers as Authentik would: authentication first (403, never 401), then routing.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case !strings.EqualFold(scheme, "bearer") || token == "":
		writeDetail(w, http.StatusForbidden, detailNoCredentials)
		return
	case token != s.token:
		writeDetail(w, http.StatusForbidden, detailBadToken)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/v3/")
	if !ok {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	parts := strings.Split(rest, "/")
	// Every route ends in a slash, so the last part is empty.
	if len(parts) < 3 || parts[0] != "core" || parts[len(parts)-1] != "" || len(parts) > 4 {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if r.Method != http.MethodGet {
		writeDetail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case parts[1] == "groups" && len(parts) == 3:
		s.listGroups(w, r)
	case parts[1] == "groups":
		s.oneGroup(w, r, parts[2])
	case parts[1] == "users" && len(parts) == 3:
		s.listUsers(w, r)
	case parts[1] == "users":
		s.oneUser(w, r, parts[2])
	default:
		writeDetail(w, http.StatusNotFound, "Not found.")
	}
}

// queryTrue reads a flag the way Authentik's views do: only "true" (any case) is true.
func queryTrue(r *http.Request, name string, dflt bool) bool {
	v, ok := r.URL.Query()[name]
	if !ok || len(v) == 0 {
		return dflt
	}
	return strings.EqualFold(v[len(v)-1], "true")
}

func (s *Server) sortedGroups() []*Group {
	gs := slices.Collect(maps.Values(s.groups))
	slices.SortFunc(gs, func(a, b *Group) int { return strings.Compare(a.Name, b.Name) })
	return gs
}

func (s *Server) sortedUsers() []*User {
	us := slices.Collect(maps.Values(s.users))
	slices.SortFunc(us, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return us
}

func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	includeUsers := queryTrue(r, "include_users", true)
	var results []any
	for _, g := range s.sortedGroups() {
		if q.Has("name") && q.Get("name") != g.Name {
			continue
		}
		results = append(results, s.groupJSON(g, includeUsers))
	}
	s.writePage(w, r, results)
}

func (s *Server) oneGroup(w http.ResponseWriter, r *http.Request, pk string) {
	g, ok := s.groups[pk]
	if !ok {
		writeDetail(w, http.StatusNotFound, "No Group matches the given query.")
		return
	}
	writeJSON(w, http.StatusOK, s.groupJSON(g, queryTrue(r, "include_users", true)))
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	inGroups := map[int]bool{}
	for _, pk := range q["groups_by_pk"] {
		g, ok := s.groups[pk]
		if !ok {
			// django-filter's answer for a choice that does not exist.
			writeJSON(w, http.StatusBadRequest, map[string][]string{
				"groups_by_pk": {fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", pk)},
			})
			return
		}
		for _, m := range g.Members {
			inGroups[m] = true
		}
	}
	// django-filter's boolean widget: anything but true/false/1/0 means "no filter".
	activeFilter := -1
	switch strings.ToLower(q.Get("is_active")) {
	case "true", "1":
		activeFilter = 1
	case "false", "0":
		activeFilter = 0
	}
	includeGroups := queryTrue(r, "include_groups", true)
	var results []any
	for _, u := range s.candidates(q.Has("groups_by_pk"), inGroups) {
		switch {
		case q.Has("groups_by_pk") && !inGroups[u.PK],
			q.Has("username") && q.Get("username") != u.Username,
			activeFilter == 1 && !u.IsActive,
			activeFilter == 0 && u.IsActive:
			continue
		}
		results = append(results, lazyUser{s, u, includeGroups})
	}
	s.writePage(w, r, results)
}

func (s *Server) oneUser(w http.ResponseWriter, r *http.Request, pkText string) {
	pk, err := strconv.Atoi(pkText)
	u, ok := s.users[pk]
	if err != nil || !ok {
		writeDetail(w, http.StatusNotFound, "No User matches the given query.")
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(u, queryTrue(r, "include_groups", true)))
}

// writePage cuts results the way Authentik's pagination class does.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, results []any) {
	q := r.URL.Query()
	size := s.pageSize
	if v, err := strconv.Atoi(q.Get("page_size")); err == nil && v > 0 {
		size = v
	}
	if s.maxPageSize > 0 && size > s.maxPageSize {
		size = s.maxPageSize
	}
	count := len(results)
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
	start := (current - 1) * size
	end := min(start+size, count)
	p := paginationJSON{Count: count, Current: current, TotalPages: totalPages}
	if current < totalPages {
		p.Next = current + 1
	}
	if current > 1 {
		p.Previous = current - 1
	}
	if count > 0 {
		p.StartIndex, p.EndIndex = start+1, end
	}
	page := pageJSON{Pagination: p, Results: results[start:end]}
	if page.Results == nil {
		page.Results = []any{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) groupJSON(g *Group, includeUsers bool) map[string]any {
	members := slices.Clone(g.Members)
	if members == nil {
		members = []int{}
	}
	var usersObj any // null when not asked for, as Authentik does
	if includeUsers {
		objs := make([]any, 0, len(members))
		for _, pk := range members {
			u := s.users[pk]
			objs = append(objs, map[string]any{
				"pk": u.PK, "username": u.Username, "name": u.Name, "is_active": u.IsActive,
				"last_login": nil, "email": u.Email, "attributes": u.Attributes, "uid": u.UID,
			})
		}
		usersObj = objs
	}
	out := map[string]any{
		"pk": g.PK, "num_pk": g.NumPK, "name": g.Name, "is_superuser": false,
		"users": members, "users_obj": usersObj, "attributes": map[string]any{},
		"roles": []string{}, "roles_obj": []any{},
	}
	if s.legacy {
		out["parent"], out["parent_name"] = nil, nil
		if len(g.Parents) > 0 {
			out["parent"] = g.Parents[0]
			if p, ok := s.groups[g.Parents[0]]; ok {
				out["parent_name"] = p.Name
			}
		}
		return out
	}
	children := []string{}
	for _, c := range s.sortedGroups() {
		if slices.Contains(c.Parents, g.PK) {
			children = append(children, c.PK)
		}
	}
	parents := slices.Clone(g.Parents)
	if parents == nil {
		parents = []string{}
	}
	out["parents"], out["parents_obj"] = parents, nil
	out["children"], out["children_obj"] = children, nil
	out["inherited_roles_obj"] = []any{}
	return out
}

func (s *Server) userJSON(u *User, includeGroups bool) map[string]any {
	groups := []string{}
	var groupsObj []any
	for _, g := range s.sortedGroups() {
		if slices.Contains(g.Members, u.PK) {
			groups = append(groups, g.PK)
			groupsObj = append(groupsObj, map[string]any{
				"pk": g.PK, "num_pk": g.NumPK, "name": g.Name, "is_superuser": false, "attributes": map[string]any{},
			})
		}
	}
	out := map[string]any{
		"pk": u.PK, "username": u.Username, "name": u.Name, "is_active": u.IsActive,
		"last_login": nil, "date_joined": "2024-01-01T00:00:00Z", "is_superuser": false,
		"groups": groups, "groups_obj": nil, "email": u.Email, "avatar": "", "attributes": u.Attributes,
		"uid": u.UID, "path": "users", "type": "internal", "uuid": u.UUID,
	}
	if includeGroups {
		if groupsObj == nil {
			groupsObj = []any{}
		}
		out["groups_obj"] = groupsObj
	}
	return out
}
