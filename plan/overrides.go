package plan

import (
	"time"

	"maunium.net/go/mautrix/id"
)

// MappingOverrides are the removal settings one mapping may set instead of the policy's.
type MappingOverrides struct {
	// RemoveAction replaces Policy.RemoveAction; empty means the policy's.
	RemoveAction RemoveAction
	// GracePeriod replaces Policy.GracePeriod; nil means the policy's.
	GracePeriod *time.Duration
	// NoRemove makes the mapping invite-only: it never schedules nor runs a removal.
	NoRemove bool
}

// removalRule is how undesired users leave one room, once every mapping of the room has had its
// say.
type removalRule struct {
	grace  time.Duration
	Action RemoveAction
	// never is set when a mapping of the room is invite-only: nobody is removed from it.
	never bool
	// neverBecause names the group of that mapping, for the reason shown to operators.
	neverBecause string
}

// RuleFor combines the overrides of every mapping of a room. Where they disagree the gentler
// choice wins, because a room shared by several groups should not lose people faster than any
// one of its mappings asked for: the longest grace period, kick over ban (RoomRemoval), and one
// invite-only mapping keeps everybody.
func RuleFor(policy Policy, room id.RoomID) removalRule {
	r := removalRule{grace: policy.GracePeriod}
	var overrides []MappingOverrides
	for _, m := range policy.Mappings {
		if m.Room != room {
			continue
		}
		grace := policy.GracePeriod
		if m.GracePeriod != nil {
			grace = *m.GracePeriod
		}
		if len(overrides) == 0 {
			r.grace = grace
		} else {
			r.grace = max(r.grace, grace)
		}
		if m.NoRemove && !r.never {
			r.never, r.neverBecause = true, m.Group
		}
		overrides = append(overrides, m.MappingOverrides)
	}
	r.Action, _ = RoomRemoval(policy.RemoveAction, overrides)
	return r
}

// RoomRemoval is how the mappings of one room together remove users, as the sync decides it:
// kick over ban, and removes is false when any of them is invite-only (NoRemove). policyAction
// is the action of mappings that set none. The doctor uses it to tell which power a room needs.
func RoomRemoval(policyAction RemoveAction, mappings []MappingOverrides) (action RemoveAction, removes bool) {
	action, removes = policyAction, true
	for i, m := range mappings {
		a := policyAction
		if m.RemoveAction != "" {
			a = m.RemoveAction
		}
		if i == 0 || a == RemoveKick {
			action = a
		}
		removes = removes && !m.NoRemove
	}
	if action == "" {
		action = RemoveKick
	}
	return action, removes
}
