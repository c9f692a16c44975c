package chaos

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

// HomeserverFaults are the shares of requests the fake homeserver answers badly. A rate-limited
// or failed request changes nothing; a lost answer is a write that was applied, whose answer
// never reached the bot.
type HomeserverFaults struct {
	RateLimited, ServerError, LostAnswer float64
}

func (f HomeserverFaults) String() string {
	if f == (HomeserverFaults{}) {
		return "none"
	}
	return fmt.Sprintf("429 %.0f%%, 5xx %.0f%%, lost answers %.0f%%", 100*f.RateLimited, 100*f.ServerError, 100*f.LostAnswer)
}

// MatrixError is an error answer of the fake homeserver, as the Client-Server API gives them.
type MatrixError struct {
	Status  int
	Code    string
	Message string
}

func (e *MatrixError) Error() string {
	return fmt.Sprintf("homeserver answered %d %s: %s", e.Status, e.Code, e.Message)
}

// errLostAnswer is what the bot sees of a write whose answer was lost after it was applied.
var errLostAnswer = fmt.Errorf("no answer from the homeserver: %w", context.DeadlineExceeded)

// errKilled is what a killed incarnation meets once the run ends and it is let go: nothing it
// does after its kill point reaches the homeserver.
var errKilled = errors.New("this bot process was killed")

// Call is one request to the fake homeserver that the safety rule judges: a kick, a ban, a lock
// or a logout, as received (before any fault: the bot meant it).
type Call struct {
	Kind   string // kick, ban, lock, logout
	Room   id.RoomID
	User   id.UserID
	Reason string
}

// Homeserver is the fake homeserver: rooms with real membership state (who set each membership,
// and when) and power levels, and accounts that can be locked and logged out. It implements
// what the reconciler needs of Matrix through a port per bot process (see Port).
type Homeserver struct {
	mu       sync.Mutex
	clock    *Clock
	bot      id.UserID
	rng      *rand.Rand
	faults   HomeserverFaults
	rooms    map[id.RoomID]map[id.UserID]plan.RoomMember
	accounts map[id.UserID]*matrixAccount
	// judge is told of every Call before it is answered.
	judge func(Call)
	note  func(string)
}

type matrixAccount struct {
	locked  bool
	logouts int
}

// NewHomeserver makes a homeserver whose rooms each hold the bot, joined with power 100.
func NewHomeserver(clock *Clock, bot id.UserID, rooms []id.RoomID, rng *rand.Rand, judge func(Call), note func(string)) *Homeserver {
	h := &Homeserver{clock: clock, bot: bot, rng: rng, judge: judge, note: note,
		rooms: map[id.RoomID]map[id.UserID]plan.RoomMember{}, accounts: map[id.UserID]*matrixAccount{bot: {}}}
	for _, r := range rooms {
		h.rooms[r] = map[id.UserID]plan.RoomMember{bot: {Membership: plan.MembershipJoin, Sender: bot, Since: clock.Now()}}
	}
	return h
}

// SetFaults changes the fault rates from the next request on.
func (h *Homeserver) SetFaults(f HomeserverFaults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults = f
}

// CreateAccount registers a Matrix account, as a user's first sign-in does.
func (h *Homeserver) CreateAccount(user id.UserID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.accounts[user] == nil {
		h.accounts[user] = &matrixAccount{}
	}
}

// HasAccount reports whether user has a Matrix account.
func (h *Homeserver) HasAccount(user id.UserID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.accounts[user] != nil
}

