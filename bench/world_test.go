package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/appservice"
	"authentik-matrix-sync/authentik"
	"authentik-matrix-sync/authentik/authentiktest"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/usermap"
)

const (
	akToken  = "bench-token"
	server   = "example.org"
	botID    = id.UserID("@syncbot:" + server)
	pageSize = 100 // the bot's default, and Authentik's maximum
)

// shape is a synthetic installation: users users in groups groups (each user in two groups),
// rooms rooms each mapped to one group (room r to group r mod groups).
type shape struct {
	users, groups, rooms int
}

func (s shape) directory() authentiktest.Synthetic {
	return authentiktest.Synthetic{Users: s.users, Groups: s.groups, MembersPerGroup: min(s.users, 2*s.users/s.groups)}
}

func (s shape) String() string {
	return fmt.Sprintf("users=%d/groups=%d/rooms=%d", s.users, s.groups, s.rooms)
}

func roomID(r int) id.RoomID { return id.RoomID(fmt.Sprintf("!room%04d:%s", r, server)) }

func userID(i int) id.UserID { return id.UserID("@" + authentiktest.SyntheticUser(i) + ":" + server) }

// minimumRequests is the least a cycle can ask: the group tree in pages of pageSize, then the
// mapped groups' members the way that costs Authentik less (the listing of every group with
// its members, at most 5,000 members a page, or one read per mapped group; a request priced at
// 10 ms and a member at 0.08 ms of Authentik's CPU, a tie going to the reads per group), and one
// state listing per room.
func (s shape) minimumRequests() (authentik, homeserver int) {
	pages := func(n, size int) int { return max(1, (n+size-1)/size) }
	perGroup := s.directory().MembersPerGroup
	mapped := min(s.groups, s.rooms)
	listingSize := pageSize
	if perGroup > 0 {
		listingSize = max(1, min(pageSize, 5000/perGroup))
	}
	listing := pages(s.groups, listingSize)
	listingCost := 10*time.Millisecond*time.Duration(listing) + 80*time.Microsecond*time.Duration(s.groups*perGroup)
	eachCost := 10*time.Millisecond*time.Duration(mapped) + 80*time.Microsecond*time.Duration(mapped*perGroup)
	authentik = pages(s.groups, pageSize)
	if eachCost <= listingCost {
		authentik += mapped
	} else {
		authentik += listing
	}
	return authentik, s.rooms
}

// world is the bot's reconciler between a fake Authentik and a fake homeserver, with every room
// already holding its group's members.
type world struct {
	shape shape
	ak    *authentiktest.Server
	hs    *fakeHomeserver
	rec   *reconcile.Reconciler
}

// newFakes starts a fake Authentik holding s's directory and a fake homeserver whose rooms
// already hold their groups' members, and returns the policy that maps them.
func newFakes(tb testing.TB, s shape) (*authentiktest.Server, *fakeHomeserver, plan.Policy) {
	tb.Helper()
	ak := authentiktest.New(akToken)
	tb.Cleanup(ak.Close)
	dir := s.directory()
	if err := ak.LoadSynthetic(dir); err != nil {
		tb.Fatal(err)
	}
	hs := newFakeHomeserver(tb, botID)
	policy := plan.Policy{GracePeriod: 24 * time.Hour, RemoveAction: plan.RemoveKick, Bot: botID}
	for r := range s.rooms {
		g := r % s.groups
		var members []id.UserID
		for _, i := range dir.Members(g) {
			members = append(members, userID(i))
		}
		hs.addRoom(roomID(r), members)
		policy.Mappings = append(policy.Mappings, plan.Mapping{Group: authentiktest.SyntheticGroup(g), Room: roomID(r), Method: plan.MethodInvite})
	}
	return ak, hs, policy
}

func newWorld(tb testing.TB, s shape, appserviceMode bool) *world {
	tb.Helper()
	return newWorldReading(tb, s, appserviceMode, authentik.MemberReadAuto)
}

// newWorldReading is newWorld with the bot reading group members the way read says.
func newWorldReading(tb testing.TB, s shape, appserviceMode bool, read authentik.MemberRead) *world {
	tb.Helper()
	ak, hs, policy := newFakes(tb, s)
	opts := appservice.Options{HomeserverURL: hs.srv.URL, BotUserID: botID, AccessToken: "bench", Log: zerolog.Nop()}
	if appserviceMode {
		opts.Appservice, opts.AccessToken, opts.ASToken, opts.RegistrationID = true, "", "bench-as", "bench"
	}
	mx, err := appservice.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	var rooms reconcile.Rooms = mx
	if appserviceMode {
		rooms = appservice.NewRoomCache(mx, time.Hour)
	}
	client, err := authentik.New(ak.URL(), akToken, authentik.Options{PageSize: pageSize, MemberRead: read})
	if err != nil {
		tb.Fatal(err)
	}
	mapper, err := usermap.New("@{username}:{server}", "matrix_id", server)
	if err != nil {
		tb.Fatal(err)
	}
	rec := reconcile.New(reconcile.Options{
		Directory: &usermap.Directory{Source: client, Mapper: mapper, Log: zerolog.Nop()},
		Rooms:     rooms, Store: newMemStore(), Policy: policy, Interval: time.Hour, Log: zerolog.Nop(),
	})
	return &world{shape: s, ak: ak, hs: hs, rec: rec}
}

