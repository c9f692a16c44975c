package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// TestWarningLinesCarryOnlyTheFieldsTheyHave: a warning about a whole room has no user field, one
// about a user in a room has both; no warning line carries an empty room or user.
func TestWarningLinesCarryOnlyTheFieldsTheyHave(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(w *fakeWorld)
		message  string
		wantRoom id.RoomID
		wantUser id.UserID
	}{
		{name: "a room whose state is unreadable", message: "room state unreadable",
			setup:    func(w *fakeWorld) { w.roomErr[roomA] = errors.New("forbidden") },
			wantRoom: roomA},
		{name: "a group whose members are unknown", message: "unknown this cycle: no removals in this room",
			setup:    func(w *fakeWorld) { w.groupErr["staff"] = errors.New("authentik answered 500") },
			wantRoom: roomA},
		{name: "a user banned by someone else", message: "not added: banned by",
			setup: func(w *fakeWorld) {
				w.rooms[roomA][alice] = plan.RoomMember{Membership: plan.MembershipBan, Sender: carol, Since: earlier}
			},
			wantRoom: roomA, wantUser: alice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newFakeWorld()
			w.groups["staff"] = []id.UserID{alice}
			tc.setup(w)
			var buf bytes.Buffer
			r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Interval: time.Minute,
				Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite}),
				Now:    func() time.Time { return w.now }, Log: zerolog.New(&buf)})
			w.cycle(t, r)
			found := false
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var fields map[string]any
				if err := json.Unmarshal([]byte(line), &fields); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				for _, key := range []string{"room", "user"} {
					if v, ok := fields[key]; ok && v == "" {
						t.Errorf("line has an empty %s field: %s", key, line)
					}
				}
				if msg, _ := fields["message"].(string); fields["level"] != "warn" || !strings.Contains(msg, tc.message) {
					continue
				}
				found = true
				room, _ := fields["room"].(string)
				user, _ := fields["user"].(string)
				if id.RoomID(room) != tc.wantRoom || id.UserID(user) != tc.wantUser {
					t.Errorf("room %q and user %q, want %q and %q: %s", room, user, tc.wantRoom, tc.wantUser, line)
				}
				if _, ok := fields["user"]; tc.wantUser == "" && ok {
					t.Errorf("a warning about the whole room has a user field: %s", line)
				}
			}
			if !found {
				t.Errorf("no warning line says %q:\n%s", tc.message, buf.String())
			}
		})
	}
}
