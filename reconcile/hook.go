package reconcile

import "authentik-matrix-sync/plan"

// Points that Options.Hook is called at, one pair per kind of write (the Kind of an action, or
// "backup"):
//
//	before_<kind>: the write is about to be sent (a room write) or made (a store write);
//	after_<kind>:  it succeeded, and nothing that follows from it is written yet (for an invite
//	               or join: the member record; for a kick or ban: the removal record).
//
// The crash tests kill the process at each of them.
const (
	HookBefore = "before_"
	HookAfter  = "after_"
	HookBackup = "backup"
)

// hook calls Options.Hook at point, if set.
func (r *Reconciler) hook(point string) {
	if r.opts.Hook != nil {
		r.opts.Hook(point)
	}
}

// afterAtEnd reports whether an action's after_ point is its end: true for store writes and
// unbans, false for the writes that are followed by a record of their own (an addition's member
// record, a removal's history entry), whose after_ point comes before that record.
func afterAtEnd(act plan.Action) bool {
	switch act.(type) {
	case plan.Invite, plan.ForceJoin, plan.Kick, plan.Ban:
		return false
	}
	return true
}
