package plan

import (
	"time"

	"maunium.net/go/mautrix/id"
)

// decision is the planner's verdict on the user it explains in one room: recorded by the rule
// that decides it, where it decides it, so that Explain renders the rule instead of working it
// out again (see decide).
type decision struct {
	verdict Verdict
	// at is when the removal the verdict names happens, as RoomWhy.At.
	at time.Time
}

// decide records the verdict on u in room when u is the user the plan explains (see
// decisionsFor); a later rule of the same room overrides an earlier one, except that the bot is
// always itself. Plans made by MakePlan explain nobody, and this costs them one comparison.
func (p *Plan) decide(room id.RoomID, u id.UserID, v Verdict, at time.Time) {
	if p.explain == "" || u != p.explain {
		return
	}
	if p.decisions == nil {
		p.decisions = map[id.RoomID]decision{}
	}
	if d, ok := p.decisions[room]; ok && d.verdict == VerdictBot {
		return
	}
	p.decisions[room] = decision{verdict: v, at: at}
}

// decideIfOpen records the verdict unless a rule already decided for u in room.
func (p *Plan) decideIfOpen(room id.RoomID, u id.UserID, v Verdict, at time.Time) {
	if _, ok := p.decisions[room]; !ok {
		p.decide(room, u, v, at)
	}
}

// decisionsFor plans as MakePlan does, and returns the planner's verdict on user in every room it
// planned. Planning is pure, so the verdicts are those of the plan the same inputs gave.
func decisionsFor(policy Policy, obs Observed, state State, now time.Time, user id.UserID) map[id.RoomID]decision {
	return makePlan(policy, obs, state, now, user).decisions
}
