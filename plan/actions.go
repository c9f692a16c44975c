package plan

import (
	"fmt"
	"time"

	"maunium.net/go/mautrix/id"
)

// Action is one step of a plan. Each says what, to whom, where and why.
type Action interface {
	// Target is the room and user the action is about.
	Target() RoomUser
	// Kind is a short lower-case name for logs, metrics and the plan output.
	Kind() string
	// Why is the reason, in words an operator understands.
	Why() string
	// Phase orders actions: state bookkeeping first, then additions, then removals.
	Phase() int
}

// Phases, in the order a plan is applied.
const (
	PhaseState = iota
	PhaseAdd
	phaseRemove
)

// TrackMember stores (creates or updates) a managed member record. It writes to the store only.
// A first cycle plans one for every member of every room, hundreds of thousands in a large
// installation, so it holds the record's times as integers (see packTime): 64 bytes instead of
// 96. NewTrackMember makes one; Member returns the record.
type TrackMember struct {
	Room                  id.RoomID
	User                  id.UserID
	desiredSince, addedAt int64
	Reason                string
}

// NewTrackMember returns the action that stores m.
func NewTrackMember(m ManagedMember, reason string) TrackMember {
	return TrackMember{Room: m.Room, User: m.User, desiredSince: packTime(m.DesiredSince), addedAt: packTime(m.AddedAt), Reason: reason}
}

// Member returns the record the action stores.
func (a TrackMember) Member() ManagedMember {
	return ManagedMember{Room: a.Room, User: a.User, DesiredSince: unpackTime(a.desiredSince), AddedAt: unpackTime(a.addedAt)}
}

// ForgetMember drops a managed member and any pending removal: they are no longer in the room.
type ForgetMember struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// ScheduleRemoval starts a grace period at whose end the user is removed.
type ScheduleRemoval struct {
	Room   id.RoomID
	User   id.UserID
	DueAt  time.Time
	Reason string
}

// RestartGrace marks a pending removal as awaiting a complete read: a room with a group unknown
// this cycle cannot show that the user stayed out of it, so the grace period starts over at the
// next cycle that reads all of the room's groups (a ScheduleRemoval then, due a full grace
// period later). Otherwise a user who came back and left again while Authentik was unreadable
// would be removed at the end of the first departure's grace period. DueAt is the earliest the
// removal can now be due, for display.
type RestartGrace struct {
	Room   id.RoomID
	User   id.UserID
	DueAt  time.Time
	Reason string
}

// CancelRemoval drops a pending removal: the user is back in a group.
type CancelRemoval struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// Invite invites a group member into the room.
type Invite struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// ForceJoin joins a group member into the room without asking them.
type ForceJoin struct {
	Room           id.RoomID
	User           id.UserID
	AlreadyInvited bool
	Reason         string
}

// Unban lifts a ban the bot made, before the user is added again.
type Unban struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// Kick removes a user whose grace period ended.
type Kick struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// Ban removes and bans a user whose grace period ended.
type Ban struct {
	Room   id.RoomID
	User   id.UserID
	Reason string
}

func (a TrackMember) Target() RoomUser     { return RoomUser{a.Room, a.User} }
func (a ForgetMember) Target() RoomUser    { return RoomUser{a.Room, a.User} }
func (a ScheduleRemoval) Target() RoomUser { return RoomUser{a.Room, a.User} }
func (a CancelRemoval) Target() RoomUser   { return RoomUser{a.Room, a.User} }
func (a RestartGrace) Target() RoomUser    { return RoomUser{a.Room, a.User} }
func (a Invite) Target() RoomUser          { return RoomUser{a.Room, a.User} }
func (a ForceJoin) Target() RoomUser       { return RoomUser{a.Room, a.User} }
func (a Unban) Target() RoomUser           { return RoomUser{a.Room, a.User} }
func (a Kick) Target() RoomUser            { return RoomUser{a.Room, a.User} }
func (a Ban) Target() RoomUser             { return RoomUser{a.Room, a.User} }

