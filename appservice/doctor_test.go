package appservice

import (
	"context"
	"errors"
	"net/http"
	"testing"
)

// TestPingAppserviceInconclusive: a registration without url and a homeserver too old to ping
// reach nobody, so the doctor's ping reports them as their own errors, while Check at start-up
// only warns about them.
func TestPingAppserviceInconclusive(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer func(http.ResponseWriter)
		want   error
	}{
		{"registration without url", fail(400, "M_URL_NOT_SET", "Application service URL is not set"), ErrPingNoURL},
		{"homeserver too old to ping", fail(404, "M_UNRECOGNIZED", "Unrecognized request"), ErrPingUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeHS(t)
			f.on(registerRoute, func(w http.ResponseWriter, _ *http.Request) { ok(map[string]any{"user_id": testBot})(w) })
			f.on(whoamiRoute, func(w http.ResponseWriter, _ *http.Request) { ok(map[string]any{"user_id": testBot})(w) })
			f.on(pingRoute, func(w http.ResponseWriter, _ *http.Request) { tt.answer(w) })
			m := newTestMatrix(t, f, true, "")
			if err := m.PingAppservice(context.Background()); !errors.Is(err, tt.want) {
				t.Errorf("PingAppservice = %v, want %v", err, tt.want)
			}
			if err := m.Check(context.Background(), false); err != nil {
				t.Errorf("Check = %v, want only a warning", err)
			}
		})
	}
}
