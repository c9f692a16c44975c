package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"
)

// startSynapse starts a homeserver for one test and stops it afterwards. A missing virtualenv is a
// failure, never a skip: CI must not pass without having run the end-to-end tests.
func startSynapse(t *testing.T, ctx context.Context, dir string) *Synapse {
	t.Helper()
	begin := time.Now()
	s, err := Start(ctx, Options{Dir: dir})
	if errors.Is(err, ErrSynapseNotInstalled) {
		t.Fatalf("%v (end-to-end tests never skip for want of Synapse)", err)
	}
	if err != nil {
		t.Fatalf("start synapse: %v", err)
	}
	t.Logf("synapse at %s ready and admin set up in %s", s.URL, time.Since(begin).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("synapse log tail:\n%s", s.LogTail(50))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop synapse: %v", err)
		}
	})
	return s
}

// TestSynapse runs the harness against one real homeserver: the subtests share it (a start costs
// seconds), then a restart on the same Dir checks that the data and the admin survive.
func TestSynapse(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Synapse; run without -short (make test or make e2e)")
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s := startSynapse(t, ctx, dir)
	admin := s.Admin()
	if admin.ID != id.UserID("@admin:localhost") || admin.Token == "" {
		t.Fatalf("admin = %+v, want @admin:localhost with a token", admin)
	}

	begin := time.Now()
	alice, err := s.RegisterUser(ctx, "alice", "alice-pw", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("registered a user in %s", time.Since(begin).Round(time.Millisecond))
	bob, err := s.RegisterUser(ctx, "bob", "bob-pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterUser(ctx, "alice", "other", false); !IsErrCode(err, "M_USER_IN_USE") {
		t.Errorf("registering alice twice: err = %v, want M_USER_IN_USE", err)
	}

	for _, tc := range []struct {
		user id.UserID
		want bool
	}{
		{admin.ID, true},
		{alice.ID, true},
		{bob.ID, true},
		{"@nobody:localhost", false},
	} {
		got, err := s.UserExists(ctx, tc.user)
		if err != nil || got != tc.want {
			t.Errorf("UserExists(%s) = %t, %v; want %t", tc.user, got, err, tc.want)
		}
	}

	t.Run("membership lifecycle", func(t *testing.T) { testMembershipLifecycle(t, ctx, s, alice, bob) })
	t.Run("create room options", func(t *testing.T) { testCreateRoomOptions(t, ctx, s, alice) })
	t.Run("messages", func(t *testing.T) { testMessages(t, ctx, s) })

	if err := s.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := s.versions(ctx); err == nil {
		t.Fatal("synapse still answers after Stop")
	}

	// A second Start on the same Dir keeps the database and finds the admin again.
	s2 := startSynapse(t, ctx, dir)
	if s2.AdminID != admin.ID {
		t.Errorf("admin after restart = %s, want %s", s2.AdminID, admin.ID)
	}
	if ok, err := s2.UserExists(ctx, alice.ID); err != nil || !ok {
		t.Errorf("alice after restart: exists = %t, %v; want true", ok, err)
	}
}

func testMembershipLifecycle(t *testing.T, ctx context.Context, s *Synapse, alice, bob User) {
	admin := s.Admin()
	room, err := s.CreateRoom(ctx, admin, RoomOptions{Name: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	joined := func(u User) Membership { return Membership{Membership: "join", Sender: u.ID} }
	steps := []struct {
		name    string
		act     func() error
		wantErr string // errcode the action must fail with; empty: must succeed
		want    map[id.UserID]Membership
	}{
		{
			name: "creator is joined",
			act:  func() error { return nil },
			want: map[id.UserID]Membership{admin.ID: joined(admin)},
		},
		{
			name: "admin invites alice",
			act:  func() error { return s.Invite(ctx, admin, room, alice.ID) },
			want: map[id.UserID]Membership{admin.ID: joined(admin), alice.ID: {"invite", admin.ID, ""}},
		},
		{
			name: "alice joins",
			act:  func() error { return s.Join(ctx, alice, room) },
			want: map[id.UserID]Membership{admin.ID: joined(admin), alice.ID: joined(alice)},
		},
		{
			name:    "bob cannot join uninvited",
			act:     func() error { return s.Join(ctx, bob, room) },
			wantErr: "M_FORBIDDEN",
			want:    map[id.UserID]Membership{admin.ID: joined(admin), alice.ID: joined(alice)},
		},
		{
			name: "admin kicks alice",
			act:  func() error { return s.Kick(ctx, admin, room, alice.ID) },
			want: map[id.UserID]Membership{admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}},
		},
		{
			name:    "kicking a non-member fails",
			act:     func() error { return s.Kick(ctx, admin, room, bob.ID) },
			wantErr: "M_FORBIDDEN",
			want:    map[id.UserID]Membership{admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}},
		},
		{
			name: "admin bans bob, who was never in the room",
			act:  func() error { return s.Ban(ctx, admin, room, bob.ID) },
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}, bob.ID: {"ban", admin.ID, ""},
			},
		},
		{
			name:    "a banned user cannot be invited",
			act:     func() error { return s.Invite(ctx, admin, room, bob.ID) },
			wantErr: "M_BAD_STATE",
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}, bob.ID: {"ban", admin.ID, ""},
			},
		},
		{
			name: "admin unbans bob",
			act:  func() error { return s.Unban(ctx, admin, room, bob.ID) },
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}, bob.ID: {"leave", admin.ID, ""},
			},
		},
		{
			name: "bob is invited and joins",
			act: func() error {
				if err := s.Invite(ctx, admin, room, bob.ID); err != nil {
					return err
				}
				return s.Join(ctx, bob, room)
			},
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}, bob.ID: joined(bob),
			},
		},
		{
			name:    "bob at level 0 cannot kick",
			act:     func() error { return s.Kick(ctx, bob, room, admin.ID) },
			wantErr: "M_FORBIDDEN",
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", admin.ID, ""}, bob.ID: joined(bob),
			},
		},
		{
			name: "alice at level 50 can ban bob",
			act: func() error {
				if err := s.SetPowerLevel(ctx, admin, room, alice.ID, 50); err != nil {
					return err
				}
				if err := s.Invite(ctx, admin, room, alice.ID); err != nil {
					return err
				}
				if err := s.Join(ctx, alice, room); err != nil {
					return err
				}
				return s.Ban(ctx, alice, room, bob.ID)
			},
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: joined(alice), bob.ID: {"ban", alice.ID, ""},
			},
		},
		{
			name: "alice leaves",
			act:  func() error { return s.Leave(ctx, alice, room) },
			want: map[id.UserID]Membership{
				admin.ID: joined(admin), alice.ID: {"leave", alice.ID, ""}, bob.ID: {"ban", alice.ID, ""},
			},
		},
	}
	for _, step := range steps {
		err := step.act()
		switch {
		case step.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", step.name, err)
		case step.wantErr != "" && !IsErrCode(err, step.wantErr):
			t.Fatalf("%s: err = %v, want %s", step.name, err, step.wantErr)
		}
		got, err := s.Memberships(ctx, room)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !maps.Equal(got, step.want) {
			t.Fatalf("%s: memberships\n got %v\nwant %v", step.name, got, step.want)
		}
	}

}

