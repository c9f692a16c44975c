package reconcile

import (
	"maps"
	"slices"
	"sync"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// Scoped cycles. An Authentik webhook says that one group changed; reading every group and room
// for it would cost a full cycle per change. A scoped cycle reads and plans only the rooms that
// group maps to. It must still read every group mapped to those rooms: membership of a room is
// the union of its groups, and a group left out would make its members look unwanted. So the
// scope grows to every mapping of every room it touches, and again, until nothing more is added.
// Polling keeps running full cycles, on its own schedule: scoped cycles never postpone them.

// scopeQueue holds what triggers asked for until the loop takes it. Every Trigger and
// TriggerGroups puts a token in Reconciler.trigger under mu, and takeScope drains it under mu, so
// a token always comes with a scope to take.
type scopeQueue struct {
	mu     sync.Mutex
	all    bool
	groups map[string]bool
}

// TriggerGroups asks the loop to run a cycle soon for the mappings of groups; nil or empty means
// every mapping. Requests made before the cycle starts are merged (the union of their groups).
// groups must hold the changed groups and their ancestors, since a member of a subgroup is a
// member of every group above it; the Reconciler does not know the group tree. Groups that no
// mapping names are ignored, and a request naming only such groups runs nothing.
func (r *Reconciler) TriggerGroups(groups []string) {
	q := &r.scope
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(groups) == 0 {
		q.all = true
	} else {
		if q.groups == nil {
			q.groups = map[string]bool{}
		}
		for _, g := range groups {
			q.groups[g] = true
		}
	}
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// takeScope returns what the next cycle covers and clears the queue: nil for every mapping, or
// the mapped groups asked for. run is false when only unmapped groups were asked for. A cycle
// the timer started (full) covers everything that was waiting.
func (r *Reconciler) takeScope(full bool) (groups []string, run bool) {
	q := &r.scope
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-r.trigger:
	default:
	}
	all, asked := q.all || full, q.groups
	q.all, q.groups = false, nil
	if all {
		return nil, true
	}
	for _, m := range r.opts.Policy.Mappings {
		if asked[m.Group] && !slices.Contains(groups, m.Group) {
			groups = append(groups, m.Group)
		}
	}
	slices.Sort(groups)
	if len(groups) == 0 {
		r.opts.Log.Debug().Strs("groups", slices.Sorted(maps.Keys(asked))).Msg("Trigger named no mapped group; no cycle")
	}
	return groups, len(groups) > 0
}

// narrowPolicy keeps the mappings of the rooms that groups map to, widened until every group of
// every kept room is kept too, and returns them with the groups they name. Released rooms are
// left to full cycles. A nil groups keeps the policy whole.
func narrowPolicy(policy plan.Policy, groups []string) (plan.Policy, []string) {
	if groups == nil {
		return policy, nil
	}
	inScope := map[string]bool{}
	for _, g := range groups {
		inScope[g] = true
	}
	rooms := map[id.RoomID]bool{}
	for grew := true; grew; {
		grew = false
		for _, m := range policy.Mappings {
			if inScope[m.Group] && !rooms[m.Room] {
				rooms[m.Room], grew = true, true
			}
			if rooms[m.Room] && !inScope[m.Group] {
				inScope[m.Group], grew = true, true
			}
		}
	}
	narrowed := policy
	narrowed.Mappings, narrowed.Released = nil, nil
	var scope []string
	for _, m := range policy.Mappings {
		if !rooms[m.Room] {
			continue
		}
		narrowed.Mappings = append(narrowed.Mappings, m)
		if !slices.Contains(scope, m.Group) {
			scope = append(scope, m.Group)
		}
	}
	slices.Sort(scope)
	if scope == nil {
		scope = []string{}
	}
	return narrowed, scope
}
