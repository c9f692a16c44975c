package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is what a soak run found.
type report struct {
	Started              time.Time
	Seed                 int64
	Users, Rooms         int
	ForceRooms           int
	Interval, Grace      time.Duration
	Setup, Chaos, Settle time.Duration

	Cycles, FailedCycles, BackoffWaits int
	LongestCycle                       time.Duration

	GroupAdds, GroupRemovals int
	AuthentikFaults          map[string]int
	HomeserverFaults         map[string]int
	ProxyHits                int

	Removals          int // kicks by the bot seen in Synapse's room timelines
	WrongfulRemovals  []string
	MissedRemovals    []string
	MissingAdds       []string
	RSSStart, RSSEnd  int64 // bytes
	Warmup            time.Duration
	Memory            memSummary
	MemoryCSV         string
	BotExitedEarly    bool
	BotExitErr        string
	ConvergenceWaited time.Duration
}

// Passed reports whether the run met its bar: nobody removed wrongly, nobody due left in a
// room, the bot alive to the end and its resident memory flat after the warm-up.
func (r *report) Passed() bool {
	return len(r.WrongfulRemovals) == 0 && len(r.MissedRemovals) == 0 && !r.BotExitedEarly && r.Memory.Flat()
}

func (r *report) String() string {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-24s %s\n", label, fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(&b, "Soak report, %s (seed %d)\n", r.Started.UTC().Format(time.RFC3339), r.Seed)
	line("directory", "%d users, %d groups → %d rooms (%d force join, %d invite)", r.Users, r.Rooms, r.Rooms, r.ForceRooms, r.Rooms-r.ForceRooms)
	line("bot settings", "interval %s, grace %s", r.Interval, r.Grace)
	line("time", "setup %s, faults and changes %s, settle %s", r.Setup.Round(time.Second), r.Chaos.Round(time.Second), r.Settle.Round(time.Second))
	line("cycles", "%d (%d not fully successful), %d back-off waits, longest %s", r.Cycles, r.FailedCycles, r.BackoffWaits, r.LongestCycle.Round(time.Millisecond))
	line("group changes", "%d adds, %d removals", r.GroupAdds, r.GroupRemovals)
	line("injected faults", "%d on Authentik, %d on the homeserver (%d requests broken by the proxy)", sum(r.AuthentikFaults), sum(r.HomeserverFaults), r.ProxyHits)
	line("  Authentik", "%s", counts(r.AuthentikFaults))
	line("  homeserver", "%s", counts(r.HomeserverFaults))
	line("removals by the bot", "%d (seen in Synapse's room timelines)", r.Removals)
	line("wrongful removals", "%d (must be 0)%s", len(r.WrongfulRemovals), list(r.WrongfulRemovals))
	line("missed due removals", "%d (must be 0)%s", len(r.MissedRemovals), list(r.MissedRemovals))
	line("members not added", "%d%s", len(r.MissingAdds), list(r.MissingAdds))
	line("bot RSS", "%.1f MiB at start, %.1f MiB at end", mib(r.RSSStart), mib(r.RSSEnd))
	if m := r.Memory; m.Samples > 0 {
		line("RSS after warm-up", "%d samples over %s, from %s into the faults: first %.1f, min %.1f, max %.1f, last %.1f MiB; spread %.1f%% (must be under %.0f%%)",
			m.Samples, m.LastAt.Sub(m.FirstAt).Round(time.Second), r.Warmup, mib(m.First), mib(m.Min), mib(m.Max), mib(m.Last), 100*m.Spread(), 100*flatWithin)
		line("  allocated (anon)", "%.1f MiB first, %.1f MiB last", mib(m.AnonFirst), mib(m.AnonLast))
		if m.HeapMin >= 0 {
			line("  Go heap in use", "%.1f–%.1f MiB", mib(m.HeapMin), mib(m.HeapMax))
		}
		if r.MemoryCSV != "" {
			line("  samples", "%s", r.MemoryCSV)
		}
	}
	if r.BotExitedEarly {
		line("bot", "EXITED before the end: %s", r.BotExitErr)
	}
	result := "PASS"
	if !r.Passed() {
		result = "FAIL"
	}
	line("result", "%s", result)
	return b.String()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// list shows the first few offenders of a count that should be zero.
func list(items []string) string {
	if len(items) == 0 {
		return ""
	}
	const show = 5
	more := ""
	if len(items) > show {
		more = fmt.Sprintf(", … %d more", len(items)-show)
		items = items[:show]
	}
	return ": " + strings.Join(items, ", ") + more
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
