package appservice

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

const testSpace = id.RoomID("!space:example.org")

// spaceEntry is a hierarchy answer as Synapse writes it: the root entry, then one entry per
// child it can show (here: !a is a plain room, !b a space, the others not shown).
func spaceEntry(roomType string, children ...map[string]any) map[string]any {
	return map[string]any{"rooms": []any{
		map[string]any{"room_id": string(testSpace), "room_type": roomType, "num_joined_members": 3, "children_state": children},
		map[string]any{"room_id": "!a:example.org", "num_joined_members": 2, "children_state": []any{}},
		map[string]any{"room_id": "!b:example.org", "room_type": "m.space", "num_joined_members": 2, "children_state": []any{}},
	}}
}

func child(room string, via ...string) map[string]any {
	return map[string]any{"type": "m.space.child", "state_key": room, "sender": "@admin:example.org",
		"origin_server_ts": 1, "content": map[string]any{"via": via}}
}

func TestSpaceChildren(t *testing.T) {
	adminPath := "GET /_synapse/admin/v1/rooms/" + string(testSpace) + "/hierarchy"
	clientPath := "GET /_matrix/client/v1/rooms/" + string(testSpace) + "/hierarchy"
	full := spaceEntry("m.space", child("!a:example.org", "example.org"), child("!gone:example.org"),
		map[string]any{"type": "m.space.parent", "state_key": "!up:example.org", "content": map[string]any{"via": []string{"example.org"}}},
		child("!b:example.org", "example.org", "other.org"), child("!c:example.org", "example.org"))
	wantFull := []plan.SpaceChild{{Room: "!a:example.org", NotSpace: true}, {Room: "!b:example.org"}, {Room: "!c:example.org"}}
	tests := []struct {
		name    string
		setup   func(f *fakeHS)
		want    []plan.SpaceChild
		wantErr string
		routes  []string
	}{
		{
			name:   "the admin API lists children with a via, ignoring removed ones and other events",
			setup:  func(f *fakeHS) { f.reply(adminPath, 200, full) },
			want:   wantFull,
			routes: []string{adminPath, adminPath},
		},
		{
			name: "a bot that is not a server admin falls back to the client API",
			setup: func(f *fakeHS) {
				f.reply(adminPath, 403, matrixError("M_FORBIDDEN", "You are not a server admin"))
				f.reply(clientPath, 200, full)
			},
			want:   wantFull,
			routes: []string{adminPath, clientPath, clientPath},
		},
		{
			name:   "a homeserver without the admin API falls back to the client API",
			setup:  func(f *fakeHS) { f.reply(clientPath, 200, full) },
			want:   wantFull,
			routes: []string{adminPath, clientPath, clientPath},
		},
		{
			name:   "a room that is not a space has no children",
			setup:  func(f *fakeHS) { f.reply(adminPath, 200, spaceEntry("")) },
			want:   nil,
			routes: []string{adminPath, adminPath},
		},
		{
			name:    "no entry for the space is an error, not an empty space",
			setup:   func(f *fakeHS) { f.reply(adminPath, 200, map[string]any{"rooms": []any{}}) },
			wantErr: "returned no entry",
			routes:  []string{adminPath, adminPath},
		},
		{
			name:    "a server error is an error and does not switch routes",
			setup:   func(f *fakeHS) { f.reply(adminPath, 400, matrixError("M_INVALID_PARAM", "bad room ID")) },
			wantErr: "read the children of space",
			routes:  []string{adminPath, adminPath},
		},
		{
			name: "the client API refusing the bot says to invite it",
			setup: func(f *fakeHS) {
				f.reply(clientPath, 403, matrixError("M_FORBIDDEN", "User not in room"))
			},
			wantErr: "invite @sync:example.org to the space",
			routes:  []string{adminPath, clientPath, clientPath},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			tc.setup(f)
			r := newTestMatrix(t, f, true, "").Spaces()
			// Twice: the second read shows whether the route choice is remembered.
			for range 2 {
				got, err := r.SpaceChildren(t.Context(), testSpace)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("children = %v, want %v", got, tc.want)
				}
			}
			if tc.routes != nil {
				if got := f.routesCalled(); !slices.Equal(stripUser(got), tc.routes) {
					t.Errorf("requests = %v, want %v", got, tc.routes)
				}
			}
			if q := f.lastCall(); q.UserID != string(testBot) {
				t.Errorf("read as %q, want the bot", q.UserID)
			}
		})
	}
}

