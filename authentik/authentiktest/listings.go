package authentiktest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// django-filter's words for a filter value that names nothing.
func invalidChoice(value string) string {
	return fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", value)
}

func invalidPKValue(value string) string { return fmt.Sprintf("“%s” is not a valid value.", value) }

// listGroups serves core/groups/ with the filters of Authentik's GroupFilter and search.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs fieldErrors
	var memberFilters []map[*Group]bool // each filter's groups: a group must pass each
	groupsHolding := func(users []*User) map[*Group]bool {
		set := map[*Group]bool{}
		for _, u := range users {
			for _, g := range s.groupsOf(u.PK) {
				set[g] = true
			}
		}
		return set
	}
	if names, ok := q["members_by_username"]; ok {
		var users []*User
		for _, n := range names {
			u := s.userByName(n)
			if u == nil {
				errs = append(errs, fieldError{"members_by_username", []string{invalidChoice(n)}})
				break
			}
			users = append(users, u)
		}
		memberFilters = append(memberFilters, groupsHolding(users))
	}
	if pks, ok := q["members_by_pk"]; ok {
		var users []*User
		for _, text := range pks {
			pk, err := strconv.Atoi(text)
			if err != nil {
				errs = append(errs, fieldError{"members_by_pk", []string{invalidPKValue(text)}})
				break
			}
			u, ok := s.users[pk]
			if !ok {
				errs = append(errs, fieldError{"members_by_pk", []string{invalidChoice(text)}})
				break
			}
			users = append(users, u)
		}
		memberFilters = append(memberFilters, groupsHolding(users))
	}
	if len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	superuser, bySuperuser := queryBool(r, "is_superuser")
	search := strings.ToLower(q.Get("search"))
	v := s.newGroupView(queryTrue(r, "include_users", true), queryTrue(r, "include_children", false),
		queryTrue(r, "include_parents", false))
	var groups []*Group
	for _, g := range s.sortedGroups() {
		switch {
		case q.Has("name") && q.Get("name") != g.Name,
			slices.ContainsFunc(memberFilters, func(set map[*Group]bool) bool { return !set[g] }),
			bySuperuser && g.IsSuperuser != superuser,
			search != "" && !strings.Contains(strings.ToLower(g.Name), search):
			continue
		}
		groups = append(groups, g)
	}
	s.writePage(w, r, len(groups), func(i int) any { return v.render(groups[i]) }, groupAutocomplete)
}

// oneGroup serves core/groups/{pk}/. Retrieval takes the same include_* flags as the listing:
// the recorded retrieval (19) shows parents_obj and children_obj because it asked for them,
// which fits the listing (14), where they are null unless asked for.
func (s *Server) oneGroup(w http.ResponseWriter, r *http.Request, pk string) {
	g, ok := s.groups[pk]
	if !ok {
		writeDetail(w, http.StatusNotFound, detailNoGroup)
		return
	}
	v := s.newGroupView(queryTrue(r, "include_users", true), queryTrue(r, "include_children", false),
		queryTrue(r, "include_parents", false))
	writeJSON(w, http.StatusOK, v.render(g))
}

// listUsers serves core/users/ with the filters of Authentik's UserFilter and search.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var errs fieldErrors
	var groupFilters [][]*Group // each filter's groups: a user must be in one of each
	if names, ok := q["groups_by_name"]; ok {
		var gs []*Group
		for _, n := range names {
			g, ok := s.groups[s.groupByName[n]]
			if !ok {
				errs = append(errs, fieldError{"groups_by_name", []string{invalidChoice(n)}})
				break
			}
			gs = append(gs, g)
		}
		groupFilters = append(groupFilters, gs)
	}
	if pks, ok := q["groups_by_pk"]; ok {
		var gs []*Group
		for _, pk := range pks {
			g, ok := s.groups[pk]
			if !ok {
				errs = append(errs, fieldError{"groups_by_pk", []string{invalidChoice(pk)}})
				break
			}
			gs = append(gs, g)
		}
		groupFilters = append(groupFilters, gs)
	}
	if len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	active, byActive := queryBool(r, "is_active")
	search := strings.ToLower(q.Get("search"))
	includeGroups := queryTrue(r, "include_groups", true)
	var users []*User
	for _, u := range s.candidates(groupFilters) {
		switch {
		case q.Has("username") && q.Get("username") != u.Username,
			byActive && u.IsActive != active,
			search != "" && !matchesUserSearch(u, search):
			continue
		}
		users = append(users, u)
	}
	s.writePage(w, r, len(users), func(i int) any {
		s.charge(1, 0)
		return s.renderUser(users[i], includeGroups)
	}, userAutocomplete)
}

// matchesUserSearch is Authentik's user search (icontains over these fields); search is lower case.
func matchesUserSearch(u *User, search string) bool {
	for _, f := range []string{u.Username, u.Name, u.Email, u.UUID} {
		if strings.Contains(strings.ToLower(f), search) {
			return true
		}
	}
	return false
}

func (s *Server) oneUser(w http.ResponseWriter, r *http.Request, pkText string) {
	pk, err := strconv.Atoi(pkText)
	u, ok := s.users[pk]
	if err != nil || !ok {
		writeDetail(w, http.StatusNotFound, detailNoUser)
		return
	}
	s.charge(1, 0)
	writeJSON(w, http.StatusOK, s.renderUser(u, queryTrue(r, "include_groups", true)))
}

// candidates returns the users a listing must look at, sorted by username: the members of the
// filtered groups when the listing filters by group, else everyone. Sorting only the members
// keeps a member listing of a 50,000-user directory from sorting all of it for every page.
func (s *Server) candidates(groupFilters [][]*Group) []*User {
	if len(groupFilters) == 0 {
		return s.sortedUsers()
	}
	in := func(gs []*Group, pk int) bool {
		return slices.ContainsFunc(gs, func(g *Group) bool {
			_, found := slices.BinarySearch(g.Members, pk)
			return found
		})
	}
	seen := map[int]bool{}
	var us []*User
	for _, g := range groupFilters[0] {
		for _, pk := range g.Members {
			u, ok := s.users[pk]
			if !ok || seen[pk] {
				continue
			}
			seen[pk] = true
			if !slices.ContainsFunc(groupFilters[1:], func(gs []*Group) bool { return !in(gs, pk) }) {
				us = append(us, u)
			}
		}
	}
	slices.SortFunc(us, func(a, b *User) int { return strings.Compare(a.Username, b.Username) })
	return us
}
