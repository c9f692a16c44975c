// Package metrics holds the bot's Prometheus metrics: what the reconciler did (it is the
// reconciler's Observer), how the upstream services answered (an http.RoundTripper for the
// Authentik and Matrix clients), backups, leadership and the build. Every Metrics value has its
// own registry, so tests build as many as they like.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"maunium.net/go/mautrix/id"

	"authentik-matrix-sync/reconcile"
)

// Namespace prefixes every metric of this program.
const Namespace = "authentik_matrix_sync"

// Services, as the upstream metrics' service label spells them.
const (
	ServiceAuthentik  = "authentik"
	ServiceHomeserver = "homeserver"
)

// Results of cycles and backups, as their result label spells them.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// ReadBuildInfo fills a BuildInfo from the version the build stamped and the VCS revision the
// Go toolchain recorded, if any.
func ReadBuildInfo(version string) BuildInfo {
	b := BuildInfo{Version: version, Revision: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				b.Revision = s.Value
			}
		}
	}
	return b
}

// Metrics is the set of metrics of one running bot.
type Metrics struct {
	registry *prometheus.Registry

	cycles              *prometheus.CounterVec
	cycleDuration       prometheus.Histogram
	lastSuccess         prometheus.Gauge
	leader              prometheus.Gauge
	actions             *prometheus.CounterVec
	pendingRemovals     *prometheus.GaugeVec
	managedMembers      *prometheus.GaugeVec
	groupMembers        *prometheus.GaugeVec
	usersWithoutAccount prometheus.Gauge
	removalsHeld        prometheus.Gauge
	upstreamRequests    *prometheus.CounterVec
	upstreamDuration    *prometheus.HistogramVec
	backups             *prometheus.CounterVec
	lastBackup          prometheus.Gauge
	faults              faultMetrics

	answers answerTimes
}

// answerTimes is what /ready reads: when each upstream service last answered.
type answerTimes struct {
	sync.Mutex
	at map[string]time.Time
}

var _ reconcile.Observer = (*Metrics)(nil)

// New builds the metrics and registers them, with the Go and process collectors, in a new
// registry.
func New(build BuildInfo) *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	m.answers.at = map[string]time.Time{}
	f := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: Namespace, Name: name, Help: help}
	}
	m.cycles = prometheus.NewCounterVec(prometheus.CounterOpts(f("cycles_total",
		"Reconciliation cycles by result: ok, or failed (the cycle could not run, or an action failed).")), []string{"result"})
	m.cycleDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "cycle_duration_seconds",
		Help: "How long a reconciliation cycle took.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}})
	m.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts(f("last_success_timestamp_seconds",
		"Unix time at which the last fully successful cycle ended.")))
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts(f("leader",
		"1 while this instance is the one that runs cycles, else 0.")))
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts(f("actions_total",
		"Actions applied to rooms, by action, result (ok, failed, skipped) and room.")), []string{"action", "result", "room"})
	m.pendingRemovals = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("pending_removals",
		"Removals waiting for their grace period to end, per mapped room.")), []string{"room"})
	m.managedMembers = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("managed_members",
		"Users the bot manages (saw in a mapped group), per mapped room.")), []string{"room"})
	m.groupMembers = prometheus.NewGaugeVec(prometheus.GaugeOpts(f("group_members",
		"Effective members of each mapped Authentik group, as last read completely.")), []string{"group"})
	m.usersWithoutAccount = prometheus.NewGauge(prometheus.GaugeOpts(f("users_without_matrix_account",
		"Group members the last cycle could not add because they have no Matrix account yet.")))
	m.removalsHeld = prometheus.NewGauge(prometheus.GaugeOpts(f("removals_held",
		"Removals that were due in the last cycle but held back (failed backup or the removal guard).")))
	m.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts(f("upstream_requests_total",
		"HTTP requests to Authentik and the homeserver, by service, endpoint (a route template) and status code (\"error\" when no answer came).")),
		[]string{"service", "endpoint", "code"})
	m.upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "upstream_request_duration_seconds",
		Help: "Duration of HTTP requests to Authentik and the homeserver, by service and endpoint.", Buckets: prometheus.DefBuckets},
		[]string{"service", "endpoint"})
	m.backups = prometheus.NewCounterVec(prometheus.CounterOpts(f("backups_total",
		"State backups taken before removals, by result.")), []string{"result"})
	m.lastBackup = prometheus.NewGauge(prometheus.GaugeOpts(f("last_backup_timestamp_seconds",
		"Unix time of the newest state backup: the newest in the backups directory at start, then each one the bot takes.")))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts(f("build_info",
		"Always 1; the labels say which build runs.")), []string{"version", "revision", "go_version"})
	buildInfo.WithLabelValues(build.Version, build.Revision, build.GoVersion).Set(1)

	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.cycles, m.cycleDuration, m.lastSuccess, m.leader, m.actions, m.pendingRemovals, m.managedMembers,
		m.groupMembers, m.usersWithoutAccount, m.removalsHeld, m.upstreamRequests, m.upstreamDuration,
		m.backups, m.lastBackup, buildInfo)
	m.faults = newFaultMetrics()
	m.registry.MustRegister(m.faults.collectors()...)
	// Series that alerts compute rates of exist from the start, so that the first failure is an
	// increase from zero rather than a new series.
	for _, r := range []string{ResultOK, ResultFailed} {
		m.cycles.WithLabelValues(r)
		m.backups.WithLabelValues(r)
	}
	return m
}

