package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"authentik-matrix-sync/reconcile"
)

// faultMetrics follow what a cycle could not read and how long the reconciler waits before
// the next cycle, so that an outage shows as a number rather than only as log lines.
type faultMetrics struct {
	groupReadErrors *prometheus.CounterVec
	roomReadErrors  *prometheus.CounterVec
	nextCycleDelay  prometheus.Gauge
}

func newFaultMetrics() faultMetrics {
	return faultMetrics{
		groupReadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "group_read_errors_total",
			Help: "Cycles in which a mapped Authentik group could not be read completely (nobody is removed on its account)."}, []string{"group"}),
		roomReadErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "room_read_errors_total",
			Help: "Cycles in which a mapped room's state could not be read (the room is skipped)."}, []string{"room"}),
		nextCycleDelay: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "next_cycle_delay_seconds",
			Help: "Wait before the next scheduled cycle: the sync interval, or longer while backing off from a failing upstream."}),
	}
}

func (f faultMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.groupReadErrors, f.roomReadErrors, f.nextCycleDelay}
}

// cycleFinished counts what the cycle could not read. The series of every group and room read
// so far exist from then on at their count, so an alert sees the first failure as an increase.
func (f faultMetrics) cycleFinished(res reconcile.CycleResult, st reconcile.CycleStats) {
	for g := range st.GroupMembers {
		f.groupReadErrors.WithLabelValues(g)
	}
	for r := range st.ManagedMembers {
		f.roomReadErrors.WithLabelValues(string(r))
	}
	for _, g := range res.UnknownGroups {
		f.groupReadErrors.WithLabelValues(g).Inc()
	}
	for _, r := range res.UnreadableRooms {
		f.roomReadErrors.WithLabelValues(string(r)).Inc()
	}
	if res.NextIn > 0 {
		f.nextCycleDelay.Set(res.NextIn.Seconds())
	}
}
