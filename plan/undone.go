package plan

import (
	"fmt"
	"slices"
	"time"

	"maunium.net/go/mautrix/id"
)

// planUndone removes again the users whose recorded removal from the room the homeserver undid.
// A kick the homeserver accepted can still lose to a concurrent event: when the room's owner
// lowers the bot's power level at the same depth of the room's event graph, Synapse's state
// resolution applies the power change first, the kick no longer passes its checks, and the
// room's current membership goes back to the invite or join the kick replaced. The bot had
// recorded the removal and stopped managing the user, so nothing would ever remove them.
//
// The proof is exact: the user's current membership event is the very one the removal replaced
// (same membership, sender and timestamp), so nobody invited or let them in since. Everything
// else a removal needs holds as for any other: the room's groups were all read completely this
// cycle (planRoom returns before this otherwise), the user is in none of them, is not managed
// again, exempt or protected, and the room's mappings still remove people.
func (p *Plan) planUndone(policy Policy, rp roomPolicy, desired map[id.UserID]*desire, rs RoomState, state State) {
	room := rp.Room
	var users []id.UserID
	for key := range state.Removals {
		if key.Room == room {
			users = append(users, key.User)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		key := RoomUser{room, u}
		rem := state.Removals[key]
		_, managed := state.Members.Lookup(key)
		if u == policy.Bot || desired[u] != nil || managed || !undone(rem, rs.Members.Get(u)) {
			// The removal held, or something newer happened to the user here: nothing to watch
			// for any more.
			p.Actions = append(p.Actions, SettleRemoval{Room: room, User: u, UpTo: rem.At})
			continue
		}
		if _, exempt := state.exemption(room, u); exempt {
			continue
		}
		rule := RuleFor(policy, room)
		if rule.never {
			continue
		}
		reason := fmt.Sprintf("%s (again: the homeserver undid the %s of %s)", rem.Reason, rem.Action, rem.At.UTC().Format(time.RFC3339))
		p.removeNow(policy, room, u, rule.Action, reason, rs)
	}
}

// SettleRemoval stops watching a recorded removal for an undo (see planUndone): the room shows
// another membership than the one it replaced, so it held, or something newer happened. It
// writes to the store only, and keeps the recent removals a cycle loads few.
type SettleRemoval struct {
	Room id.RoomID
	User id.UserID
	// UpTo is the time of the newest removal settled; older ones of the user in the room go too.
	UpTo time.Time
}

func (a SettleRemoval) Target() RoomUser { return RoomUser{Room: a.Room, User: a.User} }
func (SettleRemoval) Kind() string       { return "settle_removal" }
func (SettleRemoval) Why() string        { return "the removal held, or the membership changed since" }
func (SettleRemoval) Phase() int         { return PhaseState }

// undone reports whether mem, a user's current membership, is still the event rem replaced.
func undone(rem Removal, mem RoomMember) bool {
	r := rem.Replaced
	if r.Since.IsZero() || (r.Membership != MembershipJoin && r.Membership != MembershipInvite) {
		return false
	}
	return mem.Membership == r.Membership && mem.Sender == r.Sender && mem.Since.Equal(r.Since)
}
