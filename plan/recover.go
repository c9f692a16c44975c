package plan

import "time"

// removalClockSlack allows for the homeserver's clock (which stamps the leave event) running
// behind the bot's (which stamped the pending removal).
const removalClockSlack = 5 * time.Minute

// RecordDoneRemoval records in the history a removal that the room shows done by the bot but the
// store does not: the process stopped (crash, kill, lost store) between the kick or ban and its
// record. It writes to the store only; nothing is sent to the room again.
type RecordDoneRemoval struct {
	Removal Removal
}

func (a RecordDoneRemoval) Target() RoomUser { return RoomUser{a.Removal.Room, a.Removal.User} }
func (RecordDoneRemoval) Kind() string       { return "record_removal" }
func (a RecordDoneRemoval) Why() string      { return a.Removal.Reason }
func (RecordDoneRemoval) Phase() int         { return PhaseState }

// RemovalAlreadyDone recognises a due pending removal that the bot itself already carried out:
// the user's membership is leave or ban, set by the bot, no earlier than the removal was
// scheduled. Any other departure (the user left, a moderator kicked them) is not the bot's
// removal and is forgotten, not recorded.
func RemovalAlreadyDone(policy Policy, key RoomUser, mem RoomMember, state State, now time.Time) (RecordDoneRemoval, bool) {
	pending, ok := state.Pending[key]
	if !ok || key.User == policy.Bot || mem.Sender != policy.Bot || now.Before(pending.DueAt) {
		return RecordDoneRemoval{}, false
	}
	action := RemoveKick
	switch mem.Membership {
	case MembershipLeave:
	case MembershipBan:
		action = RemoveBan
	default:
		return RecordDoneRemoval{}, false
	}
	if mem.Since.IsZero() || mem.Since.Before(pending.CreatedAt.Add(-removalClockSlack)) {
		return RecordDoneRemoval{}, false
	}
	return RecordDoneRemoval{Removal: Removal{Room: key.Room, User: key.User, Action: action, Reason: pending.Reason, At: mem.Since}}, true
}
