package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// TestAccountWritesAreCounted checks that the account lifecycle and profile sync count in
// actions_total like room writes, with an empty room, and that their bookkeeping does not.
func TestAccountWritesAreCounted(t *testing.T) {
	m := New(BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1"})
	for _, a := range []plan.Action{plan.LockAccount{}, plan.UnlockAccount{}, plan.EndSessions{},
		plan.SetProfile{Field: plan.FieldDisplayName}, plan.SetProfile{Field: plan.FieldAvatar},
		plan.TrackDeactivation{}, plan.ForgetDeactivation{}} {
		m.ActionFinished(a.Kind(), "", reconcile.ResultOK)
	}
	m.ActionFinished(plan.SetProfile{}.Kind(), "", reconcile.ResultSkipped)
	want := `
# HELP authentik_matrix_sync_actions_total Actions applied to rooms, by action, result (ok, failed, skipped) and room.
# TYPE authentik_matrix_sync_actions_total counter
authentik_matrix_sync_actions_total{action="lock_account",result="ok",room=""} 1
authentik_matrix_sync_actions_total{action="logout",result="ok",room=""} 1
authentik_matrix_sync_actions_total{action="set_avatar",result="ok",room=""} 1
authentik_matrix_sync_actions_total{action="set_displayname",result="ok",room=""} 1
authentik_matrix_sync_actions_total{action="set_displayname",result="skipped",room=""} 1
authentik_matrix_sync_actions_total{action="unlock_account",result="ok",room=""} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "authentik_matrix_sync_actions_total"); err != nil {
		t.Error(err)
	}
	for path, want := range map[string]string{
		"/_synapse/admin/v2/users/@a:hs/devices":        "/_synapse/admin/v2/users/{userId}/devices",
		"/_synapse/admin/v2/users/@a:hs/delete_devices": "/_synapse/admin/v2/users/{userId}/delete_devices",
		"/_matrix/client/v3/profile/@a:hs/displayname":  "/_matrix/client/v3/profile/{userId}/{keyName}",
		"/_matrix/client/v3/profile/@a:hs/avatar_url":   "/_matrix/client/v3/profile/{userId}/{keyName}",
		"/api/v3/core/users/":                           "/api/v3/core/users/",
	} {
		if got := Route(path); got != want {
			t.Errorf("Route(%s) = %s, want %s", path, got, want)
		}
	}
}
