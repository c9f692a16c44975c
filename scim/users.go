package scim

import (
	"net/http"
	"slices"

	"authentik-matrix-sync/scimstate"
)

// users serves /Users, /Users/{id} and /Users/.search.
func (h *Handler) users(q *request, id string) {
	if id == searchSegment {
		h.search(q, true, false)
		return
	}
	route(q, id, resourceOps{list: h.listUsers, create: h.createUser, get: h.getUser, remove: h.deleteUser, write: h.writeUser})
}

func (h *Handler) getUser(q *request, id string) {
	sh, e := shapeQuery(q.r)
	if e != nil {
		q.fail(e)
		return
	}
	var u scimstate.User
	var found bool
	if err := h.opts.Resources.view(q.r.Context(), func(s *scimstate.Snapshot) { u, found = s.Users[id] }); err != nil {
		q.fail(unavailable(err))
		return
	}
	if !found {
		q.fail(notFound("no user with id %q", id))
		return
	}
	q.answer(http.StatusOK, sh.apply(toUserResource(u)))
}

// userNameTaken reports whether a user other than id has userName. SCIM says userName is
// unique; exact comparison, because Authentik's usernames are case-sensitive and two users that
// differ only in case must not adopt each other's SCIM id after a 409.
func userNameTaken(s *scimstate.Snapshot, userName, id string) bool {
	for _, u := range s.Users {
		if u.UserName == userName && u.ID != id {
			return true
		}
	}
	return false
}

func (h *Handler) createUser(q *request) {
	body, ok := h.body(q)
	if !ok {
		return
	}
	u, e := parseUser(body)
	if e != nil {
		q.fail(e)
		return
	}
	e = h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		if userNameTaken(s, u.UserName, "") {
			return nil, conflict("a user with userName %q exists already", u.UserName)
		}
		u.ID = h.opts.NewID()
		u.Created = h.opts.Resources.clock()
		u.Modified = u.Created
		return &scimstate.Change{PutUser: &u}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	h.opts.Log.Info().Str("scim_id", u.ID).Str("username", u.UserName).Msg("SCIM user created")
	q.w.Header().Set("Location", basePath+"/Users/"+u.ID)
	q.answer(http.StatusCreated, toUserResource(u))
}

// writeUser serves PUT (replace) and PATCH (modify) of one user.
func (h *Handler) writeUser(q *request, id string) {
	body, ok := h.body(q)
	if !ok {
		return
	}
	var replacement scimstate.User
	var ops []operation
	var e *Error
	if q.r.Method == http.MethodPut {
		if replacement, e = parseUser(body); e == nil {
			e = sameID(body, id)
		}
	} else {
		ops, e = parsePatch(body)
	}
	if e != nil {
		q.fail(e)
		return
	}
	var result scimstate.User
	var affected []string
	e = h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		old, found := s.Users[id]
		if !found {
			return nil, notFound("no user with id %q", id)
		}
		next := replacement
		if ops != nil {
			var e *Error
			if next, e = patchUser(old, ops); e != nil {
				return nil, e
			}
		}
		if userNameTaken(s, next.UserName, id) {
			return nil, conflict("another user has userName %q", next.UserName)
		}
		next.ID, next.Created, next.Modified = id, old.Created, old.Modified
		if !sameUser(old, next) {
			next.Modified = h.opts.Resources.clock()
			affected = groupsListing(s, id)
		}
		result = next
		// An unchanged write still counts as a write: Authentik's full sync writes every user
		// again, and the initial sync is not over while it does.
		return &scimstate.Change{PutUser: &next}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	if affected != nil {
		h.opts.Log.Info().Str("scim_id", id).Str("username", result.UserName).Bool("active", result.Active).Msg("SCIM user updated")
	}
	h.changed(affected)
	q.answer(http.StatusOK, toUserResource(result))
}

func (h *Handler) deleteUser(q *request, id string) {
	var affected []string
	var name string
	e := h.opts.Resources.update(q.r.Context(), func(s *scimstate.Snapshot) (*scimstate.Change, *Error) {
		u, found := s.Users[id]
		if !found {
			return nil, notFound("no user with id %q", id)
		}
		name, affected = u.UserName, groupsListing(s, id)
		return &scimstate.Change{DeleteUser: id}, nil
	})
	if e != nil {
		q.fail(e)
		return
	}
	h.opts.Log.Info().Str("scim_id", id).Str("username", name).Strs("groups", affected).Msg("SCIM user deleted; removed from its groups")
	h.changed(affected)
	q.noContent()
}

// sameUser compares what a user is, leaving out the times.
func sameUser(a, b scimstate.User) bool {
	return a.UserName == b.UserName && a.ExternalID == b.ExternalID && a.Active == b.Active &&
		a.DisplayName == b.DisplayName && a.Name == b.Name && slices.Equal(a.Emails, b.Emails)
}

// groupsListing returns the displayNames of the groups that list value as a direct member.
func groupsListing(s *scimstate.Snapshot, value string) []string {
	out := []string{}
	for _, g := range s.Groups {
		if _, found := slices.BinarySearch(g.Members, value); found {
			out = append(out, g.DisplayName)
		}
	}
	slices.Sort(out)
	return out
}

func (h *Handler) listUsers(q *request) {
	page, e := parseListQuery(q.r, userAttributes)
	if e != nil {
		q.fail(e)
		return
	}
	h.query(q, page, true, false)
}