// Registry is where the metrics are registered.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// SetLeader records whether this instance runs the cycles.
func (m *Metrics) SetLeader(leader bool) {
	v := 0.0
	if leader {
		v = 1
	}
	m.leader.Set(v)
}

// actionLabels names the actions counted in actions_total; the store bookkeeping (track, forget)
// is left out, as it changes no room.
var actionLabels = map[string]string{
	"invite": "invite", "force_join": "force_join", "unban": "unban", "kick": "kick", "ban": "ban",
	"cancel_removal": "cancel", "schedule_removal": "schedule",
	"set_power_levels": "set_power_levels",
	// Account writes (the account lifecycle, profile sync) concern no room: their room is "".
	"lock_account": "lock_account", "unlock_account": "unlock_account", "logout": "logout",
	"set_displayname": "set_displayname", "set_avatar": "set_avatar",
}

// ActionFinished counts an applied action.
func (m *Metrics) ActionFinished(kind string, room id.RoomID, result string) {
	if label, ok := actionLabels[kind]; ok {
		m.actions.WithLabelValues(label, result, string(room)).Inc()
	}
}

// CycleFinished records a finished cycle and the figures it left behind.
func (m *Metrics) CycleFinished(res reconcile.CycleResult, st reconcile.CycleStats) {
	result := ResultOK
	if !res.Ok() {
		result = ResultFailed
	}
	m.cycles.WithLabelValues(result).Inc()
	m.cycleDuration.Observe(res.Duration.Seconds())
	m.faults.cycleFinished(res, st)
	if res.Ok() {
		m.lastSuccess.Set(float64(res.Started.Add(res.Duration).UnixMilli()) / 1000)
	}
	if res.Err != nil {
		// Nothing was observed: the figures of the last cycle that ran still stand.
		return
	}
	for group, n := range st.GroupMembers {
		m.groupMembers.WithLabelValues(group).Set(float64(n))
	}
	for room, n := range st.ManagedMembers {
		m.managedMembers.WithLabelValues(string(room)).Set(float64(n))
	}
	for room, n := range st.PendingRemovals {
		m.pendingRemovals.WithLabelValues(string(room)).Set(float64(n))
	}
	m.usersWithoutAccount.Set(float64(st.UsersWithoutAccount))
	m.removalsHeld.Set(float64(st.RemovalsHeld))
}

// LastAnswer is when service last answered a request with a status below 500, or the zero time.
func (m *Metrics) LastAnswer(service string) time.Time {
	m.answers.Lock()
	defer m.answers.Unlock()
	return m.answers.at[service]
}

func (m *Metrics) answered(service string, at time.Time) {
	m.answers.Lock()
	defer m.answers.Unlock()
	if at.After(m.answers.at[service]) {
		m.answers.at[service] = at
	}
}
