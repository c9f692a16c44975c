package chaos

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// The run's fixed cast: the bot, the rooms and the groups mapped to them. oncall is a subgroup
// of staff, so staff's effective members include oncall's; dev has two groups, so a user leaves
// it only by leaving both.
const (
	bot        = id.UserID("@sync-bot:" + Domain)
	lobby      = id.RoomID("!lobby:" + Domain)
	dev        = id.RoomID("!dev:" + Domain)
	pager      = id.RoomID("!pager:" + Domain)
	interval   = time.Minute
	akTimeout  = 100 * time.Millisecond
	adminToken = "chaos-admin-token"
)

var (
	baseGroups   = []string{"staff", "oncall", "eng"}
	parentOf     = map[string]string{"oncall": "staff"}
	firstUsers   = []string{"ann", "bob", "cat", "dan", "eve", "fay", "gus"}
	laterUsers   = []string{"hal", "ivy", "jon", "kim", "lea", "max", "ned", "oli", "pam", "quy"}
	allAuthFault = []AuthentikFault{ServerError, Timeout, Truncated, InvalidJSON, ForbiddenPage, ShiftedPage, MissingEntry}
)

// Params are what a seed decides before its first step.
type Params struct {
	Seed  uint64
	Steps int
	// Grace is the grace period; Remove and Deactivated the removal policy.
	Grace       time.Duration
	Remove      plan.RemoveAction
	Deactivated plan.DeactivationPolicy
	// PageSize is the client's page size: small, so that every listing has several pages.
	PageSize int
	Mappings []plan.Mapping
	// AuthentikKinds are the faults Authentik may show; Homeserver which the homeserver may.
	AuthentikKinds []AuthentikFault
	Homeserver     HomeserverFaults
	// KillRate is the share of steps whose cycle is killed at a random hook call.
	KillRate float64
}

// NewParams draws a seed's parameters from rng.
func NewParams(seed uint64, rng *rand.Rand) Params {
	p := Params{Seed: seed, Steps: 20 + rng.IntN(11), PageSize: 2 + rng.IntN(2)}
	p.Grace = []time.Duration{0, interval, 3 * interval}[rng.IntN(3)]
	p.Remove = plan.RemoveKick
	if rng.IntN(10) < 3 {
		p.Remove = plan.RemoveBan
	}
	p.Deactivated.AfterGrace = rng.IntN(4) == 0
	p.Deactivated.Logout = rng.IntN(2) == 0
	if rng.IntN(5) >= 2 {
		d := []time.Duration{0, interval, 2 * interval}[rng.IntN(3)]
		p.Deactivated.LockAfter = &d
	}
	method := func() plan.JoinMethod {
		if rng.IntN(10) < 3 {
			return plan.MethodForce
		}
		return plan.MethodInvite
	}
	p.Mappings = []plan.Mapping{
		{Group: "staff", Room: lobby, Method: method()},
		{Group: "eng", Room: dev, Method: method()},
		{Group: "oncall", Room: dev, Method: method()},
	}
	if rng.IntN(2) == 0 {
		p.Mappings = append(p.Mappings, plan.Mapping{Group: "oncall", Room: pager, Method: method()})
	}
	for _, k := range allAuthFault {
		if rng.IntN(10) < 6 {
			p.AuthentikKinds = append(p.AuthentikKinds, k)
		}
	}
	if len(p.AuthentikKinds) == 0 {
		p.AuthentikKinds = []AuthentikFault{allAuthFault[rng.IntN(len(allAuthFault))]}
	}
	rate := func() float64 { return []float64{0, 0.05, 0.15}[rng.IntN(3)] }
	p.Homeserver = HomeserverFaults{RateLimited: rate(), ServerError: rate(), LostAnswer: rate()}
	p.KillRate = []float64{0, 0.1, 0.25}[rng.IntN(3)]
	return p
}

// Rooms lists the mapped rooms.
func (p Params) Rooms() []id.RoomID {
	var out []id.RoomID
	for _, m := range p.Mappings {
		if len(out) == 0 || out[len(out)-1] != m.Room {
			out = append(out, m.Room)
		}
	}
	return out
}

// GroupsOf lists the groups mapped to room.
func (p Params) GroupsOf(room id.RoomID) []string {
	var out []string
	for _, m := range p.Mappings {
		if m.Room == room {
			out = append(out, m.Group)
		}
	}
	return out
}

// Policy is the reconciler's policy for the parameters.
func (p Params) Policy() plan.Policy {
	return plan.Policy{Mappings: p.Mappings, GracePeriod: p.Grace, RemoveAction: p.Remove, Bot: bot, Deactivated: p.Deactivated}
}

func (p Params) String() string {
	d := p.Deactivated
	var lc []string
	if d.AfterGrace {
		lc = append(lc, "removed after the grace period")
	} else {
		lc = append(lc, "removed at once")
	}
	if d.Logout {
		lc = append(lc, "logged out")
	}
	if d.LockAfter != nil {
		lc = append(lc, "locked after "+d.LockAfter.String())
	}
	var maps []string
	for _, m := range p.Mappings {
		maps = append(maps, fmt.Sprintf("%s→%s (%s)", m.Group, m.Room, m.Method))
	}
	var kinds []string
	for _, k := range p.AuthentikKinds {
		kinds = append(kinds, k.String())
	}
	return fmt.Sprintf("%d steps of %s; grace period %s, remove by %s; deactivated users: %s; page size %d; mappings %s; "+
		"Authentik faults: %s; homeserver faults: %s; %.0f%% of cycles killed",
		p.Steps, interval, p.Grace, p.Remove, strings.Join(lc, ", "), p.PageSize, strings.Join(maps, ", "),
		strings.Join(kinds, ", "), p.Homeserver, 100*p.KillRate)
}
