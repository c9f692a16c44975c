package config

import (
	"strings"
	"time"
)

// DeactivatedConfig says what happens to managed users deactivated in (or deleted from)
// Authentik.
type DeactivatedConfig struct {
	// Remove is when a deactivated user leaves the managed rooms:
	//   - DeactivatedRemoveImmediately: at the next cycle, without the grace period
	//   - DeactivatedRemoveAfterGrace: after the normal sync.grace_period, like leaving a group
	Remove string `yaml:"remove"`
	// LockAfter locks the Matrix account once the user has been deactivated this long, such as
	// 720h; 0s locks at the next cycle, and unset never locks. Locking uses Synapse's admin API
	// (the bot must be a server admin) or, with matrix.auth mas, MAS's. The bot unlocks the
	// accounts it locked when their users are active again. Its variable also takes never.
	LockAfter *Duration `yaml:"lock_after"`
	// Logout ends every session of the user (their devices' access tokens stop working) once, when
	// the deactivation is first seen. It needs a server-admin bot (or, with matrix.auth mas, MAS).
	Logout bool `yaml:"logout"`
}

// ProfileSyncConfig says which parts of the Matrix profile follow Authentik.
type ProfileSyncConfig struct {
	// DisplayName makes the display name follow the Authentik name. In appservice mode it is set as
	// the user (the appservice puppet); in client mode through the admin API (a server-admin bot).
	DisplayName bool `yaml:"displayname"`
	// AvatarAttribute is an Authentik user attribute holding an mxc:// URL to set as the avatar,
	// such as avatar_mxc; empty syncs no avatar.
	AvatarAttribute string `yaml:"avatar_attribute"`
}

// Spellings of deactivated.remove.
const (
	DeactivatedRemoveImmediately = "immediately"
	DeactivatedRemoveAfterGrace  = "after_grace"
)

const (
	sDeactivatedRemove    setting = "deactivated removal (deactivated.remove / DEACTIVATED_REMOVE)"
	sDeactivatedLockAfter setting = "account lock delay (deactivated.lock_after / DEACTIVATED_LOCK_AFTER)"
	sDeactivatedLogout    setting = "logout of deactivated users (deactivated.logout / DEACTIVATED_LOGOUT)"
	sProfileDisplayName   setting = "display name sync (profile_sync.displayname / PROFILE_SYNC_DISPLAYNAME)"
	sProfileAvatar        setting = "avatar attribute (profile_sync.avatar_attribute / PROFILE_SYNC_AVATAR_ATTRIBUTE)"
)

// applyLifecycleEnv reads the DEACTIVATED_* and PROFILE_SYNC_* variables and fills the default
// of deactivated.remove (an empty value in the file means the default too).
func (l *loader) applyLifecycleEnv(c *Config) {
	d, p := &c.Deactivated, &c.ProfileSync
	if v, ok := l.lookup("DEACTIVATED_REMOVE"); ok {
		d.Remove = v
	}
	if d.Remove == "" {
		d.Remove = DeactivatedRemoveImmediately
	}
	if v, ok := l.lookup("DEACTIVATED_LOCK_AFTER"); ok {
		switch strings.ToLower(v) {
		case "never", "off", "none":
			d.LockAfter = nil
		default:
			if dur, err := parseDuration(v); err != nil {
				l.problems.add(sDeactivatedLockAfter, "%s is not a duration; write it like 720h (30 days) or 90m, or never", quote(v))
			} else {
				d.LockAfter = &dur
			}
		}
	}
	l.envBool("DEACTIVATED_LOGOUT", sDeactivatedLogout, &d.Logout)
	l.envBool("PROFILE_SYNC_DISPLAYNAME", sProfileDisplayName, &p.DisplayName)
	if v, ok := l.lookup("PROFILE_SYNC_AVATAR_ATTRIBUTE"); ok {
		p.AvatarAttribute = v
	}
}

// checkLifecycle validates the deactivated and profile_sync settings.
func (c *Config) checkLifecycle(ps *problems) {
	d := c.Deactivated
	switch d.Remove {
	case DeactivatedRemoveImmediately, DeactivatedRemoveAfterGrace:
	default:
		ps.add(sDeactivatedRemove, "%s is not a choice; use immediately (at the next cycle, the default) or after_grace (after sync.grace_period)", quote(d.Remove))
	}
	if d.LockAfter != nil && *d.LockAfter < 0 {
		ps.add(sDeactivatedLockAfter, "%s is negative; use 0s to lock at the next cycle, a delay such as 720h, or leave it unset to never lock", time.Duration(*d.LockAfter))
	}
	if a := c.ProfileSync.AvatarAttribute; a != strings.TrimSpace(a) || strings.ContainsAny(a, " \t\n") {
		ps.add(sProfileAvatar, "%s is not an attribute name; write the Authentik user attribute's key, such as avatar_mxc", quote(a))
	}
}

// LockAfterDuration is deactivated.lock_after as a duration; nil never locks.
func (d DeactivatedConfig) LockAfterDuration() *time.Duration {
	if d.LockAfter == nil {
		return nil
	}
	v := time.Duration(*d.LockAfter)
	return &v
}