func testMessages(t *testing.T, ctx context.Context, s *Synapse) {
	admin := s.Admin()
	room, err := s.CreateRoom(ctx, admin, RoomOptions{Name: "messages"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SendText(ctx, admin, room, "hello from the harness"); err != nil {
		t.Fatal(err)
	}
	events, err := s.Messages(ctx, admin, room, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 5 {
		t.Fatalf("Messages returned %d events, want 5", len(events))
	}
	if last := events[len(events)-1]; last.Type != "m.room.message" || last.Body() != "hello from the harness" || last.Sender != admin.ID {
		t.Errorf("newest event = %s from %s %q, want the message just sent, last in the list", last.Type, last.Sender, last.Body())
	}
	if !slices.IsSortedFunc(events, func(a, b Event) int { return int(a.OriginServerTS - b.OriginServerTS) }) {
		t.Errorf("Messages not oldest first: %v", events)
	}

}

func testCreateRoomOptions(t *testing.T, ctx context.Context, s *Synapse, alice User) {
	admin := s.Admin()
	tests := []struct {
		name       string
		opts       RoomOptions
		wantType   string // creation content type
		wantUsers  map[string]float64
		wantAlias  string
		wantInvite bool
	}{
		{
			name:      "space with an alias",
			opts:      RoomOptions{Name: "A space", Space: true, Alias: "team"},
			wantType:  "m.space",
			wantUsers: map[string]float64{},
			wantAlias: "#team:localhost",
		},
		{
			name:       "room with power levels and an invite",
			opts:       RoomOptions{Name: "Levels", Invite: []id.UserID{alice.ID}, PowerLevelUsers: map[id.UserID]int{alice.ID: 50}},
			wantUsers:  map[string]float64{string(alice.ID): 50},
			wantInvite: true,
		},
		{
			name:      "room version 10 keeps the creator at 100",
			opts:      RoomOptions{Name: "Old", RoomVersion: "10", PowerLevelUsers: map[id.UserID]int{alice.ID: 50}},
			wantUsers: map[string]float64{string(admin.ID): 100, string(alice.ID): 50},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			room, err := s.CreateRoom(ctx, admin, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var create map[string]any
			if err := s.call(ctx, http.MethodGet, apiPath(clientAPI+"/rooms", string(room), "state", "m.room.create", ""), admin.Token, nil, &create); err != nil {
				t.Fatal(err)
			}
			if got, _ := create["type"].(string); got != tc.wantType {
				t.Errorf("creation type = %q, want %q", got, tc.wantType)
			}
			var levels struct {
				Users map[string]float64 `json:"users"`
			}
			if err := s.call(ctx, http.MethodGet, apiPath(clientAPI+"/rooms", string(room), "state", "m.room.power_levels", ""), admin.Token, nil, &levels); err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(levels.Users, tc.wantUsers) {
				t.Errorf("power level users = %v, want %v", levels.Users, tc.wantUsers)
			}
			if tc.wantAlias != "" {
				var resolved struct {
					RoomID id.RoomID `json:"room_id"`
				}
				if err := s.call(ctx, http.MethodGet, apiPath(clientAPI+"/directory/room", tc.wantAlias), admin.Token, nil, &resolved); err != nil || resolved.RoomID != room {
					t.Errorf("alias %s resolves to %s (%v), want %s", tc.wantAlias, resolved.RoomID, err, room)
				}
			}
			members, err := s.Memberships(ctx, room)
			if err != nil {
				t.Fatal(err)
			}
			if got := members[alice.ID].Membership == "invite"; got != tc.wantInvite {
				t.Errorf("alice invited = %t, want %t (memberships %v)", got, tc.wantInvite, members)
			}
		})
	}
}

func TestStartFailsFastWhenPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real Synapse; run without -short (make test or make e2e)")
	}
	t.Parallel()
	// A listener that accepts connections and never answers, the worst neighbour to probe past.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	begin := time.Now()
	s, err := Start(context.Background(), Options{Dir: t.TempDir(), Port: l.Addr().(*net.TCPAddr).Port})
	if err == nil {
		s.Stop()
		t.Fatal("Start succeeded on a taken port")
	}
	if errors.Is(err, ErrSynapseNotInstalled) {
		t.Fatalf("%v (end-to-end tests never skip for want of Synapse)", err)
	}
	if !errors.Is(err, errPortInUse) || !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("err = %.500v, want errPortInUse with the log tail", err)
	}
	if took := time.Since(begin); took > 30*time.Second {
		t.Errorf("took %s to notice the exit, want well under the 60 s start timeout", took)
	}
}

