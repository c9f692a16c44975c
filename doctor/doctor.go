// Package doctor checks, without changing anything, whether the bot can work with the servers
// and the configuration it was given: Authentik reachable, of a supported version and readable
// with the token; every mapped group there; the homeserver reachable and the bot's identity
// accepted; every mapped room readable with enough power for what its mappings need. Each check
// gives one line that passes or fails, and a failing line says how to fix it.
//
// The checks talk to the outside world only through the small interfaces declared here, so they
// are table-tested with fakes; cmd wires the real Authentik client and homeserver in.
package doctor

import (
	"context"
	"fmt"
	"strings"
)

// Outcome is how one check ended.
type Outcome int

const (
	Pass Outcome = iota
	Fail
	// Skipped means the check could not run because one it depends on failed; it does not pass.
	Skipped
	// Warn means the check found something likely wrong that does not stop the bot; the run
	// still passes.
	Warn
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	case Warn:
		return "WARN"
	default:
		return "SKIP"
	}
}

// Result is one check's line.
type Result struct {
	Check   string // what was checked, e.g. `Authentik group "staff"`
	Outcome Outcome
	Detail  string // what was found
	Hint    string // how to fix it; empty when it passed
}

// Report is every check's result, in the order they ran.
type Report struct {
	Results []Result
}

// OK is true when every check passed (a warning passes).
func (r Report) OK() bool {
	return len(r.Results) > 0 && r.Failed() == 0
}

// Failed counts the checks that did not pass.
func (r Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome != Pass && res.Outcome != Warn {
			n++
		}
	}
	return n
}

// Warnings counts the checks that passed with a warning.
func (r Report) Warnings() int {
	n := 0
	for _, res := range r.Results {
		if res.Outcome == Warn {
			n++
		}
	}
	return n
}

// Lines renders the report as text: one line a check, a "fix:" line under each one that did not
// pass, and a summary.
func (r Report) Lines() []string {
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.Check))
	}
	var out []string
	for _, res := range r.Results {
		line := fmt.Sprintf("%s  %-*s  %s", res.Outcome, width, res.Check, res.Detail)
		out = append(out, strings.TrimRight(line, " "))
		if res.Outcome != Pass && res.Hint != "" {
			out = append(out, "      fix: "+res.Hint)
		}
	}
	return append(out, r.Summary())
}

// Summary is the report's last line.
func (r Report) Summary() string {
	if r.OK() {
		if w := r.Warnings(); w > 0 {
			return fmt.Sprintf("All %d checks passed, %d with a warning.", len(r.Results), w)
		}
		return fmt.Sprintf("All %d checks passed.", len(r.Results))
	}
	return fmt.Sprintf("%d of %d checks did not pass.", r.Failed(), len(r.Results))
}

// String is Lines joined by newlines.
func (r Report) String() string { return strings.Join(r.Lines(), "\n") }

// Need is what the mappings ask of one room.
type Need struct {
	// Room is the room ID or alias as configured.
	Room string
	// Groups are the Authentik groups mapped to the room, for the report.
	Groups []string
	// Kick and Ban say how the sync removes users from the room, its mappings combined as the
	// sync combines them (sync.RoomRemoval): at most one is set, neither when a mapping of the
	// room is invite-only. Unbanning needs the ban level too.
	Kick bool
	Ban  bool
	// PowerLevel is the highest power level a mapping grants in the room; 0 grants none.
	PowerLevel int
	// CreatedOnStart: the room may not exist yet, the bot creates it (create_if_missing).
	CreatedOnStart bool
}

// Input is what Run checks.
type Input struct {
	Authentik  Authentik
	Homeserver Homeserver
	// AuthentikURL and HomeserverURL are shown in the report (no secrets in them).
	AuthentikURL  string
	HomeserverURL string
	// Groups are the mapped Authentik groups, each once, in the configuration's order.
	Groups []string
	Rooms  []Need
	// MAS adds the Matrix Authentication Service checks; nil when Synapse keeps the accounts.
	MAS *MASInput
	// DirectorySCIM is directory.source scim: members come from SCIM, subgroups from Authentik's
	// group tree, which must then be readable.
	DirectorySCIM bool
	// Users gives the mapped Matrix IDs; nil skips their check. ServerName is the homeserver's
	// domain they should be on.
	Users      MappedUsers
	ServerName string
}

// Run runs every check. It stops at nothing: a failed check makes the ones that depend on it
// Skipped, and the others still run, so one run shows every problem at once.
func Run(ctx context.Context, in Input) Report {
	var r Report
	r.Results = append(r.Results, checkAuthentik(ctx, in)...)
	r.Results = append(r.Results, checkSCIMTree(in, r.Results)...)
	r.Results = append(r.Results, checkHomeserver(ctx, in)...)
	r.Results = append(r.Results, checkMappedUsers(ctx, in)...)
	r.Results = append(r.Results, checkMAS(ctx, in.MAS)...)
	return r
}
