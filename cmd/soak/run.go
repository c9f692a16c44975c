package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/e2e/faultproxy"
	"authentik-matrix-sync/e2e/harness"
)

// run sets the world up, lets the bot converge, then changes groups and injects faults for
// o.Duration, clears every fault, lets the bot settle and judges what it did.
func run(ctx context.Context, o options) (*report, error) {
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Printf("[%s] %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
	}
	rep := &report{Started: start, Seed: o.Seed, Users: o.Users, Rooms: o.Rooms, Interval: o.Interval, Grace: o.Grace,
		AuthentikFaults: map[string]int{}, HomeserverFaults: map[string]int{}}
	w, err := setup(ctx, o, logf)
	if w != nil {
		// A failed run keeps its logs and data for a look.
		defer func() {
			keep := o.Keep || err != nil || !rep.Passed()
			if keep {
				fmt.Printf("working directory kept: %s (bot.log, synapse/, data/)\n", w.work)
			}
			w.close(keep)
		}()
	}
	if err != nil {
		return nil, err
	}
	if o.Keep {
		logf("working directory: %s", w.work)
	}
	rep.ForceRooms = w.force
	rng := rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed>>1)))
	// A cycle counts its grace period from its start, a moment before it reads the groups.
	or := newOracle(o.Grace, 5*time.Second)

	// Each user in one group, one in five in a second one.
	now := time.Now()
	for _, u := range w.users {
		for _, g := range pickGroups(rng, w.groups) {
			or.Add(g, u, now)
			w.ak.AddMembers(g, u)
		}
	}
	if err := w.startBot(o); err != nil {
		return nil, err
	}
	memFile, err := os.Create(o.MemoryCSV)
	if err != nil {
		return nil, fmt.Errorf("memory samples: %w", err)
	}
	defer memFile.Close()
	mem := &memSampler{}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { mem.run(sampleCtx, w, o.Sample, memFile); close(sampled) }()
	defer func() { stopSampling(); <-sampled }()
	logf("bot started; waiting for the rooms to fill")
	if err := waitConverged(ctx, w, or, 15*time.Minute); err != nil {
		return nil, fmt.Errorf("initial convergence: %w", err)
	}
	rep.Setup = time.Since(start)
	rep.RSSStart = w.rss()
	logf("rooms full; bot RSS %.1f MiB; faults and changes for %s", mib(rep.RSSStart), o.Duration)

	c := &chaos{w: w, o: o, rng: rng, or: or, rep: rep, logf: logf, pkGroup: map[string]string{}}
	for _, g := range w.groups {
		grp, _ := w.ak.Group(g)
		c.pkGroup[grp.PK] = g
	}
	if c.events, err = os.Create(filepath.Join(w.work, "events.log")); err != nil {
		return rep, err
	}
	defer c.events.Close()
	chaosStart := time.Now()
	err = c.run(ctx, o.Duration)
	c.endAll(ctx)
	rep.Chaos = time.Since(chaosStart)
	chaosEnd := time.Now()
	if err != nil {
		return rep, err
	}

	// Everything that was due by the end of the faults must be done once the grace period,
	// the longest back-off and a few cycles have passed.
	settle := o.Grace + o.Backoff + 4*o.Interval + 20*time.Second
	logf("faults cleared; settling for %s", settle)
	sleepCtx(ctx, settle)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		rep.MissedRemovals, rep.MissingAdds, err = check(ctx, w, or, chaosEnd)
		if err != nil {
			return rep, err
		}
		if len(rep.MissedRemovals)+len(rep.MissingAdds) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 5*time.Second)
	}
	rep.Settle = time.Since(chaosEnd)
	rep.RSSEnd = w.rss()
	if s, ok := w.memory(ctx); ok {
		mem.mu.Lock()
		mem.samples = append(mem.samples, s)
		mem.mu.Unlock()
	}
	rep.Warmup, rep.MemoryCSV = o.Warmup, o.MemoryCSV
	rep.Memory = summarize(mem.all(), chaosStart.Add(o.Warmup))
	if !w.botRunning() {
		rep.BotExitedEarly = true
		rep.BotExitErr = fmt.Sprint(w.botExitErr)
	}
	w.stopBot()
	readBotLog(w.botLog, rep)
	rep.Removals, rep.WrongfulRemovals, err = judgeRemovals(ctx, w, or, c.readsByGroup())
	for _, r := range w.proxy.Requests() {
		if r.Rule != 0 {
			rep.ProxyHits++
		}
	}
	return rep, err
}

