package authentiktest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// The answers are structs, not maps, because Authentik's serializers write their fields in a
// fixed order and encoding/json sorts map keys. Each struct lists its fields in the order of
// the recorded answers (authentik/testdata/recorded/2025.12.4); a nil slice is written as null
// where Authentik writes null, so every optional list is built non-nil on purpose.

// partialUserJSON is a member in a group's users_obj (Authentik's PartialUserSerializer).
type partialUserJSON struct {
	PK         int            `json:"pk"`
	Username   string         `json:"username"`
	Name       string         `json:"name"`
	IsActive   bool           `json:"is_active"`
	LastLogin  *string        `json:"last_login"`
	Email      string         `json:"email"`
	Attributes attributesJSON `json:"attributes"`
	UID        string         `json:"uid"`
}

// relatedGroupJSON is an entry of parents_obj or children_obj.
type relatedGroupJSON struct {
	PK          string         `json:"pk"`
	Name        string         `json:"name"`
	IsSuperuser bool           `json:"is_superuser"`
	Attributes  attributesJSON `json:"attributes"`
	GroupUUID   string         `json:"group_uuid"`
}

// roleJSON is a role; the fake has none, so only empty lists of it are written.
type roleJSON struct {
	PK   string `json:"pk"`
	Name string `json:"name"`
}

// groupJSON is a group of 2025.12 and later.
type groupJSON struct {
	PK                string             `json:"pk"`
	NumPK             int                `json:"num_pk"`
	Name              string             `json:"name"`
	IsSuperuser       bool               `json:"is_superuser"`
	Parents           []string           `json:"parents"`
	ParentsObj        []relatedGroupJSON `json:"parents_obj"`
	Users             []int              `json:"users"`
	UsersObj          []partialUserJSON  `json:"users_obj"`
	Attributes        attributesJSON     `json:"attributes"`
	Roles             []string           `json:"roles"`
	RolesObj          []roleJSON         `json:"roles_obj"`
	InheritedRolesObj []roleJSON         `json:"inherited_roles_obj"`
	Children          []string           `json:"children"`
	ChildrenObj       []relatedGroupJSON `json:"children_obj"`
}

// groupWithParentJSON is a group before 2025.8: a single parent.
type groupWithParentJSON struct {
	PK          string            `json:"pk"`
	NumPK       int               `json:"num_pk"`
	Name        string            `json:"name"`
	IsSuperuser bool              `json:"is_superuser"`
	Parent      *string           `json:"parent"`
	ParentName  *string           `json:"parent_name"`
	Users       []int             `json:"users"`
	UsersObj    []partialUserJSON `json:"users_obj"`
	Attributes  attributesJSON    `json:"attributes"`
	Roles       []string          `json:"roles"`
	RolesObj    []roleJSON        `json:"roles_obj"`
}

// groupWithParentAndChildrenJSON is a group of 2025.8 and 2025.10: a single parent, and its
// children after the fields of before.
type groupWithParentAndChildrenJSON struct {
	groupWithParentJSON
	Children    []string           `json:"children"`
	ChildrenObj []relatedGroupJSON `json:"children_obj"`
}

// userGroupJSON is an entry of a user's groups_obj.
type userGroupJSON struct {
	PK          string         `json:"pk"`
	NumPK       int            `json:"num_pk"`
	Name        string         `json:"name"`
	IsSuperuser bool           `json:"is_superuser"`
	Attributes  attributesJSON `json:"attributes"`
}

// userJSON is a user of core/users/.
type userJSON struct {
	PK                 int             `json:"pk"`
	Username           string          `json:"username"`
	Name               string          `json:"name"`
	IsActive           bool            `json:"is_active"`
	LastLogin          *string         `json:"last_login"`
	DateJoined         string          `json:"date_joined"`
	IsSuperuser        bool            `json:"is_superuser"`
	Groups             []string        `json:"groups"`
	GroupsObj          []userGroupJSON `json:"groups_obj"`
	Roles              []string        `json:"roles"`
	RolesObj           []roleJSON      `json:"roles_obj"`
	Email              string          `json:"email"`
	Avatar             string          `json:"avatar"`
	Attributes         attributesJSON  `json:"attributes"`
	UID                string          `json:"uid"`
	Path               string          `json:"path"`
	Type               string          `json:"type"`
	UUID               string          `json:"uuid"`
	PasswordChangeDate string          `json:"password_change_date"`
	LastUpdated        string          `json:"last_updated"`
}

// meJSON is core/users/me/.
type meJSON struct {
	User meUserJSON `json:"user"`
}

