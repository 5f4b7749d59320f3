package simswap

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a Checker's Prometheus collectors; register Collectors() on
// the process's registry.
type Metrics struct {
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
}

// NewMetrics returns unregistered collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_simswap_calls_total",
			Help: "Calls to the networks' SIM Swap API, by network, path (or token) and result (2xx, 4xx, 5xx, error: no HTTP answer)."},
			[]string{"network", "path", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kibubu_simswap_call_seconds",
			Help:    "Time to get a SIM-swap answer from a network, token and retry included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 11), // 10 ms … 10 s, the timeout's bound
		}, []string{"network", "path"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_simswap_checks_total",
			Help: "SIM-swap checks, by network, action (pin, transfer, details) and outcome: swapped, not_swapped, cached, " +
				"error (refused: fails closed), error_open (allowed: fails open; alert on it), not_covered."},
			[]string{"network", "action", "outcome"}),
	}
}

// Collectors returns the collectors to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.latency, m.outcomes}
}

// Outcomes is the checks counter, by network, action and outcome.
func (m *Metrics) Outcomes() *prometheus.CounterVec { return m.outcomes }