func (TrackMember) Kind() string     { return "track" }
func (ForgetMember) Kind() string    { return "forget" }
func (ScheduleRemoval) Kind() string { return "schedule_removal" }
func (CancelRemoval) Kind() string   { return "cancel_removal" }
func (RestartGrace) Kind() string    { return "restart_grace" }
func (Invite) Kind() string          { return "invite" }
func (ForceJoin) Kind() string       { return "force_join" }
func (Unban) Kind() string           { return "unban" }
func (Kick) Kind() string            { return "kick" }
func (Ban) Kind() string             { return "ban" }

func (a TrackMember) Why() string     { return a.Reason }
func (a ForgetMember) Why() string    { return a.Reason }
func (a ScheduleRemoval) Why() string { return a.Reason }
func (a CancelRemoval) Why() string   { return a.Reason }
func (a RestartGrace) Why() string    { return a.Reason }
func (a Invite) Why() string          { return a.Reason }
func (a ForceJoin) Why() string       { return a.Reason }
func (a Unban) Why() string           { return a.Reason }
func (a Kick) Why() string            { return a.Reason }
func (a Ban) Why() string             { return a.Reason }

func (TrackMember) Phase() int     { return PhaseState }
func (ForgetMember) Phase() int    { return PhaseState }
func (ScheduleRemoval) Phase() int { return PhaseState }
func (CancelRemoval) Phase() int   { return PhaseState }
func (RestartGrace) Phase() int    { return PhaseState }
func (Unban) Phase() int           { return PhaseAdd }
func (Invite) Phase() int          { return PhaseAdd }
func (ForceJoin) Phase() int       { return PhaseAdd }
func (Kick) Phase() int            { return phaseRemove }
func (Ban) Phase() int             { return phaseRemove }

// IsMatrixWrite reports whether an action changes a room (as opposed to the bot's own state).
func IsMatrixWrite(a Action) bool { return a.Phase() != PhaseState }

// IsRemoval reports whether an action removes someone from a room.
func IsRemoval(a Action) bool { return a.Phase() == phaseRemove }

// Describe renders an action as one line for logs and the plan subcommand.
func Describe(a Action) string {
	t := a.Target()
	switch a := a.(type) {
	case ScheduleRemoval:
		return fmt.Sprintf("%s %s in %s due %s: %s", a.Kind(), t.User, t.Room, a.DueAt.UTC().Format(time.RFC3339), a.Reason)
	case RestartGrace:
		return fmt.Sprintf("%s %s in %s due %s: %s", a.Kind(), t.User, t.Room, a.DueAt.UTC().Format(time.RFC3339), a.Reason)
	case ForceJoin:
		return fmt.Sprintf("%s %s into %s: %s", a.Kind(), t.User, t.Room, a.Reason)
	case SetPowerLevels:
		return fmt.Sprintf("%s in %s: %s", a.Kind(), t.Room, a.Reason)
	case SetProfile:
		return fmt.Sprintf("%s %s to %q: %s", a.Kind(), t.User, a.Value, a.Reason)
	case LifecycleAction:
		return fmt.Sprintf("%s %s: %s", a.Kind(), t.User, a.Why())
	case RecordSpaceChildren, RecordRoom, ForgetRoomRecord, JoinRoom:
		return fmt.Sprintf("%s %s: %s", a.Kind(), t.Room, a.Why())
	default:
		return fmt.Sprintf("%s %s in %s: %s", a.Kind(), t.User, t.Room, a.Why())
	}
}

// ReasonNoAccount is why an addition is skipped for a user without a Matrix account: every cycle
// checks the account before it invites or joins anyone, and skips those who have none.
const ReasonNoAccount = "no Matrix account yet: skipped until they sign in once (checked every cycle)"

// SkippedAction is an action the planner chose that the next cycle will not carry out, and why.
type SkippedAction struct {
	Action Action
	Reason string
}

// AddTargets returns the users the actions invite or join, by room.
func AddTargets(actions []Action) map[RoomUser]bool {
	out := map[RoomUser]bool{}
	for _, act := range actions {
		switch act.(type) {
		case Invite, ForceJoin:
			out[act.Target()] = true
		}
	}
	return out
}
