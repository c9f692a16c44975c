package plan

import (
	"slices"
	"strings"

	"maunium.net/go/mautrix/id"
)

// cancelReturned cancels the pending removals of users the cycle saw back in one of the room's
// groups, when the room itself could not be read. Cancelling touches only the store, so it needs
// no room state; left pending, the old deadline would stand, and a user who leaves the group
// again later would be removed without a grace period of their own.
func (p *Plan) cancelReturned(room id.RoomID, desired map[id.UserID]*desire, state State) {
	users := make([]id.UserID, 0, len(desired))
	for u := range desired {
		if _, pending := state.Pending[RoomUser{room, u}]; pending {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		p.Actions = append(p.Actions, CancelRemoval{Room: room, User: u, Reason: "back in Authentik group " + strings.Join(desired[u].groups, ", ")})
	}
}
