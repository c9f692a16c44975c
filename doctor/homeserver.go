package doctor

import (
	"context"
	"fmt"
	"strings"
)

// Homeserver is what the checks read from the homeserver. Every method only reads (the
// appservice ping makes the homeserver call the appservice, which changes nothing either).
type Homeserver interface {
	// Reachable asks for the client API's versions, which needs no token.
	Reachable(ctx context.Context) error
	// Identity checks the bot's token (the as_token in appservice mode) and that it acts as
	// the configured bot; it returns the bot's user ID.
	Identity(ctx context.Context) (string, error)
	// Appservice checks the registration from the homeserver's side (appservice mode only):
	// the homeserver knows it and reaches its url. ok is false in client mode.
	Appservice(ctx context.Context) (detail string, ok bool, err error)
	// ExplainPing classifies an error of Appservice.
	ExplainPing(err error) PingProblem
	// ForceJoin checks that the configured force-join route can work; ok is false when no
	// mapping forces joins.
	ForceJoin(ctx context.Context) (detail string, ok bool, err error)
	// Room resolves a room ID or alias and reads the bot's power in it. When the bot is not in
	// the room, the error comes with the room's ID and Invited set if it holds an invite.
	Room(ctx context.Context, roomOrAlias string) (RoomPower, error)
	// IsAliasMissing tells whether Room's error means the alias does not exist.
	IsAliasMissing(err error) bool
}

// PingProblem is what an appservice ping error means for the operator.
type PingProblem int

const (
	PingFailed      PingProblem = iota // the homeserver does not know the registration or cannot reach the bot
	PingNoURL                          // the registration has no url: the homeserver pushes nothing to the bot
	PingUnsupported                    // the homeserver is too old to ping: nothing was checked
)

// RoomPower is a room's ID and the power levels that decide what the bot may do there.
type RoomPower struct {
	ID          string
	Bot         int  // the bot's own level
	Creator     bool // the bot created the room in a room version that gives creators unlimited power
	Invite      int
	Kick        int
	Ban         int
	PowerLevels int // the level needed to change m.room.power_levels
	// Invited is set, with Room's error, when the bot is not in the room but holds an invite.
	Invited bool
}

func checkHomeserver(ctx context.Context, in Input) []Result {
	hs := in.Homeserver
	var out []Result
	if err := hs.Reachable(ctx); err != nil {
		out = append(out, Result{Check: "Homeserver reachable", Outcome: Fail, Detail: err.Error(),
			Hint: "check MATRIX_HOMESERVER_URL (" + in.HomeserverURL + ") and that this machine can reach it"})
		names := []string{"Bot identity"}
		for _, n := range in.Rooms {
			names = append(names, roomCheck(n))
		}
		return append(out, skipped(names...)...)
	}
	out = append(out, Result{Check: "Homeserver reachable", Outcome: Pass, Detail: in.HomeserverURL + " answers the Matrix client API"})

	bot, err := hs.Identity(ctx)
	if err != nil {
		out = append(out, Result{Check: "Bot identity", Outcome: Fail, Detail: err.Error(), Hint: "fix the bot's user ID or token (MATRIX_USER_ID, MATRIX_ACCESS_TOKEN, or the registration's as_token and sender_localpart)"})
		names := []string{}
		for _, n := range in.Rooms {
			names = append(names, roomCheck(n))
		}
		return append(out, skipped(names...)...)
	}
	out = append(out, Result{Check: "Bot identity", Outcome: Pass, Detail: "the token acts as " + bot})

	if detail, ok, err := hs.Appservice(ctx); ok || err != nil {
		out = append(out, appserviceResult(hs, detail, err))
	}
	if detail, ok, err := hs.ForceJoin(ctx); ok || err != nil {
		r := Result{Check: "Force joins", Outcome: Pass, Detail: detail}
		if err != nil {
			r.Outcome, r.Detail = Fail, err.Error()
			r.Hint = "use appservice mode, or make the bot a server admin"
		}
		out = append(out, r)
	}
	for _, n := range in.Rooms {
		out = append(out, checkRoom(ctx, hs, bot, n))
	}
	return out
}

