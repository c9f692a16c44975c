package authentiktest

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultVersion is the release a new fake answers as: the one whose recorded answers
// (authentik/testdata/recorded/2025.12.4) the fake is tested against.
const DefaultVersion = "2025.12.4"

// LegacyVersion is what SetLegacyShape(true) picks: a release from before groups listed their
// children, which is the shape the legacy switch has always served.
const LegacyVersion = "2025.6.4"

// groupShape is how a release writes where a group sits in the tree.
type groupShape int

const (
	// shapeParents, 2025.12 and later: a list of "parents" (and "parents_obj" with
	// include_parents), "children" (and "children_obj" with include_children), and
	// "inherited_roles_obj".
	shapeParents groupShape = iota
	// shapeParentAndChildren, 2025.8 and 2025.10: one "parent" and its "parent_name", plus
	// "children" and "children_obj".
	shapeParentAndChildren
	// shapeParent, before 2025.8: one "parent" and its "parent_name", nothing about children.
	shapeParent
)

// release is an Authentik version, year.month[.patch].
type release struct {
	text        string
	year, minor int
}

func parseRelease(v string) (release, error) {
	parts := strings.Split(strings.TrimSpace(v), ".")
	bad := fmt.Errorf("authentik version %q: want a release like %s or 2025.10", v, DefaultVersion)
	if len(parts) < 2 || len(parts) > 3 {
		return release{}, bad
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return release{}, bad
		}
		nums[i] = n
	}
	r := release{text: strings.TrimSpace(v), year: nums[0], minor: nums[1]}
	if r.year < 2000 || r.minor < 1 || r.minor > 12 {
		return release{}, bad
	}
	return r, nil
}

func (r release) atLeast(year, minor int) bool {
	return r.year > year || r.year == year && r.minor >= minor
}

func (r release) groupShape() groupShape {
	switch {
	case r.atLeast(2025, 12):
		return shapeParents
	case r.atLeast(2025, 8):
		return shapeParentAndChildren
	default:
		return shapeParent
	}
}

// pageSizes are the default and maximum page size; 0 means no maximum.
func (r release) pageSizes() (int, int) {
	if r.atLeast(2025, 12) {
		return 20, 100
	}
	return 100, 0
}

// CheckVersion reports whether SetVersion can read v, for a caller that takes it from a user.
func CheckVersion(v string) error {
	_, err := parseRelease(v)
	return err
}

// SetVersion makes the fake answer as Authentik release v ("2025.12.4", "2025.10", "2024.12.3"):
// the shape of groups (see groupShape), the page sizes, and admin/version/. It panics on a
// version it cannot read.
func (s *Server) SetVersion(v string) { mustDo(s.setVersion(v)) }

func (s *Server) setVersion(v string) error {
	r, err := parseRelease(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version = r
	s.pageSize, s.maxPageSize = r.pageSizes()
	return nil
}

// Version is the release the fake answers as.
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version.text
}

// SetLegacyShape switches groups to the shape before 2025.8 (SetVersion("2025.6.4")): one
// "parent" and "parent_name" instead of "parents" and "children" (a group with several parents
// shows its first). false goes back to DefaultVersion.
func (s *Server) SetLegacyShape(legacy bool) {
	if legacy {
		s.SetVersion(LegacyVersion)
		return
	}
	s.SetVersion(DefaultVersion)
}
