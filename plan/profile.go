package plan

import (
	"fmt"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Profile sync: the Matrix display name (and, optionally, the avatar) of managed users follows
// their Authentik account. The store remembers the value last synced, so a cycle in which
// nothing changed in Authentik makes no profile request at all; the first time, the handler
// reads the profile and writes only if Matrix shows another value.

// ProfileField names a synced profile field as the Matrix profile API spells it.
type ProfileField string

const (
	FieldDisplayName ProfileField = "displayname"
	FieldAvatar      ProfileField = "avatar_url"
)

// ProfilePolicy says which profile fields follow Authentik; the zero value syncs none.
type ProfilePolicy struct {
	// DisplayName makes the display name follow the Authentik name.
	DisplayName bool
	// Avatar makes the avatar follow the mxc:// URL in an Authentik user attribute (which one
	// is the directory's business: it fills Profile.AvatarURL).
	Avatar bool
}

// On reports whether any field is synced.
func (p ProfilePolicy) On() bool { return p.DisplayName || p.Avatar }

// Profile is what Authentik says a user's Matrix profile should be; an empty field is left as
// Matrix has it.
type Profile struct {
	DisplayName string
	AvatarURL   string
}

// ProfileKey names one field of one user's profile.
type ProfileKey struct {
	User  id.UserID
	Field ProfileField
}

// SetProfile writes one profile field of a managed user. CheckFirst is set when the bot never
// synced the field: the handler reads it first and writes only if it differs.
type SetProfile struct {
	User       id.UserID
	Field      ProfileField
	Value      string
	CheckFirst bool
	Reason     string
}

func (a SetProfile) Target() RoomUser { return RoomUser{User: a.User} }

func (a SetProfile) Kind() string {
	if a.Field == FieldAvatar {
		return "set_avatar"
	}
	return "set_displayname"
}

func (a SetProfile) Why() string { return a.Reason }
func (SetProfile) Phase() int    { return phaseAccount }
func (SetProfile) isLifecycle()  {}

// planProfiles plans the profile writes of every effective member of a mapped group whose
// Authentik profile differs from what the bot last synced. It allocates nothing while
// everything is in step: a no-change cycle at 50,000 users compares and moves on.
func (p *Plan) planProfiles(policy Policy, obs Observed, state State) {
	if !policy.Profiles.On() {
		return
	}
	seen := map[string]bool{}
	var planned map[id.UserID]bool // users already looked at through an earlier group
	for _, m := range policy.Mappings {
		if seen[m.Group] {
			continue
		}
		seen[m.Group] = true
		g := obs.Groups[m.Group]
		for _, mem := range g.Members {
			u := mem.UserID
			prof, ok := g.Profiles[u]
			if !ok || u == policy.Bot || planned[u] || !p.profileDiffers(policy, u, prof, state) {
				continue
			}
			if planned == nil {
				planned = map[id.UserID]bool{}
			}
			planned[u] = true
			if policy.Profiles.DisplayName && prof.DisplayName != "" {
				p.planProfileField(u, FieldDisplayName, prof.DisplayName, "Authentik name", state)
			}
			if policy.Profiles.Avatar && prof.AvatarURL != "" {
				uri, err := id.ContentURIString(prof.AvatarURL).Parse()
				if err != nil || !strings.HasPrefix(prof.AvatarURL, "mxc://") {
					p.warn("", u, "avatar not synced: the Authentik avatar attribute holds %q, which is not an mxc:// URL", prof.AvatarURL)
					continue
				}
				p.planProfileField(u, FieldAvatar, uri.String(), "Authentik avatar attribute", state)
			}
		}
	}
}

// profileDiffers reports whether any synced field of u differs from what was last synced (an
// avatar that is no URL counts, so that its warning is shown).
func (p *Plan) profileDiffers(policy Policy, u id.UserID, prof Profile, state State) bool {
	if policy.Profiles.DisplayName && prof.DisplayName != "" {
		if last, ok := state.Profiles[ProfileKey{u, FieldDisplayName}]; !ok || last != prof.DisplayName {
			return true
		}
	}
	if policy.Profiles.Avatar && prof.AvatarURL != "" {
		if last, ok := state.Profiles[ProfileKey{u, FieldAvatar}]; !ok || last != prof.AvatarURL {
			return true
		}
	}
	return false
}

func (p *Plan) planProfileField(u id.UserID, field ProfileField, value, source string, state State) {
	last, synced := state.Profiles[ProfileKey{u, field}]
	switch {
	case synced && last == value:
	case synced:
		p.Actions = append(p.Actions, SetProfile{User: u, Field: field, Value: value,
			Reason: fmt.Sprintf("%s changed from %q to %q", source, last, value)})
	default:
		p.Actions = append(p.Actions, SetProfile{User: u, Field: field, Value: value, CheckFirst: true,
			Reason: fmt.Sprintf("follows the %s %q (first sync: written only if Matrix shows another)", source, value)})
	}
}