// pickGroups gives a user one random group, and a second one one time in five.
func pickGroups(rng *rand.Rand, groups []string) []string {
	first := groups[rng.IntN(len(groups))]
	if rng.IntN(5) != 0 {
		return []string{first}
	}
	second := groups[rng.IntN(len(groups))]
	if second == first {
		return []string{first}
	}
	return []string{first, second}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// waitConverged waits until every group member is in their room (joined in force rooms).
func waitConverged(ctx context.Context, w *world, or *oracle, timeout time.Duration) error {
	last := -1
	return harness.WaitFor(ctx, timeout, func() (bool, error) {
		if !w.botRunning() {
			return false, fmt.Errorf("the bot exited: %v", w.botExitErr)
		}
		_, missing, err := check(ctx, w, or, time.Time{})
		if err != nil {
			return false, err
		}
		if len(missing) != last && len(missing) > 0 {
			fmt.Printf("  %d memberships still missing\n", len(missing))
			last = len(missing)
		}
		return len(missing) == 0, fmt.Errorf("%d memberships missing, e.g. %v", len(missing), first(missing))
	})
}

func first(s []string) []string { return s[:min(len(s), 3)] }

// check compares Synapse's rooms with the oracle: removals due by cutoff that were not made,
// and group members not in their room. A zero cutoff checks only the members.
func check(ctx context.Context, w *world, or *oracle, cutoff time.Time) (missed, missing []string, err error) {
	now := time.Now()
	for i, g := range w.groups {
		ms, err := w.hs.Memberships(ctx, w.rooms[i])
		if err != nil {
			return nil, nil, err
		}
		force := i < w.force
		for _, u := range or.Members(g) {
			m := ms[id.NewUserID(u, serverName)].Membership
			if m != "join" && (force || m != "invite") {
				missing = append(missing, fmt.Sprintf("%s in %s is %q", u, g, m))
			}
		}
		if cutoff.IsZero() {
			continue
		}
		settle := max(0, now.Sub(cutoff)-or.grace)
		for _, k := range or.Due(now, settle) {
			if k.Group != g {
				continue
			}
			if m := ms[id.NewUserID(k.User, serverName)].Membership; m == "join" || m == "invite" {
				missed = append(missed, fmt.Sprintf("%s still %s in %s", k.User, m, g))
			}
		}
	}
	return missed, missing, nil
}

// judgeRemovals finds every removal the bot made in Synapse's timelines and asks the oracle
// whether it was right, given when the bot read each group.
func judgeRemovals(ctx context.Context, w *world, or *oracle, reads map[string][]time.Time) (int, []string, error) {
	n := 0
	var wrongful []string
	for i, g := range w.groups {
		evs, err := w.memberEvents(ctx, w.rooms[i])
		if err != nil {
			return n, wrongful, err
		}
		for _, ev := range evs {
			if ev.Sender != w.bot.ID || ev.StateKey == string(w.bot.ID) ||
				(ev.Content.Membership != "leave" && ev.Content.Membership != "ban") {
				continue
			}
			n++
			user, _, _ := id.UserID(ev.StateKey).ParseAndDecode()
			if !or.Justified(g, user, ev.At, reads[g]) {
				wrongful = append(wrongful, fmt.Sprintf("%s from %s at %s (%s)", user, g, ev.At.UTC().Format("15:04:05.000"),
					or.describe(g, user, ev.At, reads[g])))
			}
		}
	}
	return n, wrongful, nil
}

// readBotLog counts cycles, their failures and back-off waits, and the longest cycle.
func readBotLog(path string, rep *report) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Level    string  `json:"level"`
			Message  string  `json:"message"`
			Duration float64 `json:"duration_seconds"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Message == "Cycle finished":
			rep.Cycles++
			if line.Level != "info" {
				rep.FailedCycles++
			}
			if d := time.Duration(line.Duration * float64(time.Second)); d > rep.LongestCycle {
				rep.LongestCycle = d
			}
		case strings.Contains(line.Message, "backing off"):
			rep.BackoffWaits++
		}
	}
}

// chaos changes groups and injects faults on a schedule: at most one Authentik fault and one
// homeserver fault at a time, each lasting 5 to 25 seconds.
type chaos struct {
	w    *world
	o    options
	rng  *rand.Rand
	or   *oracle
	rep  *report
	logf func(string, ...any)

	akFault, hsFault      string
	akUntil, hsUntil      time.Time
	vanished              string // a group deleted by the "group vanished" fault
	rule                  faultproxy.RuleID
	lostRoom, loweredRoom id.RoomID
	readds                []readd
	stateTimeouts         int

	// events is the run's journal (events.log in the working directory), for a look after a
	// failed run.
	events *os.File

	// pkGroup names each group's primary key, old ones (before a group vanished) included.
	pkGroup map[string]string
}

// readd puts a user back in a group shortly after taking them out, before or after their
// removal is due.
type readd struct {
	at          time.Time
	group, user string
}

func (c *chaos) run(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLog := time.Now()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if !c.w.botRunning() {
			return fmt.Errorf("the bot exited during the soak: %v", c.w.botExitErr)
		}
		now := time.Now()
		c.changeGroups(now)
		if c.akFault != "" && now.After(c.akUntil) {
			c.endAuthentikFault()
		}
		if c.hsFault != "" && now.After(c.hsUntil) {
			c.endHomeserverFault(ctx)
		}
		if c.akFault == "" && c.rng.IntN(12) == 0 {
			c.startAuthentikFault(now)
		}
		if c.hsFault == "" && c.rng.IntN(12) == 0 {
			c.startHomeserverFault(ctx, now)
		}
		if now.Sub(lastLog) > time.Minute {
			lastLog = now
			c.logf("%d adds, %d removals, %d + %d faults so far", c.rep.GroupAdds, c.rep.GroupRemovals,
				sum(c.rep.AuthentikFaults), sum(c.rep.HomeserverFaults))
		}
	}
	return nil
}

func (c *chaos) changeGroups(now time.Time) {
	kept := c.readds[:0]
	for _, r := range c.readds {
		if now.After(r.at) && r.group != c.vanished {
			c.add(r.group, r.user, now)
		} else {
			kept = append(kept, r)
		}
	}
	c.readds = kept
	for range c.rng.IntN(3) {
		g := c.w.groups[c.rng.IntN(len(c.w.groups))]
		if g == c.vanished {
			continue
		}
		members := c.or.Members(g)
		if c.rng.IntN(2) == 0 && len(members) > 0 {
			u := members[c.rng.IntN(len(members))]
			c.or.Remove(g, u, now)
			c.note("remove %s %s", g, u)
			c.w.ak.RemoveMembers(g, u)
			c.rep.GroupRemovals++
			if c.rng.IntN(4) == 0 { // back within or just after the grace period
				back := time.Duration(c.rng.Int64N(int64(c.o.Grace * 3 / 2)))
				c.readds = append(c.readds, readd{at: now.Add(back), group: g, user: u})
			}
			continue
		}
		c.add(g, c.w.users[c.rng.IntN(len(c.w.users))], now)
	}
}

func (c *chaos) add(g, u string, now time.Time) {
	if c.or.In(g, u) {
		return
	}
	c.or.Add(g, u, now)
	c.note("add %s %s", g, u)
	c.w.ak.AddMembers(g, u)
	c.rep.GroupAdds++
}

var authentikFaults = []string{"unreachable", "500", "503", "token revoked", "timeout", "truncated body",
	"malformed JSON", "page 2 fails", "group vanished"}

func (c *chaos) startAuthentikFault(now time.Time) {
	kind := authentikFaults[c.rng.IntN(len(authentikFaults))]
	ak := c.w.ak
	switch kind {
	case "unreachable":
		ak.InjectFault(authentiktest.Unreachable())
	case "500":
		ak.InjectFault(authentiktest.Failing(500))
	case "503":
		ak.InjectFault(authentiktest.Failing(503))
	case "token revoked":
		ak.InjectFault(authentiktest.TokenRevoked())
	case "timeout":
		ak.InjectFault(authentiktest.Hanging(5 * time.Second)) // the bot gives up after 3 s
	case "truncated body":
		ak.InjectFault(authentiktest.TruncatedBodies())
	case "malformed JSON":
		ak.InjectFault(authentiktest.MalformedJSON())
	case "page 2 fails":
		g, _ := ak.Group(c.w.groups[c.rng.IntN(len(c.w.groups))])
		// One group's members, whichever way the bot reads them: alone, or on page 2 of the
		// listing of groups with their members (which then fails for every group).
		for _, f := range authentiktest.MemberReadFails(g.PK, 500, "") {
			ak.InjectFault(f)
		}
		ak.InjectFault(authentiktest.Fault{PathPrefix: "/api/v3/core/groups/", QueryContains: "include_users=true",
			Page: 2, Times: authentiktest.Forever, Status: 500})
	case "group vanished":
		c.vanished = c.w.groups[c.rng.IntN(len(c.w.groups))]
		ak.DeleteGroup(c.vanished)
	}
	c.akFault, c.akUntil = kind, now.Add(5*time.Second+time.Duration(c.rng.Int64N(int64(20*time.Second))))
	c.rep.AuthentikFaults[kind]++
	c.note("authentik fault %s until %s", kind, c.akUntil.UTC().Format("15:04:05.000"))
}

func (c *chaos) endAuthentikFault() {
	c.w.ak.ClearFaults()
	if c.vanished != "" {
		grp := c.w.ak.AddGroup(c.vanished, "")
		c.pkGroup[grp.PK] = c.vanished
		if members := c.or.Members(c.vanished); len(members) > 0 {
			c.w.ak.AddMembers(c.vanished, members...)
		}
		c.vanished = ""
	}
	c.akFault = ""
}

var homeserverFaults = []string{"kick 500", "invite 502", "join 503", "429 on writes", "state dropped",
	"state truncated", "state timeout", "bot kicked from a room", "bot power lowered"}

func (c *chaos) startHomeserverFault(ctx context.Context, now time.Time) {
	kind := homeserverFaults[c.rng.IntN(len(homeserverFaults))]
	p := c.w.proxy
	room := c.w.rooms[c.rng.IntN(len(c.w.rooms))]
	switch kind {
	case "kick 500":
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodPost, Path: "rooms/{room}/kick", Status: 500})
	case "invite 502":
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodPost, Path: "rooms/{room}/invite", Status: 502})
	case "join 503":
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodPost, Path: "rooms/{room}/join", Status: 503})
	case "429 on writes":
		c.rule = p.Add(faultproxy.RateLimited(kind, http.MethodPost, "/_matrix/client/v3/rooms/...", time.Second, 0))
	case "state dropped":
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodGet, Path: "rooms/{room}/state", Drop: true})
	case "state truncated":
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodGet, Path: "rooms/{room}/state", Truncate: true})
	case "state timeout":
		if c.stateTimeouts >= 2 { // each costs a 30 s stall: a couple per run is enough
			return
		}
		c.stateTimeouts++
		c.rule = p.Add(faultproxy.Rule{Name: kind, Method: http.MethodGet, Path: "/_matrix/client/v3/rooms/" + string(room) + "/state",
			Delay: 35 * time.Second, Times: 1})
	case "bot kicked from a room":
		if err := c.w.hs.Kick(ctx, c.w.owner, room, c.w.bot.ID); err != nil {
			c.logf("could not kick the bot from %s (%v); skipping that fault", room, err)
			return
		}
		c.lostRoom = room
	case "bot power lowered":
		if err := c.w.hs.SetPowerLevel(ctx, c.w.owner, room, c.w.bot.ID, 0); err != nil {
			c.logf("could not lower the bot's power in %s (%v); skipping that fault", room, err)
			return
		}
		c.loweredRoom = room
	}
	c.hsFault, c.hsUntil = kind, now.Add(5*time.Second+time.Duration(c.rng.Int64N(int64(20*time.Second))))
	c.rep.HomeserverFaults[kind]++
	c.note("homeserver fault %s in %s until %s", kind, room, c.hsUntil.UTC().Format("15:04:05.000"))
}

func (c *chaos) endHomeserverFault(ctx context.Context) {
	if c.rule != 0 {
		c.w.proxy.Remove(c.rule)
		c.rule = 0
	}
	if c.lostRoom != "" {
		err := errors.Join(c.w.hs.Invite(ctx, c.w.owner, c.lostRoom, c.w.bot.ID), c.w.hs.Join(ctx, c.w.bot, c.lostRoom))
		if err != nil {
			c.logf("could not bring the bot back into %s: %v", c.lostRoom, err)
		}
		c.lostRoom = ""
	}
	if c.loweredRoom != "" {
		if err := c.w.hs.SetPowerLevel(ctx, c.w.owner, c.loweredRoom, c.w.bot.ID, 100); err != nil {
			c.logf("could not restore the bot's power in %s: %v", c.loweredRoom, err)
		}
		c.loweredRoom = ""
	}
	c.hsFault = ""
}

// endAll clears every fault and applies the pending re-adds, so the world is calm to settle.
func (c *chaos) endAll(ctx context.Context) {
	if c.akFault != "" {
		c.endAuthentikFault()
	}
	if c.hsFault != "" {
		c.endHomeserverFault(ctx)
	}
	now := time.Now()
	for _, r := range c.readds {
		c.add(r.group, r.user, now)
	}
	c.readds = nil
}

// readsByGroup lists, per group, the times the bot completed a read of the group's members.
func (c *chaos) readsByGroup() map[string][]time.Time {
	c.w.readMu.Lock()
	reads := slices.Clone(c.w.reads)
	c.w.readMu.Unlock()
	out := map[string][]time.Time{}
	for _, r := range reads {
		if g, ok := c.pkGroup[r.PK]; ok {
			out[g] = append(out[g], r.At)
		}
	}
	for g := range out {
		slices.SortFunc(out[g], func(a, b time.Time) int { return a.Compare(b) })
	}
	return out
}

// note writes a line to the journal.
func (c *chaos) note(format string, args ...any) {
	if c.events != nil {
		fmt.Fprintf(c.events, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}
