package sync

import (
	"regexp"

	"maunium.net/go/mautrix/id"
)

// Protection names the users the bot never kicks, bans, demotes or locks, in any room
// (protected_users): Matrix IDs and patterns matched against the whole ID. The zero value, and
// a nil *Protection, protect nobody.
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
