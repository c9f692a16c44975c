package appservice

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestInSpace(t *testing.T) {
	const space, child = id.RoomID("!space:example.org"), id.RoomID("!child:example.org")
	route := "GET /_matrix/client/v3/rooms/" + string(space) + "/state/m.space.child/" + string(child)
	tests := []struct {
		name    string
		status  int
		body    any
		want    bool
		wantErr bool
	}{
		{"listed", 200, map[string]any{"via": []string{"example.org"}}, true, false},
		{"emptied: taken out of the space", 200, map[string]any{}, false, false},
		{"no such event", 404, matrixError("M_NOT_FOUND", "Event not found."), false, false},
		{"the bot cannot read the space", 403, matrixError("M_FORBIDDEN", "You are not in this room."), false, true},
		{"server error", 500, matrixError("M_UNKNOWN", "boom"), false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.reply(route, tc.status, tc.body)
			got, err := newTestMatrix(t, f, false, "").InSpace(context.Background(), space, child)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("InSpace = %v, %v; want %v, error %v", got, err, tc.want, tc.wantErr)
			}
			if c := f.lastCall(); c.Route != route || c.Auth != "Bearer "+testToken {
				t.Errorf("request %s (auth %q), want %s", c.Route, c.Auth, route)
			}
		})
	}
}
