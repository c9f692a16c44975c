package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// TestPreviewShowsWhatACycleSkips: a group member without a Matrix account is skipped by every
// cycle; the preview (plan, !sync plan) and why say so instead of promising an invite or a
// power level raise, and the cycle agrees with them.
func TestPreviewShowsWhatACycleSkips(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice, dave} // dave has no account
	r := w.reconciler(policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite, PowerLevel: 50}))

	planned, err := r.Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var promised []string
	for _, a := range planned.Actions {
		if plan.IsMatrixWrite(a) && strings.Contains(plan.Describe(a), string(dave)) {
			promised = append(promised, plan.Describe(a))
		}
		if sp, ok := a.(plan.SetPowerLevels); ok {
			for _, c := range sp.Changes {
				if c.User == dave {
					promised = append(promised, plan.Describe(a))
				}
			}
		}
	}
	if len(promised) > 0 {
		t.Errorf("the preview promises for dave, who has no account: %v", promised)
	}
	var skipped []string
	for _, s := range planned.Skipped {
		if s.Reason != plan.ReasonNoAccount {
			t.Errorf("skipped %s with reason %q", plan.Describe(s.Action), s.Reason)
		}
		skipped = append(skipped, s.Action.Kind())
	}
	if fmt.Sprint(skipped) != "[set_power_levels invite]" && fmt.Sprint(skipped) != "[invite set_power_levels]" {
		t.Errorf("skipped %v, want dave's invite and power level raise", skipped)
	}

	snap, err := r.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	why := fmt.Sprint(snap.Explain(dave, "", nil).Rooms)
	if !strings.Contains(why, "next cycle skips invite: "+plan.ReasonNoAccount) || strings.Contains(why, string(plan.VerdictWillInvite)) {
		t.Errorf("why for dave: %s", why)
	}

	res := w.cycle(t, r)
	if res.Skipped["invite"] != 1 || res.Done["invite"] != 1 {
		t.Errorf("the cycle: done %v skipped %v, want alice invited and dave's invite skipped as the preview said", res.Done, res.Skipped)
	}
}
