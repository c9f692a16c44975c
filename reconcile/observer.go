package reconcile

import (
	"context"
	"reflect"
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Outcomes of an applied action, as ActionFinished reports them.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultSkipped = "skipped"
)

// Observer is told what each cycle did, so that metrics can follow the reconciler without the
// reconciler knowing about them. Calls never overlap, but may come from the goroutines that
// apply a cycle's writes; they must return quickly.
type Observer interface {
	// ActionFinished reports one applied action: its Kind, its room, and ResultOK, ResultFailed
	// or ResultSkipped.
	ActionFinished(kind string, room id.RoomID, result string)
	// CycleFinished reports a finished cycle, with figures about the state it left behind.
	CycleFinished(res CycleResult, stats CycleStats)
}

// CycleStats are the figures a finished cycle leaves behind. Rooms and groups are those of the
// policy only, so that a metric label never names something the operator did not configure.
type CycleStats struct {
	// GroupMembers counts the members of each group read completely this cycle; a group that
	// could not be read is absent (its last known size stands).
	GroupMembers map[string]int
	// ManagedMembers and PendingRemovals count the store's records per mapped room; both are nil
	// when the store could not be read after the cycle.
	ManagedMembers  map[id.RoomID]int
	PendingRemovals map[id.RoomID]int
	// UsersWithoutAccount counts the group members the cycle did not add because they have no
	// Matrix account yet.
	UsersWithoutAccount int
	// RemovalsHeld counts removals that were due but not carried out this cycle (the backup
	// before them failed, or a guard held them back).
	RemovalsHeld int
}

// nopObserver is the default: a reconciler without metrics.
type nopObserver struct{}

func (nopObserver) ActionFinished(string, id.RoomID, string) {}
func (nopObserver) CycleFinished(CycleResult, CycleStats)    {}

// observerOrNop lets Options.Observer stay unset.
func observerOrNop(o Observer) Observer {
	if o == nil {
		return nopObserver{}
	}
	return o
}

// stats works out a finished cycle's figures. The store's records are counted again because
// the cycle's own copy does not follow every change it made.
func (r *Reconciler) stats(ctx context.Context, obs plan.Observed, res CycleResult) CycleStats {
	st := CycleStats{GroupMembers: map[string]int{}, UsersWithoutAccount: res.MissingAccounts,
		RemovalsHeld: res.Skipped[plan.Kick{}.Kind()] + res.Skipped[plan.Ban{}.Kind()]}
	for name, g := range obs.Groups {
		if g.Known() {
			st.GroupMembers[name] = len(g.Members)
		}
	}
	if _, isNop := r.opts.Observer.(nopObserver); isNop || obs.Groups == nil {
		return st
	}
	members, pending, err := r.opts.Store.CountState(ctx)
	if err != nil {
		return st
	}
	st.ManagedMembers, st.PendingRemovals = map[id.RoomID]int{}, map[id.RoomID]int{}
	for _, m := range obs.Policy.Mappings {
		st.ManagedMembers[m.Room], st.PendingRemovals[m.Room] = members[m.Room], pending[m.Room]
	}
	return st
}

// resultOf names the counter map that count was given: one of the result's three maps. Maps
// compare by identity only through reflect.
func (c *CycleResult) resultOf(m map[string]int) string {
	switch reflect.ValueOf(m).UnsafePointer() {
	case reflect.ValueOf(c.Done).UnsafePointer():
		return ResultOK
	case reflect.ValueOf(c.Failed).UnsafePointer():
		return ResultFailed
	default:
		return ResultSkipped
	}
}

// groupsOf names, for an action's log line, the groups behind it: the room's groups the user is
// in, or, for someone in none of them (a removal), all of the room's groups.
func (a *applier) groupsOf(t plan.RoomUser) string {
	var in, all []string
	for _, m := range a.obs.Policy.Mappings {
		if m.Room != t.Room || slices.Contains(all, m.Group) {
			continue
		}
		all = append(all, m.Group)
		if slices.ContainsFunc(a.obs.Groups[m.Group].Members, func(mb plan.Member) bool { return mb.UserID == t.User }) {
			in = append(in, m.Group)
		}
	}
	if len(in) == 0 {
		in = all
	}
	return strings.Join(in, ",")
}
