package authentiktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// DRF's words for the field errors the writes below can meet.
const (
	msgRequired    = "This field is required."
	msgBlank       = "This field may not be blank."
	msgNotInteger  = "A valid integer is required."
	msgUserTaken   = "This field must be unique."
	msgGroupTaken  = "Group with this name already exists."
	parseErrPrefix = "JSON parse error - "
)

func invalidPK(pk any) string { return fmt.Sprintf("Invalid pk \"%v\" - object does not exist.", pk) }

// readBody decodes a request body as DRF's JSON parser would, answering 400 itself on failure.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		writeDetail(w, http.StatusBadRequest, parseErrPrefix+err.Error())
		return false
	}
	return true
}

// createUser serves POST core/users/ (Authentik's UserSerializer: username and name required).
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username   *string        `json:"username"`
		Name       *string        `json:"name"`
		IsActive   *bool          `json:"is_active"`
		Groups     []string       `json:"groups"`
		Email      string         `json:"email"`
		Attributes map[string]any `json:"attributes"`
	}
	if !readBody(w, r, &in) {
		return
	}
	var errs fieldErrors
	switch {
	case in.Username == nil:
		errs = append(errs, fieldError{"username", []string{msgRequired}})
	case *in.Username == "":
		errs = append(errs, fieldError{"username", []string{msgBlank}})
	case s.userByName(*in.Username) != nil:
		errs = append(errs, fieldError{"username", []string{msgUserTaken}})
	}
	switch {
	case in.Name == nil:
		errs = append(errs, fieldError{"name", []string{msgRequired}})
	case *in.Name == "":
		errs = append(errs, fieldError{"name", []string{msgBlank}})
	}
	var groups []*Group
	for _, pk := range in.Groups {
		g, ok := s.groups[pk]
		if !ok {
			errs = append(errs, fieldError{"groups", []string{invalidPK(pk)}})
			break
		}
		groups = append(groups, g)
	}
	if len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	opts := []UserOption{WithName(*in.Name), WithEmail(in.Email), WithAttributes(in.Attributes)}
	if in.IsActive != nil {
		opts = append(opts, WithActive(*in.IsActive))
	}
	u, err := s.newUser(*in.Username, opts...)
	if err != nil {
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	}
	s.storeUser(u)
	for _, g := range groups {
		s.addMembersByPK(g, []int{u.PK})
	}
	writeJSON(w, http.StatusCreated, s.renderUser(u, queryTrue(r, "include_groups", true)))
}

// createGroup serves POST core/groups/. Since 2025.12 a group takes a list of "parents" and a
// single "parent" is ignored (recorded: 05); older releases take "parent" and ignore "parents".
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name        *string        `json:"name"`
		IsSuperuser bool           `json:"is_superuser"`
		Parents     []string       `json:"parents"`
		Parent      *string        `json:"parent"`
		Users       []int          `json:"users"`
		Attributes  map[string]any `json:"attributes"`
	}
	if !readBody(w, r, &in) {
		return
	}
	var errs fieldErrors
	switch {
	case in.Name == nil:
		errs = append(errs, fieldError{"name", []string{msgRequired}})
	case *in.Name == "":
		errs = append(errs, fieldError{"name", []string{msgBlank}})
	default:
		if _, taken := s.groupByName[*in.Name]; taken {
			errs = append(errs, fieldError{"name", []string{msgGroupTaken}})
		}
	}
	parentField, parents := "parents", in.Parents
	if s.version.groupShape() != shapeParents {
		parentField, parents = "parent", nil
		if in.Parent != nil {
			parents = []string{*in.Parent}
		}
	}
	for _, pk := range parents {
		if _, ok := s.groups[pk]; !ok {
			errs = append(errs, fieldError{parentField, []string{invalidPK(pk)}})
			break
		}
	}
	for _, pk := range in.Users {
		if _, ok := s.users[pk]; !ok {
			errs = append(errs, fieldError{"users", []string{invalidPK(pk)}})
			break
		}
	}
	if len(errs) > 0 {
		writeFieldErrors(w, errs)
		return
	}
	g, err := s.newGroup(*in.Name, parents, WithGroupSuperuser(in.IsSuperuser), WithGroupAttributes(in.Attributes))
	if err != nil {
		writeDetail(w, http.StatusBadRequest, err.Error())
		return
	}
	s.storeGroup(g)
	s.addMembersByPK(g, in.Users)
	v := s.newGroupView(queryTrue(r, "include_users", true), queryTrue(r, "include_children", false),
		queryTrue(r, "include_parents", false))
	writeJSON(w, http.StatusCreated, v.render(g))
}

// changeGroupMember serves POST core/groups/{pk}/add_user/ and remove_user/ with {"pk": N}.
func (s *Server) changeGroupMember(w http.ResponseWriter, r *http.Request, groupPK string, add bool) {
	g, ok := s.groups[groupPK]
	if !ok {
		writeDetail(w, http.StatusNotFound, detailNoGroup)
		return
	}
	var in map[string]json.RawMessage
	if !readBody(w, r, &in) {
		return
	}
	raw, given := in["pk"]
	if !given {
		writeFieldErrors(w, fieldErrors{{"pk", []string{msgRequired}}})
		return
	}
	pk, ok := integerField(raw)
	if !ok {
		writeFieldErrors(w, fieldErrors{{"pk", []string{msgNotInteger}}})
		return
	}
	if _, ok := s.users[pk]; !ok {
		writeDetail(w, http.StatusNotFound, detailNotFound)
		return
	}
	if add {
		s.addMembersByPK(g, []int{pk})
	} else {
		s.removeMembersByPK(g, []int{pk})
	}
	writeEmpty(w)
}

// integerField reads a DRF IntegerField, which takes 5 and "5" alike.
func integerField(raw json.RawMessage) (int, bool) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, true
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		if n, err := strconv.Atoi(text); err == nil {
			return n, true
		}
	}
	return 0, false
}
