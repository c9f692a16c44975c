package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"authentik-matrix-sync/e2e/harness"
)

// TestDebugLogIsWellFormed reads the whole debug log of an appservice-mode bot whose mappings
// name a room it is not in and a group Authentik lacks: every line is a JSON object with each key
// once, no empty room or user, durations in keys that say their unit, and each request to the
// homeserver logged once, by the bot's own transport rather than also by the Matrix client.
func TestDebugLogIsWellFormed(t *testing.T) {
	ctx := context.Background()
	room := newRoom(t, true, "logs")
	outside, err := env.hs.CreateRoom(ctx, env.users["owner"], harness.RoomOptions{Name: "logs, bot not invited"})
	if err != nil {
		t.Fatal(err)
	}
	ak := directory(t, "staff", "alice")
	b := startBot(t, ak, botConfig{appservice: true, grace: time.Hour, mappings: []mapping{
		{Group: "staff", Room: room}, {Group: "staff", Room: outside}, {Group: "absent", Room: room}}}, "")
	b.waitCycles(2)
	waitMembership(t, room, uid("alice"), "invite")
	b.stop()

	f, err := os.Open(b.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unitless := map[string]bool{"duration": true, "took": true, "next_in": true, "retry_in": true, "waited": true, "settle": true, "takeover_delay": true}
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields, keys, ok := decodeLogLine(line)
		if !ok {
			t.Errorf("not a JSON object: %s", line)
			continue
		}
		counted := map[string]int{}
		for _, k := range keys {
			if counted[k]++; counted[k] == 2 {
				t.Errorf("key %q appears more than once: %s", k, line)
			}
			if unitless[k] {
				t.Errorf("field %q has no unit in its name: %s", k, line)
			}
		}
		for _, k := range []string{"room", "user"} {
			if v, ok := fields[k]; ok && v == "" {
				t.Errorf("empty %s field: %s", k, line)
			}
		}
		msg, _ := fields["message"].(string)
		switch {
		case strings.HasPrefix(msg, "Request ") && fields["url"] != nil:
			t.Errorf("the Matrix client logs the request again: %s", line)
		case msg == "Upstream request":
			seen["request to "+fields["service"].(string)]++
		case msg == "Cycle finished":
			if _, ok := fields["duration_seconds"].(float64); !ok {
				t.Errorf("cycle line without duration_seconds: %s", line)
			}
			seen["cycle"]++
		case msg == "Listening for the homeserver":
			if fields["component"] != "appservice-server" {
				t.Errorf("component %v: %s", fields["component"], line)
			}
			seen["listener"]++
		case strings.Contains(msg, "room state unreadable") && fields["room"] == string(outside):
			if _, ok := fields["user"]; ok {
				t.Errorf("a warning about a whole room names a user: %s", line)
			}
			seen["room warning"]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"request to homeserver", "request to authentik", "cycle", "listener", "room warning"} {
		if seen[want] == 0 {
			t.Errorf("no %s line in the log (seen: %v)", want, seen)
		}
	}
}

// decodeLogLine returns a JSON log line's fields and its keys in order, duplicates kept.
func decodeLogLine(line string) (map[string]any, []string, bool) {
	var fields map[string]any
	if json.Unmarshal([]byte(line), &fields) != nil {
		return nil, nil, false
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, nil, false
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, nil, false
		}
		keys = append(keys, tok.(string))
	}
	return fields, keys, true
}