// cycleCounts is what one cycle asked of each service.
type cycleCounts struct {
	authentik, homeserver, roomReads, writes int
}

// cycle runs one cycle and counts its requests.
func (w *world) cycle(tb testing.TB) cycleCounts {
	tb.Helper()
	w.ak.ClearRequests()
	w.hs.counts()
	res := w.rec.RunCycle(context.Background())
	if !res.Ok() {
		tb.Fatalf("cycle failed: %+v", res)
	}
	byRoute, writes := w.hs.counts()
	c := cycleCounts{authentik: len(w.ak.Requests()), writes: writes,
		roomReads: byRoute[stateRoute]}
	for _, n := range byRoute {
		c.homeserver += n
	}
	return c
}

// memStore keeps the state in memory: the first cycle records every member, and doing that
// through SQLite would make the benchmark measure the disk. It keeps no power grants,
// exemptions, account records or profiles: the benchmarks' worlds have none.
type memStore struct {
	mu    sync.Mutex
	state plan.State
}

func newMemStore() *memStore { return &memStore{state: plan.NewState()} }

func (s *memStore) LoadState(context.Context) (plan.State, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := plan.NewState()
	out.Members = s.state.Members.Clone()
	for k, v := range s.state.Pending {
		out.Pending[k] = v
	}
	return out, nil
}

func (s *memStore) PutMember(_ context.Context, m plan.ManagedMember) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Members.Set(m)
	return nil
}

func (s *memStore) ForgetMember(_ context.Context, room id.RoomID, user id.UserID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Members.Delete(plan.RoomUser{Room: room, User: user})
	delete(s.state.Pending, plan.RoomUser{Room: room, User: user})
	return nil
}

func (s *memStore) PutPending(_ context.Context, p plan.PendingRemoval) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.Pending[plan.RoomUser{Room: p.Room, User: p.User}] = p
	return nil
}

func (s *memStore) DeletePending(_ context.Context, room id.RoomID, user id.UserID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.state.Pending, plan.RoomUser{Room: room, User: user})
	return nil
}

func (s *memStore) RecordRemoval(ctx context.Context, r plan.Removal) error {
	return s.ForgetMember(ctx, r.Room, r.User)
}

func (s *memStore) PutMembers(ctx context.Context, ms []plan.ManagedMember) error {
	for _, m := range ms {
		if err := s.PutMember(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *memStore) CountState(context.Context) (members, pending map[id.RoomID]int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	members, pending = map[id.RoomID]int{}, map[id.RoomID]int{}
	for _, room := range s.state.Members.Rooms() {
		members[room] = s.state.Members.InRoom(room)
	}
	for k := range s.state.Pending {
		pending[k.Room]++
	}
	return members, pending, nil
}

// errNotKept answers a write to a part of the state memStore does not keep.
var errNotKept = errors.New("the benchmark store keeps no such records")

func (s *memStore) PowerGrants(context.Context) (map[plan.RoomUser]plan.PowerGrant, error) {
	return nil, nil
}
func (s *memStore) PutPowerGrant(context.Context, plan.PowerGrant) error         { return errNotKept }
func (s *memStore) DeletePowerGrant(context.Context, id.RoomID, id.UserID) error { return errNotKept }
func (s *memStore) Exemptions(context.Context) ([]plan.Exemption, error)         { return nil, nil }
func (s *memStore) DeleteExemption(context.Context, id.RoomID, id.UserID) (bool, error) {
	return false, errNotKept
}
func (s *memStore) AccountRecords(context.Context) (map[id.UserID]plan.AccountRecord, error) {
	return nil, nil
}
func (s *memStore) PutAccountRecord(context.Context, plan.AccountRecord) error { return errNotKept }
func (s *memStore) DeleteAccountRecord(context.Context, id.UserID) error       { return errNotKept }
func (s *memStore) SyncedProfiles(context.Context) (map[plan.ProfileKey]string, error) {
	return nil, nil
}
func (s *memStore) PutSyncedProfile(context.Context, id.UserID, plan.ProfileField, string) error {
	return errNotKept
}

var _ reconcile.Store = (*memStore)(nil)

func (s *memStore) SettleRemovals(context.Context, id.RoomID, id.UserID, time.Time) error {
	return nil // it keeps no removals
}

func (s *memStore) MarkMissingAccount(context.Context, id.UserID) (bool, error) { return false, nil }
func (s *memStore) ClearMissingAccount(context.Context, id.UserID) error        { return nil }