func appserviceResult(hs Homeserver, detail string, err error) Result {
	r := Result{Check: "Appservice registration", Outcome: Pass, Detail: detail}
	if err == nil {
		return r
	}
	switch hs.ExplainPing(err) {
	case PingUnsupported:
		// It passes, qualified: the as_token was accepted (Bot identity), and the only fix, a
		// newer homeserver, is not the bot's setup. The line says that the url was not checked.
		r.Detail = "the homeserver is too old to ping the appservice; whether it reaches the bot's listener is not checked"
	case PingNoURL:
		r.Outcome, r.Detail = Fail, err.Error()
		r.Hint = "set url in the registration file to the address at which the homeserver reaches the bot's listener " +
			"(appservice.hostname and appservice.port), then restart the homeserver; without it no event reaches the bot " +
			"and admin-room commands go unanswered"
	default:
		r.Outcome, r.Detail = Fail, err.Error()
		r.Hint = "check that the homeserver loads this registration file (app_service_config_files) and that its url reaches the bot"
	}
	return r
}

func roomCheck(n Need) string { return "Room " + n.Room }

func checkRoom(ctx context.Context, hs Homeserver, bot string, n Need) Result {
	r := Result{Check: roomCheck(n)}
	p, err := hs.Room(ctx, n.Room)
	switch {
	case err != nil && n.CreatedOnStart && hs.IsAliasMissing(err):
		r.Outcome, r.Detail = Pass, "does not exist yet; the bot creates it at start (create_if_missing)"
		return r
	case err != nil && hs.IsAliasMissing(err):
		r.Outcome, r.Detail = Fail, err.Error()
		r.Hint = "create the room and give it this alias, fix the alias in the mapping, or add create_if_missing"
		return r
	case err != nil && p.Invited:
		r.Outcome, r.Detail = Fail, fmt.Sprintf("%s is invited, not joined", bot)
		r.Hint = "a running bot joins at its next cycle, and a starting one at start: start the bot or wait one sync interval, then run doctor again; " +
			"give it a power level of at least the room's kick level"
		return r
	case err != nil:
		r.Outcome, r.Detail = Fail, err.Error()
		r.Hint = fmt.Sprintf("invite %s to the room and give it a power level of at least the room's kick level", bot)
		return r
	}
	needs := []struct {
		what  string
		level int
		need  bool
	}{
		{"invite", p.Invite, true},
		{"kick", p.Kick, n.Kick},
		{"ban", p.Ban, n.Ban},
		{"set power levels", p.PowerLevels, n.PowerLevel > 0},
	}
	var ok, short []string
	highest := 0
	for _, x := range needs {
		if !x.need {
			continue
		}
		if p.Bot >= x.level {
			ok = append(ok, fmt.Sprintf("%s %d", x.what, x.level))
		} else {
			short = append(short, fmt.Sprintf("%s needs %d", x.what, x.level))
			highest = max(highest, x.level)
		}
	}
	if n.PowerLevel > 0 && p.Bot < n.PowerLevel {
		short = append(short, fmt.Sprintf("granting level %d needs %d", n.PowerLevel, n.PowerLevel))
		highest = max(highest, n.PowerLevel)
	}
	where := "" // the room's ID when the mapping names it by alias
	if p.ID != n.Room {
		where = p.ID + ": "
	}
	if len(short) > 0 {
		r.Outcome = Fail
		r.Detail = fmt.Sprintf("%sthe bot has level %d; %s", where, p.Bot, strings.Join(short, ", "))
		r.Hint = fmt.Sprintf("raise %s to power level %d or more in the room (a room admin can do it in the room's settings)", bot, highest)
		return r
	}
	r.Outcome = Pass
	r.Detail = fmt.Sprintf("%sreadable, bot level %s (%s)", where, levelText(p), strings.Join(ok, ", "))
	return r
}

func levelText(p RoomPower) string {
	if p.Creator {
		return "unlimited (creator)"
	}
	return fmt.Sprint(p.Bot)
}
