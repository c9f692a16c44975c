package plan

import (
	"time"

	"maunium.net/go/mautrix/id"
)

// Exemption keeps the bot from removing a user: the planner never schedules their removal.
type Exemption struct {
	User id.UserID
	// Room limits the exemption to one room; empty means every room.
	Room id.RoomID
	// UntilBack ends the exemption once the user is back in one of the room's groups (what
	// `cancel` sets); otherwise it lasts until an admin lifts it.
	UntilBack bool
	By        id.UserID
	Reason    string
	At        time.Time
}

// exemption returns the exemption that covers user in room, preferring a room's own over a
// global one.
func (s State) exemption(room id.RoomID, user id.UserID) (Exemption, bool) {
	if e, ok := s.Exempt[RoomUser{room, user}]; ok {
		return e, true
	}
	e, ok := s.Exempt[RoomUser{"", user}]
	return e, ok
}

// Batch statuses of a HeldBatch.
const (
	BatchHeld      = "held"
	BatchConfirmed = "confirmed"
	BatchRejected  = "rejected"
	BatchDone      = "done"
)

// HeldRemoval is one removal in a held batch.
type HeldRemoval struct {
	Room   id.RoomID
	User   id.UserID
	Action RemoveAction
	Reason string
}

// HeldBatch is a cycle's removals that the guard held back until an admin decides.
type HeldBatch struct {
	// ID is derived from the removals, so the same removals held again keep the same ID.
	ID       string
	Status   string
	Created  time.Time
	Why      string
	Removals []HeldRemoval
	// DecidedBy and DecidedAt are set once an admin confirmed or rejected the batch.
	DecidedBy id.UserID
	DecidedAt time.Time
}

// EndExemption lifts an exemption that lasted until the user came back into a group.
type EndExemption struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

func (a EndExemption) Target() RoomUser { return RoomUser{a.Room, a.User} }
func (EndExemption) Kind() string       { return "end_exemption" }
func (a EndExemption) Why() string      { return a.Reason }
func (EndExemption) Phase() int         { return PhaseState }

// AuditEntry is one line of the audit log: something the bot did or an admin ordered.
type AuditEntry struct {
	At time.Time
	// Actor is the admin's Matrix ID, or "cycle <id>" for the bot's own actions.
	Actor   string
	Command string
	// Target is the user concerned; empty when the entry concerns no one in particular.
	Target id.UserID
	Room   id.RoomID
	Result string
}
