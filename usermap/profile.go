package usermap

import (
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/directory"
	"authentik-matrix-sync/plan"
)

// ProfileSource says what of a user's Authentik account their Matrix profile follows (profile
// sync). The zero value reads nothing, so a bot without profile sync keeps no names.
type ProfileSource struct {
	// DisplayName takes the Authentik name as the display name.
	DisplayName bool
	// AvatarAttribute names the Authentik user attribute holding an mxc:// avatar URL; empty
	// syncs no avatar.
	AvatarAttribute string
}

func (p ProfileSource) on() bool { return p.DisplayName || p.AvatarAttribute != "" }

// note records in g what Authentik says member uid's profile should be.
func (p ProfileSource) note(g *plan.GroupMembers, uid id.UserID, u directory.User) {
	if !p.on() {
		return
	}
	var prof plan.Profile
	if p.DisplayName {
		prof.DisplayName = u.Name
	}
	if p.AvatarAttribute != "" {
		// A value that is not text is handed on as it prints, for the planner to refuse.
		switch v := u.Attributes[p.AvatarAttribute].(type) {
		case nil:
		case string:
			prof.AvatarURL = v
		default:
			prof.AvatarURL = "(not text)"
		}
	}
	if g.Profiles == nil {
		g.Profiles = map[id.UserID]plan.Profile{}
	}
	g.Profiles[uid] = prof
}
