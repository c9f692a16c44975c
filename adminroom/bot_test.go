package adminroom

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/doctor"
	"authentik-matrix-sync/plan"
	"authentik-matrix-sync/reconcile"
	"authentik-matrix-sync/store"
)

const (
	adminRoom = id.RoomID("!admin:hs")
	otherRoom = id.RoomID("!other:hs")
	botID     = id.UserID("@bot:hs")
	opUser    = id.UserID("@op:hs")
	modUser   = id.UserID("@mod:hs")
	guest     = id.UserID("@guest:hs")
	alice     = id.UserID("@alice:hs")
	roomA     = id.RoomID("!a:hs")
)

func TestAuthorise(t *testing.T) {
	levels := &plan.PowerLevels{Users: map[id.UserID]int{modUser: 50, guest: 10}, UsersDefault: 0}
	tests := []struct {
		name     string
		sender   id.UserID
		minLevel int
		levels   *plan.PowerLevels
		want     bool
	}{
		{"listed admin", opUser, 0, nil, true},
		{"unlisted, no power-level rule", modUser, 0, levels, false},
		{"power level at the minimum", modUser, 50, levels, true},
		{"power level below the minimum", guest, 50, levels, false},
		{"default level below the minimum", alice, 1, levels, false},
		{"power levels unknown", modUser, 50, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Authorise(tc.sender, []id.UserID{opUser}, tc.minLevel, tc.levels); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// maxEventBytes is the size of a Matrix event a homeserver accepts at most.
const maxEventBytes = 65536

// fakeMatrix records what the bot posts.
type fakeMatrix struct {
	mu      sync.Mutex
	notices []Reply
	levels  plan.PowerLevels
	joined  int
}

func (m *fakeMatrix) SendNotice(_ context.Context, room id.RoomID, plain, html string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if room != adminRoom {
		panic("notice outside the admin room: " + string(room))
	}
	if len(plain)+len(html) > maxEventBytes {
		return errors.New("M_TOO_LARGE: event too large") // what the homeserver answers
	}
	m.notices = append(m.notices, Reply{Plain: plain, HTML: html})
	return nil
}

func (m *fakeMatrix) RoomState(context.Context, id.RoomID) (plan.RoomState, error) {
	return plan.RoomState{PowerLevels: m.levels}, nil
}

func (m *fakeMatrix) JoinRoom(context.Context, id.RoomID) error {
	m.mu.Lock()
	m.joined++
	m.mu.Unlock()
	return nil
}

func (m *fakeMatrix) take() []Reply {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.notices
	m.notices = nil
	return out
}

// fakeCycles counts triggers and runs no cycle; last is what LastCycle reports.
type fakeCycles struct {
	triggered int
	last      *reconcile.CycleResult
	plan      plan.Plan // what Preview returns
}

func (c *fakeCycles) LastCycle() *reconcile.CycleResult          { return c.last }
func (c *fakeCycles) Preview(context.Context) (plan.Plan, error) { return c.plan, nil }
func (c *fakeCycles) RunCycle(context.Context) reconcile.CycleResult {
	return reconcile.CycleResult{ID: "c1"}
}
func (c *fakeCycles) Trigger() { c.triggered++ }

type fixture struct {
	bot    *Bot
	mx     *fakeMatrix
	st     *store.SQLite
	cycles *fakeCycles
	clock  time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), store.Options{DataDir: filepath.Join(t.TempDir(), "data"), BackupRetention: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{mx: &fakeMatrix{levels: plan.PowerLevels{Users: map[id.UserID]int{modUser: 50}}}, st: st,
		cycles: &fakeCycles{}, clock: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	f.bot = New(Options{Room: adminRoom, Bot: botID, Admins: []id.UserID{opUser}, MinPowerLevel: 50,
		Matrix: f.mx, Store: st, Backup: st, Started: f.clock.Add(-time.Minute),
		Policy: plan.Policy{Mappings: []plan.Mapping{{Group: "staff", Room: roomA, Method: plan.MethodInvite}}},
		Now:    func() time.Time { return f.clock }, Log: zerolog.Nop()})
	f.bot.SetCycles(f.cycles)
	return f
}

func message(room id.RoomID, sender id.UserID, ts time.Time, body string) *event.Event {
	raw, _ := json.Marshal(map[string]any{"msgtype": "m.text", "body": body})
	evt := &event.Event{RoomID: room, Sender: sender, Type: event.EventMessage, Timestamp: ts.UnixMilli(), ID: "$e"}
	evt.Content.VeryRaw = raw
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		panic(err)
	}
	return evt
}

// say sends body as sender and returns the replies.
func (f *fixture) say(sender id.UserID, body string) []Reply {
	f.bot.HandleEvent(context.Background(), message(adminRoom, sender, f.clock, body))
	return f.mx.take()
}

func onlyReply(t *testing.T, rs []Reply, want ...string) Reply {
	t.Helper()
	if len(rs) != 1 {
		t.Fatalf("%d replies (%v), want 1", len(rs), rs)
	}
	for _, w := range want {
		if !strings.Contains(rs[0].Plain, w) {
			t.Errorf("reply %q lacks %q", rs[0].Plain, w)
		}
	}
	return rs[0]
}

func TestEventIntake(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		evt     *event.Event
		replies int
	}{
		{"admin command", message(adminRoom, opUser, f.clock, "!sync help"), 1},
		{"moderator by power level", message(adminRoom, modUser, f.clock, "!sync help"), 1},
		{"own message", message(adminRoom, botID, f.clock, "!sync help"), 0},
		{"another room", message(otherRoom, opUser, f.clock, "!sync help"), 0},
		{"older than the process", message(adminRoom, opUser, f.clock.Add(-time.Hour), "!sync help"), 0},
		{"not a command", message(adminRoom, opUser, f.clock, "good morning"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.bot.HandleEvent(ctx, tc.evt)
			if got := f.mx.take(); len(got) != tc.replies {
				t.Errorf("%d replies (%v), want %d", len(got), got, tc.replies)
			}
		})
	}
}

func TestRefusalAtMostOnceAMinute(t *testing.T) {
	f := newFixture(t)
	onlyReply(t, f.say(guest, "!sync status"), "only the bot's admins")
	if rs := f.say(guest, "!sync pause"); len(rs) != 0 {
		t.Errorf("second refusal within a minute: %v", rs)
	}
	if p, _ := f.st.Paused(context.Background()); p {
		t.Fatal("a non-admin paused the bot")
	}
	f.clock = f.clock.Add(61 * time.Second)
	onlyReply(t, f.say(guest, "!sync status"), "only the bot's admins")
}

func TestRepliesAreEscapedNotices(t *testing.T) {
	f := newFixture(t)
	r := onlyReply(t, f.say(opUser, `!sync help "<b>x"`), `Unknown command "<b>x"`)
	if strings.Contains(r.HTML, "<b>x") || !strings.Contains(r.HTML, "&lt;b&gt;x") {
		t.Errorf("HTML not escaped: %q", r.HTML)
	}
	onlyReply(t, f.say(opUser, "!sync cancel"), "Usage: !sync cancel @user [room]")
	onlyReply(t, f.say(opUser, "!sync nope"), "Say !sync help")
}

func TestSteeringCommands(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	onlyReply(t, f.say(opUser, "!sync pause"), "Paused")
	if p, _ := f.bot.Paused(ctx); !p {
		t.Error("pause did not persist")
	}
	onlyReply(t, f.say(opUser, "!sync status"), "PAUSED")
	onlyReply(t, f.say(opUser, "!sync resume"), "Resumed")
	if p, _ := f.bot.Paused(ctx); p || f.cycles.triggered != 1 {
		t.Errorf("after resume: paused %v, triggered %d", p, f.cycles.triggered)
	}

	onlyReply(t, f.say(opUser, "!sync exempt @alice:hs"), "exempt in every room")
	ex, _ := f.bot.Exemptions(ctx)
	if len(ex) != 1 || ex[0].User != alice || ex[0].UntilBack || ex[0].By != opUser {
		t.Errorf("exemptions %+v", ex)
	}
	onlyReply(t, f.say(opUser, "!sync unexempt @alice:hs"), "no longer exempt")
	onlyReply(t, f.say(opUser, "!sync cancel @alice:hs"), "no pending removal")

	must(f.st.PutMember(ctx, plan.ManagedMember{Room: roomA, User: alice}))
	must(f.st.PutPending(ctx, plan.PendingRemoval{Room: roomA, User: alice, DueAt: f.clock.Add(time.Hour), CreatedAt: f.clock, Reason: "left staff"}))
	onlyReply(t, f.say(opUser, "!sync pending"), "1 pending removal", "@alice:hs in !a:hs, due in 1h0m0s")
	must(f.st.PutPending(ctx, plan.PendingRemoval{Room: roomA, User: alice, DueAt: f.clock.Add(time.Hour), CreatedAt: f.clock, Reason: "left staff", AwaitingRead: true}))
	onlyReply(t, f.say(opUser, "!sync pending"), "1 pending removal", "@alice:hs in !a:hs, waiting for a complete read of the room's groups, then a full grace period: left staff")
	onlyReply(t, f.say(opUser, "!sync cancel @alice:hs"), "Cancelled 1 pending removal")
	st, _ := f.st.LoadState(ctx)
	ex, _ = f.bot.Exemptions(ctx)
	if len(st.Pending) != 0 || len(ex) != 1 || !ex[0].UntilBack {
		t.Errorf("after cancel: pending %v, exemptions %+v", st.Pending, ex)
	}
	onlyReply(t, f.say(opUser, "!sync audit @alice:hs"), "@op:hs: cancel @alice:hs", "@op:hs: exempt @alice:hs")
}

func TestHeldBatchConfirmAndReject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	batch := func(users ...id.UserID) plan.HeldBatch {
		var rs []plan.HeldRemoval
		for _, u := range users {
			rs = append(rs, plan.HeldRemoval{Room: roomA, User: u, Action: plan.RemoveKick, Reason: "left staff"})
		}
		return plan.HeldBatch{ID: plan.BatchID(rs), Why: "too many", Removals: rs}
	}
	b1 := batch(alice, "@bob:hs")
	for range 2 {
		if ok, err := f.bot.HoldRemovals(ctx, b1); ok || err != nil {
			t.Fatalf("held batch reported confirmed %v, err %v", ok, err)
		}
	}
	if n := len(f.bot.notices); n != 1 {
		t.Fatalf("%d notices for a batch held twice, want 1", n)
	}
	if n := <-f.bot.notices; !strings.Contains(n.Plain, "confirm "+b1.ID) || !strings.Contains(n.Plain, "kick @alice:hs from !a:hs") {
		t.Errorf("held notice %q", n.Plain)
	}
	onlyReply(t, f.say(opUser, "!sync confirm zzzzzz"), "No held batch")
	onlyReply(t, f.say(opUser, "!sync confirm "+b1.ID), "confirmed")
	if ok, _ := f.bot.HoldRemovals(ctx, b1); !ok || f.cycles.triggered != 1 {
		t.Errorf("after confirm: confirmed %v, triggered %d", ok, f.cycles.triggered)
	}

	b2 := batch(alice)
	if _, err := f.bot.HoldRemovals(ctx, b2); err != nil {
		t.Fatal(err)
	}
	onlyReply(t, f.say(opUser, "!sync reject "+b2.ID), "rejected")
	ex, _ := f.bot.Exemptions(ctx)
	if len(ex) != 1 || ex[0].User != alice || ex[0].Room != roomA || !ex[0].UntilBack {
		t.Errorf("after reject: exemptions %+v", ex)
	}
	onlyReply(t, f.say(opUser, "!sync reject "+b2.ID), "No held batch")
}

func TestMappingsShowOptionsAndSpaceChildren(t *testing.T) {
	f := newFixture(t)
	week := 7 * 24 * time.Hour
	space := id.RoomID("!space:hs")
	f.bot.opts.Policy.Mappings = []plan.Mapping{
		{Group: "staff", Room: space, Method: plan.MethodForce, PowerLevel: 50,
			SpaceOptions: plan.SpaceOptions{IncludeChildren: true, Recursive: true, Exclude: []id.RoomID{"!x:hs"}}},
		{Group: "guests", Room: roomA, Method: plan.MethodInvite, MappingOverrides: plan.MappingOverrides{NoRemove: true}},
		{Group: "alumni", Room: otherRoom, Method: plan.MethodInvite, MappingOverrides: plan.MappingOverrides{RemoveAction: plan.RemoveBan, GracePeriod: &week}},
	}
	r := onlyReply(t, f.say(opUser, "!sync mappings"), "3 mappings",
		"staff → !space:hs (force, power level 50, with its child rooms, recursively, excluding 1 room)",
		"guests → !a:hs (invite, never removes)",
		"alumni → !other:hs (invite, removal: ban after 168h0m0s)")
	if strings.Contains(r.Plain, "child rooms synced") {
		t.Errorf("children listed before any cycle ran: %q", r.Plain)
	}
	f.cycles.last = &reconcile.CycleResult{ID: "c9", Children: map[id.RoomID][]id.RoomID{space: {"!c1:hs", "!c2:hs"}}}
	onlyReply(t, f.say(opUser, "!sync mappings"), "Space !space:hs: 2 child rooms synced by the last full cycle", "!c1:hs", "!c2:hs")
}

func TestDoctorCommand(t *testing.T) {
	f := newFixture(t)
	onlyReply(t, f.say(opUser, "!sync doctor"), "not available")

	ok := false
	f.bot.opts.Doctor = func(context.Context) doctor.Report {
		if ok {
			return doctor.Report{Results: []doctor.Result{
				{Check: "Authentik reachable", Outcome: doctor.Pass, Detail: "https://auth"},
				{Check: "Room <!y:hs>", Outcome: doctor.Pass, Detail: "the bot has level 100"},
			}}
		}
		return doctor.Report{Results: []doctor.Result{
			{Check: "Authentik reachable", Outcome: doctor.Pass, Detail: "https://auth"},
			{Check: "Mapped Matrix IDs", Outcome: doctor.Warn, Detail: "1 of 2 mapped Matrix IDs are not on hs", Hint: "leave user_mapping.server unset"},
			{Check: "Room <!x:hs>", Outcome: doctor.Fail, Detail: "the bot has level 0", Hint: "raise it"},
		}}
	}
	r := onlyReply(t, f.say(opUser, "!sync doctor"), "Doctor: 1 of 3 checks did not pass.", "FAIL Room <!x:hs>: the bot has level 0", "fix: raise it")
	// FAIL first and in bold, then the warning, then the passing checks in a preformatted block.
	fail, warn, pass := strings.Index(r.HTML, "<b>FAIL Room &lt;!x:hs&gt;</b>"), strings.Index(r.HTML, "<b>WARN Mapped Matrix IDs</b>"), strings.Index(r.HTML, "<pre>PASS  Authentik reachable  https://auth</pre>")
	if fail < 0 || warn < fail || pass < warn || strings.Contains(r.HTML, "<code>") {
		t.Errorf("HTML reply not laid out FAIL, WARN, then <pre> PASS lines: %s", r.HTML)
	}
	ok = true
	r = onlyReply(t, f.say(opUser, "!sync doctor"), "Doctor: All 2 checks passed.")
	if !strings.Contains(r.HTML, "<pre>PASS  Authentik reachable  https://auth\nPASS  Room &lt;!y:hs&gt;         the bot has level 100</pre>") {
		t.Errorf("passing checks not aligned in one <pre> block: %s", r.HTML)
	}
	onlyReply(t, f.say(guest, "!sync doctor"), "only the bot's admins")

	entries, err := f.st.Audit(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, e := range entries {
		if e.Command == "doctor" {
			results = append(results, e.Result)
		}
	}
	if len(results) != 2 {
		t.Errorf("audit has %d doctor entries (%v), want 2", len(results), results)
	}
}

// TestPlanAndStatusShowSkipped: what a cycle skips is listed as skipped, with the reason, by
// !sync plan, and counted by !sync status, never promised as an action.
func TestPlanAndStatusShowSkipped(t *testing.T) {
	f := newFixture(t)
	ghost := id.UserID("@ghost:hs")
	f.cycles.plan = plan.Plan{Skipped: []plan.SkippedAction{{Action: plan.Invite{Room: roomA, User: ghost, Reason: "member of Authentik group staff"}, Reason: plan.ReasonNoAccount}}}
	r := onlyReply(t, f.say(opUser, "!sync plan"), "Plan: 0 actions, 1 skipped, 0 warnings", "skipped invite @ghost:hs: no Matrix account yet")
	if strings.Contains(r.Plain, "• invite") {
		t.Errorf("the plan promises the skipped invite: %s", r.Plain)
	}
	f.cycles.last = &reconcile.CycleResult{ID: "c1", Started: f.clock, Done: map[string]int{}, Failed: map[string]int{}, Skipped: map[string]int{"invite": 1}}
	onlyReply(t, f.say(opUser, "!sync status"), "ok (invite skipped 1)")
}

// TestRoomAliasesAndLabels: a room may be given by its alias wherever a room is taken, and
// replies name a mapped room by its configured alias as well as its ID.
func TestRoomAliasesAndLabels(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.bot.opts.RoomName = func(_ context.Context, room id.RoomID) string {
		if room == roomA {
			return "#staff:hs"
		}
		return ""
	}
	f.bot.opts.ResolveRoom = func(_ context.Context, alias string) (id.RoomID, error) {
		if alias == "#staff:hs" {
			return roomA, nil
		}
		return "", errors.New("no such alias on the homeserver")
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.st.PutMember(ctx, plan.ManagedMember{Room: roomA, User: alice}))
	must(f.st.PutPending(ctx, plan.PendingRemoval{Room: roomA, User: alice, DueAt: f.clock.Add(time.Hour), CreatedAt: f.clock, Reason: "left staff"}))
	onlyReply(t, f.say(opUser, "!sync pending"), "@alice:hs in #staff:hs (!a:hs), due in 1h0m0s")
	onlyReply(t, f.say(opUser, "!sync cancel @alice:hs #nope:hs"), "could not look up #nope:hs")
	onlyReply(t, f.say(opUser, "!sync cancel @alice:hs #staff:hs"), "Cancelled 1 pending removal")
	if st, _ := f.st.LoadState(ctx); len(st.Pending) != 0 {
		t.Errorf("pending after cancel by alias: %v", st.Pending)
	}
}
