package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/e2e/harness"
)

// console serialises what the demo and the bot's log summary print, and stamps events with the
// time since the bot started.
type console struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func newConsole(w io.Writer) *console { return &console{w: w, start: time.Now()} }

func (c *console) restartClock() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start = time.Now()
}

// say prints a line as it is.
func (c *console) say(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format+"\n", args...)
}

// event prints a line stamped with the time since the bot started.
func (c *console) event(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%-7s  %s\n", c.stamp(), fmt.Sprintf(format, args...))
}

// block prints a stamped multi-line text, indented under its stamp.
func (c *console) block(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, line := range lines {
		stamp := ""
		if i == 0 {
			stamp = c.stamp()
		}
		fmt.Fprintf(c.w, "%-7s  %s\n", stamp, line)
	}
}

func (c *console) stamp() string {
	return fmt.Sprintf("t+%ds", int(time.Since(c.start).Round(time.Second)/time.Second))
}

// logSummary receives the bot's JSON log and prints the lines a newcomer cares about.
type logSummary struct {
	out     *console
	rooms   map[id.RoomID]string
	partial []byte
}

func newLogSummary(out *console, rooms []createdRoom) *logSummary {
	names := make(map[id.RoomID]string, len(rooms))
	for _, r := range rooms {
		names[r.ID] = r.Name
	}
	return &logSummary{out: out, rooms: names}
}

// Write takes whatever the pipe delivers and handles each complete line.
func (s *logSummary) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		if text, ok := summarize(s.partial[:i], s.rooms); ok {
			s.out.event("bot: %s", text)
		}
		s.partial = s.partial[i+1:]
	}
}

// summarize turns one log line into one short sentence, or says to skip it. Lines that are not
// JSON (the bot's last words when it cannot start) are passed on as they are.
func summarize(line []byte, rooms map[id.RoomID]string) (string, bool) {
	var e map[string]any
	if json.Unmarshal(line, &e) != nil {
		text := strings.TrimSpace(string(line))
		return text, text != ""
	}
	field := func(name string) string { s, _ := e[name].(string); return s }
	var b strings.Builder
	switch field("level") {
	case "debug", "trace":
		return "", false
	case "warn":
		b.WriteString("warning: ")
	case "error", "fatal", "panic":
		b.WriteString("error: ")
	}
	msg := field("message")
	if msg == "Cycle finished" {
		// Every cycle logs this; only cycles that changed something are worth a line.
		done, failed := counts(e["done"]), counts(e["failed"])
		if done == "" && failed == "" {
			return "", false
		}
		b.WriteString("cycle finished")
		if done != "" {
			b.WriteString(", done: " + done)
		}
		if failed != "" {
			b.WriteString(", failed: " + failed)
		}
		return b.String(), true
	}
	b.WriteString(msg)
	if user := field("user"); user != "" {
		b.WriteString(" " + user)
	}
	if room := field("room"); room != "" {
		if name, ok := rooms[id.RoomID(room)]; ok {
			room = name
		}
		b.WriteString(" in " + room)
	}
	if group := field("group"); group != "" {
		b.WriteString(" (group " + group + ")")
	}
	if reason := field("reason"); reason != "" {
		b.WriteString(": " + reason)
	}
	if due, err := time.Parse(time.RFC3339, field("due_at")); err == nil {
		if logged, err := time.Parse(time.RFC3339, field("time")); err == nil {
			b.WriteString(", due in " + due.Sub(logged).String())
		} else {
			b.WriteString(", due at " + due.Format(time.RFC3339))
		}
	}
	if err := field("error"); err != "" {
		b.WriteString(" — " + err)
	}
	return b.String(), true
}

// counts renders a {"invite": 4, "force_join": 3} map as "force_join 3, invite 4".
func counts(v any) string {
	m, _ := v.(map[string]any)
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %v", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// renderTable shows each person's membership in each room, followed by anyone else found in the
// rooms except the hidden users (the admin and the bot).
func renderTable(rooms []string, people []person, states []map[id.UserID]harness.Membership, hidden map[id.UserID]bool) string {
	known := map[id.UserID]bool{}
	for _, p := range people {
		known[p.UserID] = true
	}
	var others []id.UserID
	for _, ms := range states {
		for user := range ms {
			if !known[user] && !hidden[user] && !slices.Contains(others, user) {
				others = append(others, user)
			}
		}
	}
	slices.Sort(others)
	rows := slices.Clone(people)
	for _, user := range others {
		rows = append(rows, person{UserID: user})
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "Authentik user\tMatrix user")
	for _, r := range rooms {
		fmt.Fprint(tw, "\t"+r)
	}
	fmt.Fprintln(tw)
	for _, p := range rows {
		username, user := p.Username, string(p.UserID)
		switch {
		case username == "":
			username = "(not in Authentik)"
		case p.Inactive:
			username += " (inactive)"
		}
		if p.NoAccount {
			user += " (no account)"
		}
		fmt.Fprintf(tw, "%s\t%s", username, user)
		for _, ms := range states {
			m, ok := ms[p.UserID]
			fmt.Fprint(tw, "\t"+cell(p.UserID, m, ok))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush() // writes to a strings.Builder, which cannot fail
	return b.String()
}

func cell(user id.UserID, m harness.Membership, ok bool) string {
	switch {
	case !ok:
		return "-"
	case m.Membership == "join":
		return "joined"
	case m.Membership == "invite":
		return "invited"
	case m.Membership == "ban":
		return "banned"
	case m.Membership == "leave" && m.Sender == user:
		return "left"
	case m.Membership == "leave":
		return "kicked"
	default:
		return m.Membership
	}
}

// printLookAround tells the newcomer what to open, run and change while the demo runs.
func printLookAround(out *console, cfg botConfig, adminID id.UserID, akURL string) {
	admin, _, _ := adminID.Parse()
	members := akURL + "/_fake/groups/" + leaverGroup + "/members"
	out.say(`
Look around while it runs (Ctrl-C stops the bot and Synapse):
  Homeserver      %[1]s  (server name %[2]s; point any Matrix client at it)
  Log in as       %[3]s / %[4]s (created the rooms), or alice, carol.chen, … / %[4]s
  Bot config      .demo/config.yaml   full log: .demo/bot.log   state: .demo/data/
  Next cycle      .demo/authentik-matrix-sync -c .demo/config.yaml plan
  Bot health      curl http://%[5]s/health
  Fake Authentik  %[6]s  (API token %[7]s)
    list users    curl -H 'Authorization: Bearer %[7]s' %[6]s/api/v3/core/users/
    add a member  curl -X POST %[8]s -d '{"add":["%[9]s"]}'
    remove one    curl -X POST %[8]s -d '{"remove":["carol"]}'
  (%[9]s leaves %[10]s by itself after a while, to show the grace period.)
`, cfg.HomeserverURL, cfg.ServerName, admin, password, cfg.HealthListen, akURL, authentikToken, members, leaver, leaverGroup)
}
