package webhook

import (
	"github.com/prometheus/client_golang/prometheus"

	"authentik-matrix-sync/metrics"
)

// Results of a webhook call, as the requests metric labels them.
const (
	ResultAccepted     = "accepted"
	ResultUnauthorized = "unauthorized"
	ResultTooLarge     = "too_large"
	ResultBadMethod    = "method_not_allowed"
	ResultDisabled     = "disabled"
	ResultUnreadable   = "unreadable"
)

// Metrics counts webhook calls.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics declares authentik_matrix_sync_webhook_requests_total{result} and registers it in
// reg. A nil *Metrics counts nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace,
		Name: "webhook_requests_total",
		Help: "Calls to the Authentik webhook by result: accepted, unauthorized, too_large, method_not_allowed, disabled, unreadable."},
		[]string{"result"})}
	for _, r := range []string{ResultAccepted, ResultUnauthorized} {
		m.requests.WithLabelValues(r)
	}
	reg.MustRegister(m.requests)
	return m
}

func (m *Metrics) count(result string) {
	if m != nil {
		m.requests.WithLabelValues(result).Inc()
	}
}
