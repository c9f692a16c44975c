package app

import (
	"context"
	"strings"

	"authentik-matrix-sync/config"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/usermap"
)

// lifecyclePolicy is the part of the policy about users deactivated in Authentik and about
// profile sync.
func lifecyclePolicy(cfg *config.Config) (plan.DeactivationPolicy, plan.ProfilePolicy) {
	d := plan.DeactivationPolicy{
		AfterGrace: cfg.Deactivated.Remove == config.DeactivatedRemoveAfterGrace,
		LockAfter:  cfg.Deactivated.LockAfterDuration(),
		Logout:     cfg.Deactivated.Logout,
	}
	p := plan.ProfilePolicy{DisplayName: cfg.ProfileSync.DisplayName, Avatar: cfg.ProfileSync.AvatarAttribute != ""}
	return d, p
}

// profileSource is what the directory reads of each group member for profile sync.
func profileSource(cfg *config.Config) usermap.ProfileSource {
	return usermap.ProfileSource{DisplayName: cfg.ProfileSync.DisplayName, AvatarAttribute: cfg.ProfileSync.AvatarAttribute}
}

// checkLifecycle says at start, rather than at the first deactivation, when the homeserver's
// admin API refuses what the configured lifecycle and profile sync need. It only warns: the
// rooms are kept in step either way, and the failing actions say the same every cycle.
func (w *world) checkLifecycle(ctx context.Context) {
	cfg := w.cfg
	var needs []string
	if w.mas == nil && (cfg.Deactivated.LockAfter != nil || cfg.Deactivated.Logout) {
		needs = append(needs, "locking accounts and ending sessions (deactivated.lock_after, deactivated.logout)")
	}
	if !cfg.AppserviceMode() && (cfg.ProfileSync.DisplayName || cfg.ProfileSync.AvatarAttribute != "") {
		needs = append(needs, "profile sync in client mode")
	}
	if len(needs) == 0 {
		return
	}
	// Every purpose probes the same admin call (the bot's own account), so one probe answers all.
	purpose := strings.Join(needs, " and ")
	if err := w.matrix.CheckAccountsAdmin(ctx, purpose); err != nil {
		w.log.Warn().Err(err).Str("needed_for", purpose).Msg("The homeserver's admin API refuses the bot; these actions will fail until that is fixed")
	}
}
