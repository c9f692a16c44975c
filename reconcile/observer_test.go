package reconcile

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/plan"
)

// recordingObserver keeps what the reconciler reported.
type recordingObserver struct {
	actions []string
	stats   []CycleStats
}

func (o *recordingObserver) ActionFinished(kind string, room id.RoomID, result string) {
	o.actions = append(o.actions, fmt.Sprintf("%s %s %s", kind, room, result))
}

func (o *recordingObserver) CycleFinished(_ CycleResult, s CycleStats) { o.stats = append(o.stats, s) }

func TestObserverSeesActionsAndFigures(t *testing.T) {
	dave := id.UserID("@dave:hs")
	tests := []struct {
		name        string
		setup       func(w *fakeWorld)
		wantActions []string
		wantStats   CycleStats
	}{
		{
			name:        "invites are ok, a user without an account is skipped",
			setup:       func(w *fakeWorld) { w.groups["staff"] = []id.UserID{alice, dave} },
			wantActions: []string{"track !a:hs ok", "track !a:hs ok", "invite !a:hs ok", "invite !a:hs skipped"},
			wantStats: CycleStats{GroupMembers: map[string]int{"staff": 2, "admins": 0},
				ManagedMembers: map[id.RoomID]int{roomA: 2}, PendingRemovals: map[id.RoomID]int{roomA: 0},
				UsersWithoutAccount: 1},
		},
		{
			name: "a failed invite is failed, an unknown group has no size",
			setup: func(w *fakeWorld) {
				w.groups["staff"] = []id.UserID{alice}
				w.failNext["invite"] = errors.New("boom")
				w.groupErr["admins"] = errors.New("page 2 failed")
			},
			wantActions: []string{"track !a:hs ok", "invite !a:hs failed"},
			wantStats: CycleStats{GroupMembers: map[string]int{"staff": 1},
				ManagedMembers: map[id.RoomID]int{roomA: 1}, PendingRemovals: map[id.RoomID]int{roomA: 0}},
		},
		{
			name: "a removal held by a failed backup is counted as held; the pending one stays",
			setup: func(w *fakeWorld) {
				w.rooms[roomA][bob] = joined(earlier)
				w.state.Members.Set(plan.ManagedMember{Room: roomA, User: bob})
				w.state.Pending[plan.RoomUser{Room: roomA, User: bob}] = plan.PendingRemoval{Room: roomA, User: bob, DueAt: earlier, Reason: "gone"}
				w.backupErr = errors.New("disk full")
			},
			wantActions: []string{"kick !a:hs skipped"},
			wantStats: CycleStats{GroupMembers: map[string]int{"staff": 0, "admins": 0},
				ManagedMembers: map[id.RoomID]int{roomA: 1}, PendingRemovals: map[id.RoomID]int{roomA: 1},
				RemovalsHeld: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newFakeWorld()
			tt.setup(w)
			obs := &recordingObserver{}
			r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Interval: time.Minute,
				Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite},
					plan.Mapping{Group: "admins", Room: roomA, Method: plan.MethodInvite}),
				Now: func() time.Time { return w.now }, Log: zerolog.Nop(), Observer: obs})
			w.cycle(t, r)
			if !reflect.DeepEqual(obs.actions, tt.wantActions) {
				t.Errorf("actions\n got %q\nwant %q", obs.actions, tt.wantActions)
			}
			if len(obs.stats) != 1 || !reflect.DeepEqual(obs.stats[0], tt.wantStats) {
				t.Errorf("stats\n got %+v\nwant %+v", obs.stats, tt.wantStats)
			}
		})
	}
}

func TestActionLogLineNamesTheGroup(t *testing.T) {
	w := newFakeWorld()
	w.groups["staff"] = []id.UserID{alice}
	var buf bytes.Buffer
	r := New(Options{Directory: w, Rooms: w, Store: w, Backup: w, Interval: time.Minute,
		Policy: policy(plan.Mapping{Group: "staff", Room: roomA, Method: plan.MethodInvite},
			plan.Mapping{Group: "admins", Room: roomA, Method: plan.MethodInvite}),
		Now: func() time.Time { return w.now }, Log: zerolog.New(&buf)})
	res := w.cycle(t, r)
	var invite string
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, `"action":"invite"`) && strings.Contains(line, `"level":"info"`) {
			invite = line
		}
	}
	for _, want := range []string{`"group":"staff"`, `"user":"@alice:hs"`, `"room":"!a:hs"`, `"reason":"member of Authentik group staff"`, `"cycle":"` + res.ID + `"`} {
		if !strings.Contains(invite, want) {
			t.Errorf("invite line %q lacks %s", invite, want)
		}
	}
}