// Locked lists the locked accounts, sorted.
func (h *Homeserver) Locked() []id.UserID {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []id.UserID
	for u, a := range h.accounts {
		if a.locked {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// Member is one room's membership of one user.
func (h *Homeserver) Member(room id.RoomID, user id.UserID) plan.RoomMember {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[room][user]
}

// Members lists the users with a membership in room, sorted.
func (h *Homeserver) Members(room id.RoomID) []id.UserID {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Sorted(maps.Keys(h.rooms[room]))
}

// UserSets changes a user's own membership: accepting an invite (join) or leaving (leave).
func (h *Homeserver) UserSets(room id.RoomID, user id.UserID, membership string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rooms[room][user] = plan.RoomMember{Membership: membership, Sender: user, Since: h.clock.Now()}
	h.note(fmt.Sprintf("matrix: %s sets their own membership in %s to %s", user, room, membership))
}

// fault draws the outcome of one request: an error that leaves everything as it was, lost
// (apply the write, then answer with an error), or neither.
func (h *Homeserver) fault(write bool) (err error, lost bool) {
	f := h.faults
	if f == (HomeserverFaults{}) {
		return nil, false
	}
	x := h.rng.Float64()
	switch {
	case x < f.RateLimited:
		return &MatrixError{Status: http.StatusTooManyRequests, Code: "M_LIMIT_EXCEEDED", Message: "Too Many Requests"}, false
	case x < f.RateLimited+f.ServerError:
		return &MatrixError{Status: http.StatusBadGateway, Code: "M_UNKNOWN", Message: "Bad Gateway"}, false
	case write && x < f.RateLimited+f.ServerError+f.LostAnswer:
		return nil, true
	}
	return nil, false
}

// write runs one membership or account write: the fault first, then apply, which says whether
// the homeserver accepted it.
func (h *Homeserver) write(what string, apply func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ferr, lost := h.fault(true)
	if ferr != nil {
		h.note(fmt.Sprintf("matrix: %s -> %v (not applied)", what, ferr))
		return ferr
	}
	if err := apply(); err != nil {
		h.note(fmt.Sprintf("matrix: %s -> refused: %v", what, err))
		return err
	}
	if lost {
		h.note(fmt.Sprintf("matrix: %s -> applied, answer lost", what))
		return errLostAnswer
	}
	h.note(fmt.Sprintf("matrix: %s -> applied", what))
	return nil
}

func (h *Homeserver) setMember(room id.RoomID, user id.UserID, membership string, sender id.UserID) {
	h.rooms[room][user] = plan.RoomMember{Membership: membership, Sender: sender, Since: h.clock.Now()}
}

func (h *Homeserver) room(room id.RoomID) (map[id.UserID]plan.RoomMember, error) {
	r, ok := h.rooms[room]
	if !ok {
		return nil, &MatrixError{Status: http.StatusForbidden, Code: "M_FORBIDDEN", Message: "unknown room " + string(room)}
	}
	return r, nil
}

func forbidden(format string, args ...any) error {
	return &MatrixError{Status: http.StatusForbidden, Code: "M_FORBIDDEN", Message: fmt.Sprintf(format, args...)}
}

func (h *Homeserver) roomState(room id.RoomID) (plan.RoomState, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err, _ := h.fault(false); err != nil {
		h.note(fmt.Sprintf("matrix: read %s -> %v", room, err))
		return plan.RoomState{}, err
	}
	r, err := h.room(room)
	if err != nil {
		return plan.RoomState{}, err
	}
	return plan.RoomState{
		Members: plan.NewRoomMembers(maps.Clone(r)),
		PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{h.bot: 100}, Invite: 0, Kick: 50, Ban: 50,
			ChangePowerLevels: 100},
	}, nil
}

func (h *Homeserver) userExists(user id.UserID) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err, _ := h.fault(false); err != nil {
		return false, err
	}
	return h.accounts[user] != nil, nil
}

func (h *Homeserver) invite(room id.RoomID, user id.UserID) error {
	return h.write(fmt.Sprintf("invite %s to %s", user, room), func() error {
		r, err := h.room(room)
		if err != nil {
			return err
		}
		switch r[user].Membership {
		case plan.MembershipJoin:
			return forbidden("%s is already in the room", user)
		case plan.MembershipBan:
			return forbidden("%s is banned from the room", user)
		}
		h.setMember(room, user, plan.MembershipInvite, h.bot)
		return nil
	})
}

func (h *Homeserver) forceJoin(room id.RoomID, user id.UserID) error {
	return h.write(fmt.Sprintf("join %s to %s", user, room), func() error {
		r, err := h.room(room)
		if err != nil {
			return err
		}
		switch {
		case h.accounts[user] == nil:
			return &MatrixError{Status: http.StatusNotFound, Code: "M_NOT_FOUND", Message: "no such user " + string(user)}
		case r[user].Membership == plan.MembershipBan:
			return forbidden("%s is banned from the room", user)
		}
		h.setMember(room, user, plan.MembershipJoin, user)
		return nil
	})
}

func (h *Homeserver) unban(room id.RoomID, user id.UserID) error {
	return h.write(fmt.Sprintf("unban %s in %s", user, room), func() error {
		r, err := h.room(room)
		if err != nil {
			return err
		}
		if r[user].Membership == plan.MembershipBan {
			h.setMember(room, user, plan.MembershipLeave, h.bot)
		}
		return nil
	})
}

func (h *Homeserver) kick(room id.RoomID, user id.UserID, reason string) error {
	h.judge(Call{Kind: "kick", Room: room, User: user, Reason: reason})
	return h.write(fmt.Sprintf("kick %s from %s (%s)", user, room, reason), func() error {
		r, err := h.room(room)
		if err != nil {
			return err
		}
		switch r[user].Membership {
		case plan.MembershipJoin, plan.MembershipInvite, plan.MembershipKnock:
			h.setMember(room, user, plan.MembershipLeave, h.bot)
			return nil
		}
		return forbidden("the target user %s is not in the room", user)
	})
}

func (h *Homeserver) ban(room id.RoomID, user id.UserID, reason string) error {
	h.judge(Call{Kind: "ban", Room: room, User: user, Reason: reason})
	return h.write(fmt.Sprintf("ban %s from %s (%s)", user, room, reason), func() error {
		if _, err := h.room(room); err != nil {
			return err
		}
		h.setMember(room, user, plan.MembershipBan, h.bot)
		return nil
	})
}

func (h *Homeserver) setLocked(user id.UserID, locked bool) error {
	if locked {
		h.judge(Call{Kind: "lock", User: user})
	}
	return h.write(fmt.Sprintf("set locked=%t on %s", locked, user), func() error {
		a := h.accounts[user]
		if a == nil {
			// As both real adapters (Synapse's admin API, MAS) answer: no account, nothing to
			// lock or unlock, and no error.
			return nil
		}
		a.locked = locked
		return nil
	})
}

func (h *Homeserver) locked(user id.UserID) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err, _ := h.fault(false); err != nil {
		return false, err
	}
	a := h.accounts[user]
	return a != nil && a.locked, nil
}

