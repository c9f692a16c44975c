package app

import (
	"testing"

	"github.com/rs/zerolog"
)

// TestDoctorInputRemoval: the doctor asks for the kick or ban level exactly when the sync would
// kick or ban in the room, combining a room's mappings as the sync does.
func TestDoctorInputRemoval(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		kick bool
		ban  bool
	}{
		{name: "one kicking mapping", kick: true},
		{name: "the policy bans", env: map[string]string{"REMOVE_ACTION": "ban"}, ban: true},
		{name: "an invite-only mapping keeps everybody, so no kick is needed",
			env: map[string]string{"SYNC_MAPPINGS": `[{"group":"staff","room":"!staff:example.org","remove":false},` +
				`{"group":"ops","room":"!staff:example.org"}]`}},
		{name: "kick wins over ban",
			env: map[string]string{"SYNC_MAPPINGS": `[{"group":"staff","room":"!staff:example.org","remove_action":"ban"},` +
				`{"group":"ops","room":"!staff:example.org","remove_action":"kick"}]`},
			kick: true},
		{name: "every mapping bans",
			env: map[string]string{"SYNC_MAPPINGS": `[{"group":"staff","room":"!staff:example.org","remove_action":"ban"},` +
				`{"group":"ops","room":"!staff:example.org"}]`, "REMOVE_ACTION": "ban"},
			ban: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := newWorld(masConfig(t, nil, tc.env), zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			in := w.doctorInput(false)
			if len(in.Rooms) != 1 {
				t.Fatalf("rooms = %+v, want one", in.Rooms)
			}
			n := in.Rooms[0]
			if n.Room != "!staff:example.org" || n.Kick != tc.kick || n.Ban != tc.ban {
				t.Errorf("need = %+v; want kick %v, ban %v", n, tc.kick, tc.ban)
			}
		})
	}
}