func TestStartWithoutVenvSaysWhatToRun(t *testing.T) {
	_, err := Start(context.Background(), Options{Dir: t.TempDir(), Venv: t.TempDir()})
	if !errors.Is(err, ErrSynapseNotInstalled) || !strings.Contains(err.Error(), "make synapse") {
		t.Fatalf("err = %v, want ErrSynapseNotInstalled mentioning `make synapse`", err)
	}
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name     string
		trueAt   int // poll on which cond turns true; 0: never
		timeout  time.Duration
		wantErr  string
		minPolls int
	}{
		{name: "true at once", trueAt: 1, timeout: time.Second, minPolls: 1},
		{name: "true on the third poll", trueAt: 3, timeout: 2 * time.Second, minPolls: 3},
		{name: "never true reports what it last saw", trueAt: 0, timeout: 350 * time.Millisecond, wantErr: "last seen: poll ", minPolls: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			polls := 0
			err := WaitFor(context.Background(), tc.timeout, func() (bool, error) {
				polls++
				if polls == tc.trueAt {
					return true, nil
				}
				return false, fmt.Errorf("poll %d", polls)
			})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, context.DeadlineExceeded)) {
				t.Fatalf("err = %v, want it to contain %q and wrap DeadlineExceeded", err, tc.wantErr)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), fmt.Sprintf("poll %d", polls)) {
				t.Errorf("err = %v, want the last poll (%d) in it", err, polls)
			}
			if polls < tc.minPolls {
				t.Errorf("polled %d times, want at least %d", polls, tc.minPolls)
			}
		})
	}
}
