package config

import (
	"strings"
	"time"
)

// DeactivatedConfig says what happens to managed users deactivated in (or deleted from)
// Authentik.
type DeactivatedConfig struct {
	// Remove is DeactivatedRemoveImmediately (the default: every managed room at the next cycle,
	// without the grace period) or DeactivatedRemoveAfterGrace (DEACTIVATED_REMOVE).
	Remove string `yaml:"remove"`
	// LockAfter locks the Matrix account once the user has been deactivated that long; unset
	// never locks (DEACTIVATED_LOCK_AFTER).
	LockAfter *Duration `yaml:"lock_after"`
	// Logout ends every session of the user once, when the deactivation is first seen
	// (DEACTIVATED_LOGOUT).
	Logout bool `yaml:"logout"`
}

// ProfileSyncConfig says which parts of the Matrix profile follow Authentik.
type ProfileSyncConfig struct {
	// DisplayName makes the display name follow the Authentik name (PROFILE_SYNC_DISPLAYNAME).
	DisplayName bool `yaml:"displayname"`
	// AvatarAttribute names an Authentik user attribute holding an mxc:// URL to set as the
	// avatar; empty syncs no avatar (PROFILE_SYNC_AVATAR_ATTRIBUTE).
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
