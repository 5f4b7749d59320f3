package rules

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kibubu/kibubu/wallet"
)

// Metrics counts the engine's decisions:
// kibubu_rules_decisions_total{rule,outcome} (rule "" for allow).
type Metrics struct {
	decisions *prometheus.CounterVec
	allowed   prometheus.Counter // decisions{rule="",outcome="allow"}: every transfer counts it
}

// NewMetrics returns the engine's collectors; register them with
// Collectors.
func NewMetrics() *Metrics {
	m := &Metrics{decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kibubu_rules_decisions_total",
		Help: "Fraud rule decisions about transfers, by rule (empty when none fired) and outcome.",
	}, []string{"rule", "outcome"})}
	m.allowed = m.decisions.WithLabelValues("", string(wallet.RuleAllow))
	return m
}

// Collectors returns what to register.
func (m *Metrics) Collectors() []prometheus.Collector { return []prometheus.Collector{m.decisions} }

func (m *Metrics) decided(d wallet.RuleDecision) {
	if m == nil {
		return
	}
	if d.Rule == "" {
		m.allowed.Inc()
		return
	}
	m.decisions.WithLabelValues(d.Rule, string(d.Outcome)).Inc()
}