func stripUser(routes []string) []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i], _, _ = strings.Cut(r, "?")
	}
	return out
}

func TestCreateRoom(t *testing.T) {
	const created = id.RoomID("!new:example.org")
	tests := []struct {
		name    string
		room    NewRoom
		setup   func(f *fakeHS)
		want    id.RoomID
		wantErr string
		check   func(t *testing.T, f *fakeHS)
	}{
		{
			name: "created with alias, preset and parent, then listed in the space",
			room: NewRoom{Alias: "#new:example.org", Name: "New", Topic: "T", ParentSpace: testSpace},
			setup: func(f *fakeHS) {
				f.reply("POST /_matrix/client/v3/createRoom", 200, map[string]any{"room_id": created})
				f.reply("PUT /_matrix/client/v3/rooms/"+string(testSpace)+"/state/m.space.child/"+string(created), 200, map[string]any{"event_id": "$e"})
			},
			want: created,
			check: func(t *testing.T, f *fakeHS) {
				f.mu.Lock()
				defer f.mu.Unlock()
				body := f.calls[0].Body
				if body["room_alias_name"] != "new" || body["preset"] != "private_chat" || body["name"] != "New" || body["topic"] != "T" {
					t.Errorf("createRoom body = %v", body)
				}
				state, _ := body["initial_state"].([]any)
				if len(state) != 1 || !strings.Contains(jsonString(state[0]), `"type":"m.space.parent"`) || !strings.Contains(jsonString(state[0]), `"state_key":"`+string(testSpace)) {
					t.Errorf("initial_state = %v, want one m.space.parent naming the space", state)
				}
				if via := jsonString(f.calls[1].Body); via != `{"via":["example.org"]}` {
					t.Errorf("m.space.child content = %s", via)
				}
			},
		},
		{
			name:    "an alias on another server is refused before any request",
			room:    NewRoom{Alias: "#new:other.org"},
			wantErr: "only local aliases",
			check: func(t *testing.T, f *fakeHS) {
				if n := len(f.routesCalled()); n != 0 {
					t.Errorf("%d requests made", n)
				}
			},
		},
		{
			name: "the room is returned when only the space step fails",
			room: NewRoom{Alias: "#new:example.org", ParentSpace: testSpace},
			setup: func(f *fakeHS) {
				f.reply("POST /_matrix/client/v3/createRoom", 200, map[string]any{"room_id": created})
				f.reply("PUT /_matrix/client/v3/rooms/"+string(testSpace)+"/state/m.space.child/"+string(created), 403, matrixError("M_FORBIDDEN", "insufficient power"))
			},
			want:    created,
			wantErr: "power level in the space",
		},
		{
			name: "an alias taken meanwhile",
			room: NewRoom{Alias: "#new:example.org", Preset: "public_chat"},
			setup: func(f *fakeHS) {
				f.reply("POST /_matrix/client/v3/createRoom", 400, matrixError("M_ROOM_IN_USE", "Room alias already taken"))
			},
			wantErr: "alias was taken meanwhile",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			m := newTestMatrix(t, f, true, "")
			got, err := m.CreateRoom(t.Context(), tc.room)
			if got != tc.want {
				t.Errorf("room = %q, want %q", got, tc.want)
			}
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

func TestIsAliasNotFound(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET /_matrix/client/v3/directory/room/#missing:example.org", 404, matrixError("M_NOT_FOUND", "Room alias #missing:example.org not found"))
	f.reply("GET /_matrix/client/v3/directory/room/#broken:example.org", 500, matrixError("M_UNKNOWN", "database unavailable"))
	m := newTestMatrix(t, f, true, "")
	_, err := m.ResolveRoom(t.Context(), "#missing:example.org")
	if !IsAliasNotFound(err) {
		t.Errorf("missing alias: IsAliasNotFound(%v) = false", err)
	}
	_, err = m.ResolveRoom(t.Context(), "#broken:example.org")
	if err == nil || IsAliasNotFound(err) {
		t.Errorf("failing server: IsAliasNotFound(%v) = true", err)
	}
	if IsAliasNotFound(nil) {
		t.Error("IsAliasNotFound(nil) = true")
	}
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
