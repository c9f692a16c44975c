package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

func TestFaultMetricsCountUnreadGroupsAndRooms(t *testing.T) {
	m := New(BuildInfo{Version: "v1", Revision: "abc", GoVersion: "go1"})
	down := reconcile.CycleResult{UnknownGroups: []string{"staff"}, UnreadableRooms: []id.RoomID{roomA},
		Outage: reconcile.OutageAuthentik, NextIn: 2 * time.Minute}
	m.CycleFinished(down, reconcile.CycleStats{})
	m.CycleFinished(down, reconcile.CycleStats{})
	m.CycleFinished(reconcile.CycleResult{NextIn: time.Minute}, reconcile.CycleStats{})
	if got := testutil.ToFloat64(m.faults.groupReadErrors.WithLabelValues("staff")); got != 2 {
		t.Errorf("group_read_errors_total{group=staff} = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.faults.roomReadErrors.WithLabelValues(string(roomA))); got != 2 {
		t.Errorf("room_read_errors_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.faults.nextCycleDelay); got != 60 {
		t.Errorf("next_cycle_delay_seconds = %v, want 60 after recovery", got)
	}
}
