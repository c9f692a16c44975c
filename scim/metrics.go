package scim

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"authentik-matrix-sync/metrics"
)

// Metrics counts SCIM requests.
type Metrics struct {
	requests *prometheus.CounterVec
}

// NewMetrics declares authentik_matrix_sync_scim_requests_total{resource,method,code} and
// registers it in reg. A nil *Metrics counts nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace,
		Name: "scim_requests_total",
		Help: "Requests to the SCIM receiver by resource (Users, Groups, ServiceProviderConfig, ResourceTypes, Schemas, other), HTTP method and status code."},
		[]string{"resource", "method", "code"})}
	reg.MustRegister(m.requests)
	return m
}

func (m *Metrics) count(resource, method string, code int) {
	if m == nil {
		return
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		method = "other"
	}
	m.requests.WithLabelValues(resource, method, strconv.Itoa(code)).Inc()
}