type meUserJSON struct {
	PK                int            `json:"pk"`
	Username          string         `json:"username"`
	Name              string         `json:"name"`
	IsActive          bool           `json:"is_active"`
	IsSuperuser       bool           `json:"is_superuser"`
	Groups            []meGroupJSON  `json:"groups"`
	Roles             []string       `json:"roles"`
	Email             string         `json:"email"`
	Avatar            string         `json:"avatar"`
	UID               string         `json:"uid"`
	Settings          attributesJSON `json:"settings"`
	Type              string         `json:"type"`
	SystemPermissions []string       `json:"system_permissions"`
}

type meGroupJSON struct {
	Name string `json:"name"`
	PK   string `json:"pk"`
}

// versionJSON is admin/version/.
type versionJSON struct {
	VersionCurrent     string `json:"version_current"`
	VersionLatest      string `json:"version_latest"`
	VersionLatestValid bool   `json:"version_latest_valid"`
	BuildHash          string `json:"build_hash"`
	Outdated           bool   `json:"outdated"`
	OutpostOutdated    bool   `json:"outpost_outdated"`
}

// The fake keeps no login, join or password dates; these stand in with Authentik's format.
const (
	fakeDateJoined  = "2025-01-01T00:00:00.000000Z"
	fakeDateChanged = "2025-01-01T00:00:00.000000Z"
)

// superuserPermissions is what users/me lists for a superuser, as recorded.
var superuserPermissions = []string{"view_initialpermissions", "edit_system_settings", "change_role",
	"view_system_settings", "view_system_info", "view_role", "view_media_files", "delete_role",
	"add_initialpermissions", "change_initialpermissions", "unassign_role_permissions",
	"delete_initialpermissions", "access_admin_interface", "assign_role_permissions", "add_role",
	"manage_media_files"}

// groupView holds what rendering groups needs beyond the groups themselves, worked out once
// per answer: the children of every group, which only the parents' side records.
type groupView struct {
	s            *Server
	shape        groupShape
	includeUsers bool
	children     bool // include_children
	parents      bool // include_parents
	childrenOf   map[string][]*Group
}

func (s *Server) newGroupView(includeUsers, includeChildren, includeParents bool) *groupView {
	v := &groupView{s: s, shape: s.version.groupShape(), includeUsers: includeUsers,
		children: includeChildren, parents: includeParents, childrenOf: map[string][]*Group{}}
	for _, g := range s.groups {
		for i, p := range g.Parents {
			if i > 0 && v.shape != shapeParents {
				break // an old release holds one parent: the other links do not exist there
			}
			v.childrenOf[p] = append(v.childrenOf[p], g)
		}
	}
	for _, cs := range v.childrenOf {
		slices.SortFunc(cs, func(a, b *Group) int { return strings.Compare(a.Name, b.Name) })
	}
	return v
}

func (v *groupView) render(g *Group) any {
	users := slices.Clone(g.Members)
	if users == nil {
		users = []int{}
	}
	var usersObj []partialUserJSON // null with include_users=false, as Authentik
	if v.includeUsers {
		v.s.charge(0, len(users))
		usersObj = make([]partialUserJSON, 0, len(users))
		for _, pk := range users {
			u := v.s.users[pk]
			usersObj = append(usersObj, partialUserJSON{PK: u.PK, Username: u.Username, Name: u.Name,
				IsActive: u.IsActive, Email: u.Email, Attributes: u.Attributes, UID: u.UID})
		}
	}
	children := make([]string, 0, len(v.childrenOf[g.PK]))
	for _, c := range v.childrenOf[g.PK] {
		children = append(children, c.PK)
	}
	var childrenObj []relatedGroupJSON
	if v.children {
		childrenObj = relatedGroups(v.childrenOf[g.PK])
	}
	if v.shape == shapeParents {
		parents := slices.Clone(g.Parents)
		if parents == nil {
			parents = []string{}
		}
		var parentsObj []relatedGroupJSON
		if v.parents {
			ps := make([]*Group, 0, len(parents))
			for _, pk := range parents {
				if p, ok := v.s.groups[pk]; ok {
					ps = append(ps, p)
				}
			}
			parentsObj = relatedGroups(ps)
		}
		return groupJSON{PK: g.PK, NumPK: g.NumPK, Name: g.Name, IsSuperuser: g.IsSuperuser,
			Parents: parents, ParentsObj: parentsObj, Users: users, UsersObj: usersObj,
			Attributes: g.Attributes, Roles: []string{}, RolesObj: []roleJSON{},
			Children: children, ChildrenObj: childrenObj}
	}
	old := groupWithParentJSON{PK: g.PK, NumPK: g.NumPK, Name: g.Name, IsSuperuser: g.IsSuperuser,
		Users: users, UsersObj: usersObj, Attributes: g.Attributes, Roles: []string{}, RolesObj: []roleJSON{}}
	if len(g.Parents) > 0 {
		if p, ok := v.s.groups[g.Parents[0]]; ok {
			old.Parent, old.ParentName = &p.PK, &p.Name
		}
	}
	if v.shape == shapeParent {
		return old
	}
	return groupWithParentAndChildrenJSON{groupWithParentJSON: old, Children: children, ChildrenObj: childrenObj}
}

