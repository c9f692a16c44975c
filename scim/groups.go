package scim

import (
	"net/http"
	"slices"

	"authentik-matrix-sync/scimstate"
)

// groups serves /Groups, /Groups/{id} and /Groups/.search.
func (h *Handler) groups(q *request, id string) {
	if id == searchSegment {
		h.search(q, false, true)
		return
	}
	route(q, id, resourceOps{list: h.listGroups, create: h.createGroup, get: h.getGroup, remove: h.deleteGroup, write: h.writeGroup})
}

func (h *Handler) getGroup(q *request, id string) {
	sh, e := shapeQuery(q.r)
	if e != nil {
		q.fail(e)
		return
	}
	var out groupResource
	var found bool
	err := h.opts.Resources.view(q.r.Context(), func(s *scimstate.Snapshot) {
		var g scimstate.Group
		if g, found = s.Groups[id]; found {
			out = toGroupResource(g, s, sh.wants("members"))
		}
	})
	switch {
	case err != nil:
		q.fail(unavailable(err))
	case !found:
		q.fail(notFound("no group with id %q", id))
	default:
		q.answer(http.StatusOK, sh.apply(out))
	}
}

// displayNameTaken reports whether a group other than id has displayName. The directory finds
// groups by displayName (Authentik's group name, unique there), so two must never share one.
func displayNameTaken(s *scimstate.Snapshot, displayName, id string) bool {
	for _, g := range s.Groups {
		if g.DisplayName == displayName && g.ID != id {
			return true
		}
	}
	return false
}

// checkMembers refuses a group that lists itself.
func checkMembers(id string, members []string) *Error {
	if slices.Contains(members, id) {
		return badRequest(typeInvalidValue, "a group cannot be a member of itself (%q)", id)
	}
	return nil
}

func (h *Handler) createGroup(q *request) {
	body, ok := h.body(q)
	if !ok {
		return
	}
	g, members, e := parseGroup(body)
	if e == nil {
		e = validGroup(scimstate.Group{DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: members})
	}
	if e != nil {
		q.fail(e)
		return
	}
	var out groupResource
	e = h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		if displayNameTaken(s, g.DisplayName, "") {
			// Authentik then looks the group up by displayName and adopts it (clients/groups.py).
			return nil, conflict("a group with displayName %q exists already", g.DisplayName)
		}
		g.ID = h.opts.NewID()
		g.Created = h.opts.Resources.clock()
		g.Modified = g.Created
		slices.Sort(members)
		g.Members = members
		out = toGroupResource(g, s, true)
		return &scimstate.Change{PutGroup: &g, MembersOf: g.ID, AddMembers: members}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	h.opts.Log.Info().Str("scim_id", g.ID).Str("group", g.DisplayName).Int("members", len(members)).Msg("SCIM group created")
	h.changed([]string{g.DisplayName})
	q.w.Header().Set("Location", basePath+"/Groups/"+g.ID)
	q.answer(http.StatusCreated, out)
}

// writeGroup serves PUT (replace, members included: none given means none) and PATCH.
func (h *Handler) writeGroup(q *request, id string) {
	body, ok := h.body(q)
	if !ok {
		return
	}
	var replacement scimstate.Group
	var replacementMembers []string
	var ops []operation
	var e *Error
	if q.r.Method == http.MethodPut {
		if replacement, replacementMembers, e = parseGroup(body); e == nil {
			e = sameID(body, id)
		}
	} else {
		ops, e = parsePatch(body)
	}
	if e != nil {
		q.fail(e)
		return
	}
	var out groupResource
	var affected []string
	var added, removed int
	e = h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		old, found := s.Groups[id]
		if !found {
			return nil, notFound("no group with id %q", id)
		}
		next := replacement
		if ops != nil {
			var e *Error
			if next, e = patchGroup(old, ops, s); e != nil {
				return nil, e
			}
		} else {
			slices.Sort(replacementMembers)
			next.Members = replacementMembers
		}
		if e := checkMembers(id, next.Members); e != nil {
			return nil, e
		}
		if e := validGroup(next); e != nil {
			return nil, e
		}
		if displayNameTaken(s, next.DisplayName, id) {
			return nil, conflict("another group has displayName %q", next.DisplayName)
		}
		next.ID, next.Created, next.Modified = id, old.Created, old.Modified
		add, remove := difference(next.Members, old.Members), difference(old.Members, next.Members)
		added, removed = len(add), len(remove)
		if next.DisplayName != old.DisplayName || next.ExternalID != old.ExternalID || added+removed > 0 {
			next.Modified = h.opts.Resources.clock()
			affected = append(groupsListing(s, id), old.DisplayName, next.DisplayName)
		}
		out = toGroupResource(next, s, true)
		return &scimstate.Change{PutGroup: &next, MembersOf: id, AddMembers: add, RemoveMembers: remove}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	if affected != nil {
		h.opts.Log.Info().Str("scim_id", id).Str("group", out.DisplayName).Int("added", added).Int("removed", removed).Msg("SCIM group updated")
	}
	h.changed(affected)
	q.answer(http.StatusOK, out)
}

func (h *Handler) deleteGroup(q *request, id string) {
	var affected []string
	e := h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		g, found := s.Groups[id]
		if !found {
			return nil, notFound("no group with id %q", id)
		}
		affected = append(groupsListing(s, id), g.DisplayName)
		return &scimstate.Change{DeleteGroup: id}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	h.opts.Log.Info().Str("scim_id", id).Strs("groups", affected).Msg("SCIM group deleted")
	h.changed(affected)
	q.noContent()
}

// difference returns the values of a that are not in b; both are sorted.
func difference(a, b []string) []string {
	var out []string
	for _, v := range a {
		if _, found := slices.BinarySearch(b, v); !found {
			out = append(out, v)
		}
	}
	return out
}

func (h *Handler) listGroups(q *request) {
	page, e := parseListQuery(q.r, groupAttributes)
	if e != nil {
		q.fail(e)
		return
	}
	h.query(q, page, false, true)
}
