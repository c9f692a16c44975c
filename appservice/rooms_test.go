package appservice

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
)

const (
	alice = id.UserID("@alice:example.org")
	bob   = id.UserID("@bob:example.org")
	carol = id.UserID("@carol:example.org")
	room  = id.RoomID("!room:example.org")
)

// stateJSON builds a /state answer from compact event descriptions.
func stateJSON(t *testing.T, events ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ev(typ, stateKey string, sender id.UserID, ts int64, content any) map[string]any {
	return map[string]any{"type": typ, "state_key": stateKey, "sender": sender, "origin_server_ts": ts, "content": content, "event_id": "$x"}
}

func member(user id.UserID, membership string, sender id.UserID, ts int64) map[string]any {
	return ev("m.room.member", string(user), sender, ts, map[string]any{"membership": membership})
}

func TestParseRoomState(t *testing.T) {
	tests := []struct {
		name   string
		events []map[string]any
		want   plan.RoomState
	}{
		{
			name: "room v10 with every power level set",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10", "creator": alice}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{
					"users": map[string]any{string(alice): 100, string(testBot): 90}, "users_default": 10,
					"invite": 50, "kick": 75, "ban": 80, "events": map[string]any{"m.room.name": 50, "m.room.power_levels": 95},
				}),
				member(alice, "join", alice, 3),
				member(testBot, "join", testBot, 4),
				member(bob, "invite", testBot, 5),
				member(carol, "ban", testBot, 6),
				ev("m.room.name", "", alice, 7, map[string]any{"name": "Staff"}),
			},
			want: plan.RoomState{
				Members: plan.NewRoomMembers(map[id.UserID]plan.RoomMember{
					alice:   {Membership: "join", Sender: alice, Since: time.UnixMilli(3)},
					testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)},
					bob:     {Membership: "invite", Sender: testBot, Since: time.UnixMilli(5)},
					carol:   {Membership: "ban", Sender: testBot, Since: time.UnixMilli(6)},
				}),
				PowerLevels: plan.PowerLevels{
					Users:        map[id.UserID]int{alice: 100, testBot: 90},
					UsersDefault: 10, Invite: 50, Kick: 75, Ban: 80, ChangePowerLevels: 95,
				},
			},
		},
		{
			name: "missing power-level fields take the spec defaults",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "11"}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{"users": map[string]any{string(testBot): 50}}),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members:     plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{testBot: 50}, Invite: 0, Kick: 50, Ban: 50, ChangePowerLevels: 50},
			},
		},
		{
			name: "room v12 creators have unlimited power",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "12", "additional_creators": []string{string(bob)}}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{"users": map[string]any{string(testBot): 100}}),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members: plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{
					Users: map[id.UserID]int{testBot: 100}, Kick: 50, Ban: 50, ChangePowerLevels: 50,
					Creators: map[id.UserID]bool{alice: true, bob: true},
				},
			},
		},
		{
			name: "unstable hydra version counts as v12",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "org.matrix.hydra.11"}),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members: plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{
					Users: map[id.UserID]int{}, Kick: 50, Ban: 50,
					Creators: map[id.UserID]bool{alice: true},
				},
			},
		},
		{
			name: "no power-levels event gives the creator 100 before v12",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10", "creator": alice}),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members:     plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{alice: 100}, Kick: 50, Ban: 50},
			},
		},
		{
			name: "string levels of old rooms are read, junk falls back to defaults",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "5"}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{
					"users": map[string]any{string(testBot): "100", string(bob): []int{1}}, "kick": "60", "ban": true, "state_default": "70",
				}),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members:     plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{testBot: 100}, Kick: 60, Ban: 50, ChangePowerLevels: 70},
			},
		},
		{
			name: "unknown memberships are kept as sent; a repeated member event replaces the earlier",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10"}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{}),
				member(bob, "org.example.custom", bob, 3),
				member(testBot, "join", testBot, 4),
				member(carol, "invite", testBot, 5),
				member(carol, "org.example.custom", carol, 6),
				member(alice, "org.example.custom", alice, 7),
				member(alice, "join", alice, 8),
			},
			want: plan.RoomState{
				Members: plan.NewRoomMembers(map[id.UserID]plan.RoomMember{
					alice:   {Membership: "join", Sender: alice, Since: time.UnixMilli(8)},
					bob:     {Membership: "org.example.custom", Sender: bob, Since: time.UnixMilli(3)},
					carol:   {Membership: "org.example.custom", Sender: carol, Since: time.UnixMilli(6)},
					testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)},
				}),
				PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{}, Kick: 50, Ban: 50, ChangePowerLevels: 50},
			},
		},
		{
			name: "unreadable member events are skipped",
			events: []map[string]any{
				ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10"}),
				ev("m.room.power_levels", "", alice, 2, map[string]any{}),
				ev("m.room.member", string(bob), bob, 3, "not an object"),
				member(testBot, "join", testBot, 4),
			},
			want: plan.RoomState{
				Members:     plan.NewRoomMembers(map[id.UserID]plan.RoomMember{testBot: {Membership: "join", Sender: testBot, Since: time.UnixMilli(4)}}),
				PowerLevels: plan.PowerLevels{Users: map[id.UserID]int{}, Kick: 50, Ban: 50, ChangePowerLevels: 50},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var events []stateEvent
			if err := json.Unmarshal(stateJSON(t, tt.events...), &events); err != nil {
				t.Fatal(err)
			}
			got := parseRoomState(events)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseRoomState:\n got  %+v\n want %+v", got, tt.want)
			}
		})
	}
}

