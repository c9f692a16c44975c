package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

const roomA = id.RoomID("!a:example.org")

func TestRoute(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/api/v3/core/users/", "/api/v3/core/users/"},
		{"/authentik/api/v3/core/groups/", "/api/v3/core/groups/"},
		{"/api/v3/core/groups/5b4c1a7e-0000-4000-8000-000000000001/", "/api/v3/core/groups/{uuid}/"},
		{"/_matrix/client/v3/rooms/%21abc:example.org/state", "/_matrix/client/v3/rooms/{roomId}/state"},
		{"/_matrix/client/v3/rooms/!abc:example.org/kick", "/_matrix/client/v3/rooms/{roomId}/kick"},
		{"/_matrix/client/v3/profile/@alice:example.org", "/_matrix/client/v3/profile/{userId}"},
		{"/_matrix/client/v3/directory/room/%23staff:example.org", "/_matrix/client/v3/directory/room/{roomAlias}"},
		{"/_synapse/admin/v2/users/@alice:example.org", "/_synapse/admin/v2/users/{userId}"},
		{"/_synapse/admin/v1/join/!abc:example.org", "/_synapse/admin/v1/join/{roomIdOrAlias}"},
		{"/_matrix/client/v1/appservice/authentik-sync/ping", "/_matrix/client/v1/appservice/{appserviceId}/ping"},
		{"/_matrix/client/v3/rooms/!abc:example.org/send/m.room.message/txn1", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}"},
		{"/_matrix/client/v3/rooms//kick", "other"},
		{"/_matrix/client/v3/somewhere/@alice:example.org", "other"},
		{"/", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := Route(tt.path); got != tt.want {
				t.Errorf("Route(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	for _, r := range routes {
		if strings.ContainsAny(r, "@!#$") {
			t.Errorf("route %q holds an ID", r)
		}
	}
}

func TestTransportCountsAndRemembersAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/kick") {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusForbidden)
	}))
	m := New(BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1"})
	client := &http.Client{Transport: m.Transport(ServiceHomeserver, nil)}
	get := func(url string) error {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return err
	}

	if !m.LastAnswer(ServiceHomeserver).IsZero() {
		t.Fatal("answered before any request")
	}
	if err := get(srv.URL + "/_matrix/client/v3/rooms/!x:hs/kick"); err != nil {
		t.Fatal(err)
	}
	if !m.LastAnswer(ServiceHomeserver).IsZero() {
		t.Error("a 502 counted as an answer")
	}
	before := time.Now()
	for range 2 {
		if err := get(srv.URL + "/_matrix/client/v3/profile/@alice:hs"); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.LastAnswer(ServiceHomeserver); got.Before(before) {
		t.Errorf("LastAnswer = %v, want after %v", got, before)
	}
	srv.Close()
	if err := get(srv.URL + "/_matrix/client/v3/account/whoami"); err == nil {
		t.Fatal("request to a closed server succeeded")
	}

	want := `
# HELP authentik_matrix_sync_upstream_requests_total HTTP requests to Authentik and the homeserver, by service, endpoint (a route template) and status code ("error" when no answer came).
# TYPE authentik_matrix_sync_upstream_requests_total counter
authentik_matrix_sync_upstream_requests_total{code="403",endpoint="/_matrix/client/v3/profile/{userId}",service="homeserver"} 2
authentik_matrix_sync_upstream_requests_total{code="502",endpoint="/_matrix/client/v3/rooms/{roomId}/kick",service="homeserver"} 1
authentik_matrix_sync_upstream_requests_total{code="error",endpoint="/_matrix/client/v3/account/whoami",service="homeserver"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "authentik_matrix_sync_upstream_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.upstreamDuration); n != 3 {
		t.Errorf("%d duration series, want 3", n)
	}
}

func TestObserverMovesCycleAndActionMetrics(t *testing.T) {
	m := New(BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1"})
	m.ActionFinished("invite", roomA, reconcile.ResultOK)
	m.ActionFinished("invite", roomA, reconcile.ResultOK)
	m.ActionFinished("kick", roomA, reconcile.ResultFailed)
	m.ActionFinished("cancel_removal", roomA, reconcile.ResultOK)
	m.ActionFinished("track", roomA, reconcile.ResultOK) // bookkeeping: not counted

	end := time.Unix(1700000010, 0)
	ok := reconcile.CycleResult{Started: end.Add(-2 * time.Second), Duration: 2 * time.Second}
	m.CycleFinished(ok, reconcile.CycleStats{GroupMembers: map[string]int{"staff": 3},
		ManagedMembers: map[id.RoomID]int{roomA: 3}, PendingRemovals: map[id.RoomID]int{roomA: 1},
		UsersWithoutAccount: 2, RemovalsHeld: 1})
	failed := reconcile.CycleResult{Started: end, Err: errors.New("store down")}
	m.CycleFinished(failed, reconcile.CycleStats{UsersWithoutAccount: 9}) // ignored: nothing was observed
	m.SetLeader(true)

	want := `
# HELP authentik_matrix_sync_actions_total Actions applied to rooms, by action, result (ok, failed, skipped) and room.
# TYPE authentik_matrix_sync_actions_total counter
authentik_matrix_sync_actions_total{action="cancel",result="ok",room="!a:example.org"} 1
authentik_matrix_sync_actions_total{action="invite",result="ok",room="!a:example.org"} 2
authentik_matrix_sync_actions_total{action="kick",result="failed",room="!a:example.org"} 1
# HELP authentik_matrix_sync_cycles_total Reconciliation cycles by result: ok, or failed (the cycle could not run, or an action failed).
# TYPE authentik_matrix_sync_cycles_total counter
authentik_matrix_sync_cycles_total{result="failed"} 1
authentik_matrix_sync_cycles_total{result="ok"} 1
# HELP authentik_matrix_sync_last_success_timestamp_seconds Unix time at which the last fully successful cycle ended.
# TYPE authentik_matrix_sync_last_success_timestamp_seconds gauge
authentik_matrix_sync_last_success_timestamp_seconds 1.70000001e+09
# HELP authentik_matrix_sync_group_members Effective members of each mapped Authentik group, as last read completely.
# TYPE authentik_matrix_sync_group_members gauge
authentik_matrix_sync_group_members{group="staff"} 3
# HELP authentik_matrix_sync_managed_members Users the bot manages (saw in a mapped group), per mapped room.
# TYPE authentik_matrix_sync_managed_members gauge
authentik_matrix_sync_managed_members{room="!a:example.org"} 3
# HELP authentik_matrix_sync_pending_removals Removals waiting for their grace period to end, per mapped room.
# TYPE authentik_matrix_sync_pending_removals gauge
authentik_matrix_sync_pending_removals{room="!a:example.org"} 1
# HELP authentik_matrix_sync_users_without_matrix_account Group members the last cycle could not add because they have no Matrix account yet.
# TYPE authentik_matrix_sync_users_without_matrix_account gauge
authentik_matrix_sync_users_without_matrix_account 2
# HELP authentik_matrix_sync_removals_held Removals that were due in the last cycle but held back (failed backup or the removal guard).
# TYPE authentik_matrix_sync_removals_held gauge
authentik_matrix_sync_removals_held 1
# HELP authentik_matrix_sync_leader 1 while this instance is the one that runs cycles, else 0.
# TYPE authentik_matrix_sync_leader gauge
authentik_matrix_sync_leader 1
# HELP authentik_matrix_sync_build_info Always 1; the labels say which build runs.
# TYPE authentik_matrix_sync_build_info gauge
authentik_matrix_sync_build_info{go_version="go1",revision="abc",version="v1"} 1
`
	names := []string{"actions_total", "cycles_total", "last_success_timestamp_seconds", "group_members", "managed_members",
		"pending_removals", "users_without_matrix_account", "removals_held", "leader", "build_info"}
	for i := range names {
		names[i] = Namespace + "_" + names[i]
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.cycleDuration); n != 1 {
		t.Errorf("cycle duration: %d series", n)
	}
}

type fakeBackuper struct{ err error }

func (f fakeBackuper) Backup(context.Context) (string, error) { return "b.db", f.err }

func TestCountBackups(t *testing.T) {
	m := New(BuildInfo{})
	good, bad := m.CountBackups(fakeBackuper{}), m.CountBackups(fakeBackuper{err: errors.New("disk full")})
	if _, err := good.Backup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Backup(context.Background()); err == nil {
		t.Fatal("the wrapper hid the error")
	}
	_, _ = bad.Backup(context.Background())
	if ok, failed := testutil.ToFloat64(m.backups.WithLabelValues(ResultOK)), testutil.ToFloat64(m.backups.WithLabelValues(ResultFailed)); ok != 1 || failed != 2 {
		t.Errorf("backups ok=%v failed=%v, want 1 and 2", ok, failed)
	}
	if ts := testutil.ToFloat64(m.lastBackup); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last backup timestamp %v", ts)
	}
}

// TestExpositionLints checks every metric against Prometheus' naming and help conventions, the
// way `promtool check metrics` does, after each kind has been moved at least once.
func TestExpositionLints(t *testing.T) {
	m := New(ReadBuildInfo("test"))
	m.ActionFinished("invite", roomA, reconcile.ResultOK)
	m.CycleFinished(reconcile.CycleResult{Started: time.Now()}, reconcile.CycleStats{GroupMembers: map[string]int{"g": 1},
		ManagedMembers: map[id.RoomID]int{roomA: 1}, PendingRemovals: map[id.RoomID]int{roomA: 0}})
	_, _ = m.CountBackups(fakeBackuper{}).Backup(context.Background())
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	_, _ = (&http.Client{Transport: m.Transport(ServiceAuthentik, nil)}).Get(srv.URL + "/api/v3/core/users/")

	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"go_goroutines", "process_start_time_seconds", Namespace + "_build_info{", Namespace + "_upstream_request_duration_seconds_bucket{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

func TestServedUsForReadiness(t *testing.T) {
	for _, tc := range []struct {
		service string
		status  int
		want    bool
	}{
		{ServiceAuthentik, 200, true},
		{ServiceAuthentik, 404, true},
		{ServiceAuthentik, 401, false},
		{ServiceAuthentik, 403, false}, // a revoked token: Authentik is not serving the bot
		{ServiceAuthentik, 503, false},
		{ServiceHomeserver, 200, true},
		{ServiceHomeserver, 403, true}, // M_FORBIDDEN about one room is still an answer
		{ServiceHomeserver, 429, true},
		{ServiceHomeserver, 401, false}, // M_UNKNOWN_TOKEN
		{ServiceHomeserver, 500, false},
	} {
		if got := servedUs(tc.service, tc.status); got != tc.want {
			t.Errorf("servedUs(%s, %d) = %v, want %v", tc.service, tc.status, got, tc.want)
		}
	}
}