func (h *Homeserver) logout(user id.UserID) error {
	h.judge(Call{Kind: "logout", User: user})
	return h.write("log out "+string(user), func() error {
		a := h.accounts[user]
		if a == nil {
			return nil // as the real adapters: no account, no session to end
		}
		a.logouts++
		return nil
	})
}

// Port is one bot process's connection to the homeserver. Once its process is killed the port
// is fenced: every later request fails without reaching the homeserver, as a dead process's
// requests never arrive.
type Port struct {
	hs   *Homeserver
	dead *atomic.Bool
}

var (
	_ reconcile.Rooms      = (*Port)(nil)
	_ reconcile.Accounts   = (*Port)(nil)
	_ reconcile.LockReader = (*Port)(nil)
)

func (p *Port) RoomState(_ context.Context, room id.RoomID) (plan.RoomState, error) {
	if p.dead.Load() {
		return plan.RoomState{}, errKilled
	}
	return p.hs.roomState(room)
}

func (p *Port) UserExists(_ context.Context, user id.UserID) (bool, error) {
	if p.dead.Load() {
		return false, errKilled
	}
	return p.hs.userExists(user)
}

func (p *Port) Invite(_ context.Context, room id.RoomID, user id.UserID, _ string) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.invite(room, user)
}

func (p *Port) ForceJoin(_ context.Context, room id.RoomID, user id.UserID, _ bool) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.forceJoin(room, user)
}

func (p *Port) Unban(_ context.Context, room id.RoomID, user id.UserID, _ string) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.unban(room, user)
}

func (p *Port) Kick(_ context.Context, room id.RoomID, user id.UserID, reason string) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.kick(room, user, reason)
}

func (p *Port) Ban(_ context.Context, room id.RoomID, user id.UserID, reason string) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.ban(room, user, reason)
}

func (p *Port) SetLocked(_ context.Context, user id.UserID, locked bool) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.setLocked(user, locked)
}

func (p *Port) Locked(_ context.Context, user id.UserID) (bool, error) {
	if p.dead.Load() {
		return false, errKilled
	}
	return p.hs.locked(user)
}

func (p *Port) Logout(_ context.Context, user id.UserID) error {
	if p.dead.Load() {
		return errKilled
	}
	return p.hs.logout(user)
}