func TestCreatorsArePrivileged(t *testing.T) {
	tests := map[string]bool{
		"": false, "1": false, "10": false, "11": false,
		"12": true, "13": true, "org.matrix.hydra.11": true, "org.matrix.msc4242.12": true,
		// Unknown versions count as privileged, the safe side (the creator is left alone).
		"org.matrix.msc3757.11": true, "org.matrix.msc1767.10": true,
	}
	for version, want := range tests {
		if got := creatorsArePrivileged(version); got != want {
			t.Errorf("creatorsArePrivileged(%q) = %v, want %v", version, got, want)
		}
	}
}

func TestRoomStateRequests(t *testing.T) {
	joined := []map[string]any{
		ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10"}),
		member(testBot, "join", testBot, 4),
	}
	left := []map[string]any{
		ev("m.room.create", "", alice, 1, map[string]any{"room_version": "10"}),
		member(testBot, "leave", alice, 4),
	}
	tests := []struct {
		name       string
		appservice bool
		status     int
		body       any
		wantErr    error
		wantUserID string
	}{
		{name: "joined bot, client mode", status: 200, body: joined},
		{name: "joined bot, appservice mode acts as the bot", appservice: true, status: 200, body: joined, wantUserID: string(testBot)},
		{name: "kicked bot sees stale state", status: 200, body: left, wantErr: ErrBotNotInRoom},
		{name: "never joined", status: 403, body: matrixError("M_FORBIDDEN", "User @sync:example.org not in room"), wantErr: ErrBotNotInRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply("GET /_matrix/client/v3/rooms/"+string(room)+"/state", tt.status, tt.body)
			m := newTestMatrix(t, f, tt.appservice, "")
			_, err := m.RoomState(context.Background(), room)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RoomState error = %v, want %v", err, tt.wantErr)
			}
			// Not being in the room is a setup problem (an invite fixes it); any other failure is not.
			if got, want := reconcile.IsSetupProblem(err), errors.Is(tt.wantErr, ErrBotNotInRoom); got != want {
				t.Errorf("IsSetupProblem(%v) = %v, want %v", err, got, want)
			}
			calls := f.routesCalled()
			if len(calls) != 1 {
				t.Errorf("RoomState made %d requests, want 1: %v", len(calls), calls)
			}
			if got := f.lastCall().UserID; got != tt.wantUserID {
				t.Errorf("user_id = %q, want %q", got, tt.wantUserID)
			}
		})
	}
}

func TestResolveRoom(t *testing.T) {
	f := newFakeHS(t)
	f.reply("GET /_matrix/client/v3/directory/room/#staff:example.org", 200, map[string]any{"room_id": room, "servers": []string{"example.org"}})
	f.reply("GET /_matrix/client/v3/directory/room/#gone:example.org", 404, matrixError("M_NOT_FOUND", "Room alias not found"))
	m := newTestMatrix(t, f, false, "")
	ctx := context.Background()
	tests := []struct {
		in      string
		want    id.RoomID
		wantErr bool
	}{
		{in: "!abc:example.org", want: "!abc:example.org"},
		{in: "!hashonlyv12", want: "!hashonlyv12"},
		{in: "#staff:example.org", want: room},
		{in: "#gone:example.org", wantErr: true},
		{in: "staff", wantErr: true},
		{in: "#nodomain", wantErr: true},
	}
	for _, tt := range tests {
		got, err := m.ResolveRoom(ctx, tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ResolveRoom(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if calls := f.routesCalled(); !slices.Equal(calls, []string{"GET /_matrix/client/v3/directory/room/#staff:example.org", "GET /_matrix/client/v3/directory/room/#gone:example.org"}) {
		t.Errorf("requests = %v", calls)
	}
}
