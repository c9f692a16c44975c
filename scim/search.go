package scim

import (
	"net/http"
	"slices"
	"strings"

	"authentik-matrix-sync/scimstate"
)

// searchSegment is the last path segment of a query by POST (RFC 7644 §3.4.3): /.search at the
// root searches users and groups, /Users/.search and /Groups/.search one type.
const searchSegment = ".search"

// shapeQuery reads attributes and excludedAttributes of a GET of one resource.
func shapeQuery(r *http.Request) (shape, *Error) {
	q := r.URL.Query()
	return parseShape(q["attributes"], q["excludedAttributes"])
}

// search answers a POST of a SearchRequest to …/.search.
func (h *Handler) search(q *request, users, groups bool) {
	if !allow(q, http.MethodPost) {
		return
	}
	body, ok := h.body(q)
	if !ok {
		return
	}
	var known []map[string]bool
	if users {
		known = append(known, userAttributes)
	}
	if groups {
		known = append(known, groupAttributes)
	}
	page, e := parseSearchBody(body, known...)
	if e != nil {
		q.fail(e)
		return
	}
	h.query(q, page, users, groups)
}

// query answers a query of users, groups or both (users first): the page of the sorted matches,
// shaped as asked.
func (h *Handler) query(q *request, page listPage, users, groups bool) {
	var resources []any
	var total int
	err := h.opts.Resources.view(q.r.Context(), func(s *scimstate.Snapshot) {
		var us []scimstate.User
		if users {
			for _, u := range s.Users {
				if page.matches(userRecord(u)) {
					us = append(us, u)
				}
			}
			exact, byName := page.exactUserName()
			slices.SortFunc(us, func(a, b scimstate.User) int {
				// An exact userName match first: after a 409 Authentik adopts the first result.
				if byName && (a.UserName == exact) != (b.UserName == exact) {
					if a.UserName == exact {
						return -1
					}
					return 1
				}
				return strings.Compare(a.UserName+"\x00"+a.ID, b.UserName+"\x00"+b.ID)
			})
		}
		var gs []scimstate.Group
		if groups {
			for _, g := range s.Groups {
				if page.matches(groupRecord(g, s)) {
					gs = append(gs, g)
				}
			}
			slices.SortFunc(gs, func(a, b scimstate.Group) int {
				return strings.Compare(a.DisplayName+"\x00"+a.ID, b.DisplayName+"\x00"+b.ID)
			})
		}
		total = len(us) + len(gs)
		withMembers := page.shape.wants("members")
		resources = make([]any, 0, min(total, page.count))
		for _, i := range page.window(total) {
			if i < len(us) {
				resources = append(resources, page.shape.apply(toUserResource(us[i])))
			} else {
				resources = append(resources, page.shape.apply(toGroupResource(gs[i-len(us)], s, withMembers)))
			}
		}
	})
	if err != nil {
		q.fail(unavailable(err))
		return
	}
	q.answer(http.StatusOK, page.response(total, resources))
}
