package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/id"
)

// GuardLimits are the mass-removal thresholds. A zero field disables its check.
type GuardLimits struct {
	// MaxRemovals is the most removals one cycle may carry out without an admin's confirmation.
	MaxRemovals int
	// MaxFraction is the largest share of a room's managed members one cycle may remove; see
	// RemovalAllowance for how it rounds in small rooms.
	MaxFraction float64
}

// GuardVerdict is what the guard made of a plan: the removals it holds, and why.
type GuardVerdict struct {
	Held []HeldRemoval
	Why  []string
}

// Tripped reports whether the plan's removals must wait for an admin.
func (v GuardVerdict) Tripped() bool { return len(v.Why) > 0 }

// Batch is the held removals as a batch with an ID derived from them.
func (v GuardVerdict) Batch() HeldBatch {
	return HeldBatch{ID: BatchID(v.Held), Status: BatchHeld, Removals: v.Held, Why: strings.Join(v.Why, "; ")}
}

// Held account writes: the guard holds a user's locks and logouts with the removals (see
// heldWithRemovals), as one HeldRemoval without a room whose Action names them, "logout+lock"
// for both.
const (
	HeldLock   RemoveAction = "lock"
	HeldLogout RemoveAction = "logout"
)

// CheckRemovals applies the mass-removal thresholds to a plan. It is pure: the reconciler holds
// the removals back when the verdict is tripped. Locks and logouts count towards
// max_removals_per_cycle like removals: a glitch showing most users deactivated must not lock or
// log out everyone at once, whether or not it removes anyone from a room.
func CheckRemovals(limits GuardLimits, plan Plan, state State) GuardVerdict {
	var v GuardVerdict
	perRoom := map[id.RoomID]int{}
	accountEntry := map[id.UserID]int{} // index in v.Held of the user's locks and logouts
	n, accountWrites := 0, 0
	for _, a := range plan.Actions {
		t := a.Target()
		if heldWithRemovals(a) {
			action := HeldLogout
			if _, lock := a.(LockAccount); lock {
				action = HeldLock
			}
			n++
			accountWrites++
			if i, ok := accountEntry[t.User]; ok {
				v.Held[i].Action += "+" + action
				v.Held[i].Reason += "; " + a.Why()
				continue
			}
			accountEntry[t.User] = len(v.Held)
			v.Held = append(v.Held, HeldRemoval{User: t.User, Action: action, Reason: a.Why()})
			continue
		}
		if !IsRemoval(a) {
			continue
		}
		action := RemoveKick
		if _, ban := a.(Ban); ban {
			action = RemoveBan
		}
		v.Held = append(v.Held, HeldRemoval{Room: t.Room, User: t.User, Action: action, Reason: a.Why()})
		perRoom[t.Room]++
		n++
	}
	if limits.MaxRemovals > 0 && n > limits.MaxRemovals {
		what := "removals"
		if accountWrites > 0 {
			what = "removals, locks and logouts"
		}
		v.Why = append(v.Why, fmt.Sprintf("%d %s exceed max_removals_per_cycle %d", n, what, limits.MaxRemovals))
	}
	if limits.MaxFraction > 0 {
		rooms := make([]id.RoomID, 0, len(perRoom))
		for r := range perRoom {
			rooms = append(rooms, r)
		}
		slices.Sort(rooms)
		for _, r := range rooms {
			n, total := perRoom[r], state.Members.InRoom(r)
			if allowed := RemovalAllowance(limits.MaxFraction, total); float64(n) > allowed {
				v.Why = append(v.Why, fmt.Sprintf("%d of %d managed members of %s would leave, more than max_removal_fraction %.2f allows (%s)",
					n, total, r, limits.MaxFraction, strconv.FormatFloat(allowed, 'f', -1, 64)))
			}
		}
	}
	if !v.Tripped() {
		v.Held = nil
	}
	return v
}

// RemovalAllowance is how many of a room's managed members one cycle may remove before the
// fraction rule holds the removals: fraction × managed, but never less than one. One departure is
// the everyday case, and in a room of three it is already a third: holding it for an admin would
// make every small room ask for a confirmation each time someone leaves, and admins who confirm
// by habit are no guard. Two or more leaving a small room at once (two of three, both of two)
// still trip it, and max_removals_per_cycle bounds the total whatever the room sizes.
func RemovalAllowance(fraction float64, managed int) float64 {
	return max(1, fraction*float64(managed))
}

// BatchID names a set of removals: the same removals give the same ID, so a batch held every
// cycle is posted once and a confirmation applies to exactly what the admin saw.
func BatchID(removals []HeldRemoval) string {
	keys := make([]string, 0, len(removals))
	for _, r := range removals {
		keys = append(keys, string(r.Room)+"\x00"+string(r.User)+"\x00"+string(r.Action))
	}
	slices.Sort(keys)
	sum := sha256.Sum256([]byte(strings.Join(keys, "\x01")))
	return hex.EncodeToString(sum[:3])
}

// WithoutRemovals returns the plan minus its kicks and bans, and the locks and logouts that
// wait with them (see heldWithRemovals).
func (p Plan) WithoutRemovals() Plan {
	out := Plan{Warnings: p.Warnings}
	for _, a := range p.Actions {
		if !IsRemoval(a) && !heldWithRemovals(a) {
			out.Actions = append(out.Actions, a)
		}
	}
	return out
}
