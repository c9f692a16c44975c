package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"maunium.net/go/mautrix/id"
)

// fakeHomeserver answers the few client-server and admin endpoints the bot uses, for rooms held
// in memory, and counts the requests by route. It renders a room's /state once per change, so
// serving 500 rooms of 500 members costs the benchmark little besides the bot's own work.
type fakeHomeserver struct {
	srv   *httptest.Server
	bot   id.UserID
	owner id.UserID

	mu       sync.Mutex
	rooms    map[id.RoomID]map[id.UserID]string
	rendered map[id.RoomID][]byte
	requests map[string]int
	writes   int
}

func newFakeHomeserver(tb testing.TB, bot id.UserID) *fakeHomeserver {
	f := &fakeHomeserver{bot: bot, owner: "@owner:example.org", rooms: map[id.RoomID]map[id.UserID]string{},
		rendered: map[id.RoomID][]byte{}, requests: map[string]int{}}
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			f.requests[pattern]++
			f.mu.Unlock()
			h(w, r)
		})
	}
	route("GET /_matrix/client/v3/account/whoami", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user_id")
		if user == "" {
			user = string(f.bot)
		}
		writeJSON(w, 200, map[string]any{"user_id": user})
	})
	route("POST /_matrix/client/v3/register", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 400, map[string]any{"errcode": "M_USER_IN_USE", "error": "User ID already taken."})
	})
	route("POST /_matrix/client/v1/appservice/{id}/ping", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"duration_ms": 1})
	})
	route("GET /_synapse/admin/v2/users/{user}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"name": r.PathValue("user"), "admin": false, "deactivated": false})
	})
	route(stateRoute, f.state)
	for _, action := range []string{"invite", "kick", "ban", "unban"} {
		route("POST /_matrix/client/v3/rooms/{room}/"+action, f.membership(action))
	}
	route("POST /_matrix/client/v3/join/{room}", f.join)
	route("POST /_matrix/client/v3/rooms/{room}/join", f.join)
	route("POST /_synapse/admin/v1/join/{room}", f.adminJoin)
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

// stateRoute is the route of a room's full state, the read a cycle makes per room.
const stateRoute = "GET /_matrix/client/v3/rooms/{room}/state"

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// addRoom creates a room where the bot has power level 100 and members are joined.
func (f *fakeHomeserver) addRoom(room id.RoomID, members []id.UserID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms := map[id.UserID]string{f.bot: "join", f.owner: "join"}
	for _, u := range members {
		ms[u] = "join"
	}
	f.rooms[room] = ms
	delete(f.rendered, room)
}

func (f *fakeHomeserver) state(w http.ResponseWriter, r *http.Request) {
	room := id.RoomID(r.PathValue("room"))
	f.mu.Lock()
	body, ok := f.rendered[room]
	if !ok {
		ms, known := f.rooms[room]
		if !known {
			f.mu.Unlock()
			writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "You are not in this room."})
			return
		}
		body = renderState(room, f.owner, f.bot, ms)
		f.rendered[room] = body
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func renderState(room id.RoomID, owner, bot id.UserID, ms map[id.UserID]string) []byte {
	type ev struct {
		Type     string    `json:"type"`
		StateKey string    `json:"state_key"`
		Sender   id.UserID `json:"sender"`
		RoomID   id.RoomID `json:"room_id"`
		EventID  string    `json:"event_id"`
		TS       int64     `json:"origin_server_ts"`
		Content  any       `json:"content"`
	}
	events := []ev{
		{Type: "m.room.create", Sender: owner, Content: map[string]any{"room_version": "10", "creator": owner}},
		{Type: "m.room.power_levels", Sender: owner, Content: map[string]any{
			"users": map[id.UserID]int{owner: 100, bot: 100}, "invite": 0, "kick": 50, "ban": 50}},
	}
	users := make([]id.UserID, 0, len(ms))
	for u := range ms {
		users = append(users, u)
	}
	slices.Sort(users)
	for i, u := range users {
		sender := u
		if ms[u] != "join" && ms[u] != "leave" {
			sender = bot
		}
		events = append(events, ev{Type: "m.room.member", StateKey: string(u), Sender: sender,
			Content: map[string]any{"membership": ms[u]}, TS: int64(1_700_000_000_000 + i)})
	}
	for i := range events {
		events[i].RoomID, events[i].EventID = room, fmt.Sprintf("$%s-%d", room, i)
	}
	b, _ := json.Marshal(events)
	return b
}

func (f *fakeHomeserver) setMembership(room id.RoomID, user id.UserID, membership string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ms, ok := f.rooms[room]
	if !ok {
		return false
	}
	ms[user] = membership
	delete(f.rendered, room)
	f.writes++
	return true
}

func (f *fakeHomeserver) membership(action string) http.HandlerFunc {
	result := map[string]string{"invite": "invite", "kick": "leave", "ban": "ban", "unban": "leave"}[action]
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			UserID id.UserID `json:"user_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if !f.setMembership(id.RoomID(r.PathValue("room")), body.UserID, result) {
			writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "You are not in this room."})
			return
		}
		writeJSON(w, 200, map[string]any{})
	}
}

func (f *fakeHomeserver) join(w http.ResponseWriter, r *http.Request) {
	room := id.RoomID(r.PathValue("room"))
	user := id.UserID(r.URL.Query().Get("user_id"))
	if user == "" {
		user = f.bot
	}
	if !f.setMembership(room, user, "join") {
		writeJSON(w, 403, map[string]any{"errcode": "M_FORBIDDEN", "error": "You are not invited to this room."})
		return
	}
	writeJSON(w, 200, map[string]any{"room_id": room})
}

func (f *fakeHomeserver) adminJoin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		UserID id.UserID `json:"user_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&body)
	room := id.RoomID(r.PathValue("room"))
	if !f.setMembership(room, body.UserID, "join") {
		writeJSON(w, 404, map[string]any{"errcode": "M_NOT_FOUND", "error": "Room not found"})
		return
	}
	writeJSON(w, 200, map[string]any{"room_id": room})
}

// counts returns the requests by route and the writes since the last reset, and resets them.
func (f *fakeHomeserver) counts() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req, writes := f.requests, f.writes
	f.requests, f.writes = map[string]int{}, 0
	return req, writes
}
