package reconcile

import (
	"context"
	"slices"
	"sync"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// skipWithoutAccount moves out of plan.Actions what a cycle would skip for want of a Matrix
// account: the invites and joins of those users, and their entries in power level changes. It
// asks the homeserver as a cycle does, once per user, several at a time; a user whose account
// cannot be checked keeps their actions, as a cycle retries them. Preview calls it, so that
// `plan`, `!sync plan` and `why` promise nothing a cycle skips.
func (r *Reconciler) skipWithoutAccount(ctx context.Context, planned *plan.Plan) {
	var users []id.UserID
	for _, a := range planned.Actions {
		switch a.(type) {
		case plan.Invite, plan.ForceJoin:
			if u := a.Target().User; !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	missing := r.withoutAccount(ctx, users)
	if len(missing) == 0 {
		return
	}
	kept := planned.Actions[:0]
	for _, a := range planned.Actions {
		switch act := a.(type) {
		case plan.Invite, plan.ForceJoin:
			if missing[a.Target().User] {
				planned.Skipped = append(planned.Skipped, plan.SkippedAction{Action: a, Reason: plan.ReasonNoAccount})
				continue
			}
		case plan.SetPowerLevels:
			var changes []plan.LevelChange
			for _, c := range act.Changes {
				if c.Promote && missing[c.User] {
					planned.Skipped = append(planned.Skipped, plan.SkippedAction{
						Action: plan.SetPowerLevels{Room: act.Room, Changes: []plan.LevelChange{c}, Reason: c.Reason}, Reason: plan.ReasonNoAccount})
					continue
				}
				changes = append(changes, c)
			}
			if len(changes) == 0 {
				continue
			}
			act.Changes, act.Reason = changes, plan.ChangesReason(changes)
			a = act
		}
		kept = append(kept, a)
	}
	planned.Actions = kept
}

// withoutAccount returns the users of users the homeserver says have no account.
func (r *Reconciler) withoutAccount(ctx context.Context, users []id.UserID) map[id.UserID]bool {
	out := map[id.UserID]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	slots := make(chan struct{}, r.maxConcurrentWrites())
	for _, u := range users {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if exists, err := r.opts.Rooms.UserExists(ctx, u); err == nil && !exists {
				mu.Lock()
				out[u] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}
