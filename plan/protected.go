package plan

import (
	"regexp"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Protection names the users the bot never kicks, bans, demotes or locks, in any room
// (protected_users): Matrix IDs and patterns matched against the whole ID (whoever builds it
// anchors each pattern as ^(?:…)$; config does). The zero value, and a nil *Protection, protect
// nobody.
type Protection struct {
	IDs      map[id.UserID]bool
	Patterns []*regexp.Regexp
}

// Protects tells whether the user is protected.
func (p *Protection) Protects(u id.UserID) bool {
	if p == nil {
		return false
	}
	if p.IDs[u] {
		return true
	}
	for _, re := range p.Patterns {
		if re.MatchString(string(u)) {
			return true
		}
	}
	return false
}

// ProtectedReason is how plans, warnings and `why` name the protection.
const ProtectedReason = "protected (protected_users)"

// spare is the check that stands between the planner and every kick, ban or demotion of a user:
// removeNow (every kick and ban, whatever path decided it: a grace period ending, a released
// room, an account lifecycle), planUndesired (before a removal is even scheduled) and
// planRoomPower (before a demotion is scheduled or run) call it. A protected user gets a
// warning line in the plan instead of the action ("protected (protected_users): not removed").
// Any new path that removes, bans, demotes or locks a user must ask it first.
func (p *Plan) spare(policy Policy, room id.RoomID, u id.UserID, what string) bool {
	if !policy.Protected.Protects(u) {
		return false
	}
	p.warn(room, u, "%s: not %s", ProtectedReason, what)
	return true
}

// Entries lists the protection as protected_users spells it, for status replies: the IDs in
// order, then each pattern as /…/ (without the ^(?:…)$ that anchors it to the whole ID).
func (p *Protection) Entries() []string {
	if p == nil {
		return nil
	}
	out := make([]string, 0, len(p.IDs)+len(p.Patterns))
	for u := range p.IDs {
		out = append(out, string(u))
	}
	slices.Sort(out)
	for _, re := range p.Patterns {
		s := re.String()
		if inner, ok := strings.CutPrefix(s, "^(?:"); ok {
			if inner, ok = strings.CutSuffix(inner, ")$"); ok {
				s = inner
			}
		}
		out = append(out, "/"+s+"/")
	}
	return out
}

// Empty reports whether the protection covers nobody.
func (p *Protection) Empty() bool { return p == nil || len(p.IDs)+len(p.Patterns) == 0 }