func relatedGroups(gs []*Group) []relatedGroupJSON {
	out := make([]relatedGroupJSON, 0, len(gs))
	for _, g := range gs {
		out = append(out, relatedGroupJSON{PK: g.PK, Name: g.Name, IsSuperuser: g.IsSuperuser,
			Attributes: g.Attributes, GroupUUID: g.PK})
	}
	return out
}

func (s *Server) renderUser(u *User, includeGroups bool) userJSON {
	groups := s.groupsOf(u.PK)
	pks := make([]string, 0, len(groups))
	for _, g := range groups {
		pks = append(pks, g.PK)
	}
	var groupsObj []userGroupJSON // null with include_groups=false, as Authentik
	if includeGroups {
		groupsObj = make([]userGroupJSON, 0, len(groups))
		for _, g := range groups {
			groupsObj = append(groupsObj, userGroupJSON{PK: g.PK, NumPK: g.NumPK, Name: g.Name,
				IsSuperuser: g.IsSuperuser, Attributes: g.Attributes})
		}
	}
	return userJSON{PK: u.PK, Username: u.Username, Name: u.Name, IsActive: u.IsActive,
		DateJoined: fakeDateJoined, IsSuperuser: s.isSuperuser(u.PK), Groups: pks, GroupsObj: groupsObj,
		Roles: []string{}, RolesObj: []roleJSON{}, Email: u.Email, Avatar: avatar(u.Name),
		Attributes: u.Attributes, UID: u.UID, Path: "users", Type: "internal", UUID: u.UUID,
		PasswordChangeDate: fakeDateChanged, LastUpdated: fakeDateChanged}
}

// renderMe answers users/me/ for a token's holder: the directory's user of that name, or a
// stand-in with pk 0 when the directory has none.
func (s *Server) renderMe(h tokenHolder) meJSON {
	u := s.userByName(h.username)
	if u == nil {
		name := h.username
		if h.username == AdminUsername {
			name = "authentik Default Admin"
		}
		u = &User{Username: h.username, Name: name, IsActive: true, UID: hexHash("token-user", h.username)}
	}
	groups := []meGroupJSON{}
	for _, g := range s.groupsOf(u.PK) {
		groups = append(groups, meGroupJSON{Name: g.Name, PK: g.PK})
	}
	superuser := s.isSuperuser(u.PK) || h.privileged && u.PK == 0
	perms := []string{}
	if superuser {
		perms = slices.Clone(superuserPermissions)
	}
	return meJSON{User: meUserJSON{PK: u.PK, Username: u.Username, Name: u.Name, IsActive: u.IsActive,
		IsSuperuser: superuser, Groups: groups, Roles: []string{}, Email: u.Email, Avatar: avatar(u.Name),
		UID: u.UID, Settings: attributesJSON{}, Type: "internal", SystemPermissions: perms}}
}

// avatar is Authentik's default avatar when it cannot reach Gravatar: the initials on a
// coloured disc, as an SVG data URI (the colour here is the fake's own pick).
func avatar(name string) string {
	words := strings.Fields(name)
	initials := "?"
	switch len(words) {
	case 0:
	case 1:
		initials = firstRune(words[0])
	default:
		initials = firstRune(words[0]) + firstRune(words[len(words)-1])
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	svg := fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="64px" height="64px" viewBox="0 0 64 64" version="1.1">`+
		`<rect fill="#%06x" cx="32" cy="32" width="64" height="64" r="32"/><text x="50%%" y="50%%" style="color: #fff; `+
		`line-height: 1; font-family: 'RedHatText','Overpass',overpass,helvetica,arial,sans-serif; " fill="#fff" `+
		`alignment-baseline="middle" dominant-baseline="middle" text-anchor="middle" font-size="28" font-weight="400" `+
		`dy=".1em">%s</text></svg>`, h.Sum32()&0xffffff, initials)
	return "data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString([]byte(svg))
}

func firstRune(word string) string {
	for _, r := range word {
		return strings.ToUpper(string(r))
	}
	return ""
}

// attributesJSON writes a JSON object with its keys in the order Postgres's jsonb keeps them
// (shorter keys first, then bytewise), which is the order Authentik hands attributes back in.
type attributesJSON map[string]any

func (a attributesJSON) MarshalJSON() ([]byte, error) {
	if len(a) == 0 {
		return []byte("{}"), nil
	}
	var buf bytes.Buffer
	if err := writeJSONB(&buf, map[string]any(a)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSONB(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			if len(a) != len(b) {
				return len(a) - len(b)
			}
			return strings.Compare(a, b)
		})
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONB(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSONB(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONB(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

// marshal is json.Marshal without escaping <, > and &, which Authentik's renderer leaves as
// they are.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
