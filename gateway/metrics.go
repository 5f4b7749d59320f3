package gateway

import (
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kibubu/kibubu/wallet"
)

const metricsPath = "/metrics"

// Metrics is the process's Prometheus registry: the Go runtime and process
// collectors, and the wallet writer's batches.
type Metrics struct {
	reg        *prometheus.Registry
	batchOps   prometheus.Histogram
	batchTime  prometheus.Histogram
	transfers  prometheus.Counter
	rejections prometheus.Counter
	failures   prometheus.Counter
}

// NewMetrics returns a registry with the standard collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		batchOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kibubu_wallet_batch_commands",
			Help:    "Commands per wallet group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 … 1024, the batch bound
		}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kibubu_wallet_batch_seconds",
			Help:    "Time from taking a batch to answering it, commit and retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
		}),
		transfers:  prometheus.NewCounter(prometheus.CounterOpts{Name: "kibubu_wallet_transfers_total", Help: "Transfers posted."}),
		rejections: prometheus.NewCounter(prometheus.CounterOpts{Name: "kibubu_wallet_rejections_total", Help: "Money commands refused (insufficient funds, limits, frozen accounts…)."}),
		failures:   prometheus.NewCounter(prometheus.CounterOpts{Name: "kibubu_wallet_batch_failures_total", Help: "Batches that did not commit; their callers were told to retry."}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.batchOps, m.batchTime, m.transfers, m.rejections, m.failures)
	return m
}

// ObserveBatch records one wallet batch; wire it to wallet.Config.Observe.
func (m *Metrics) ObserveBatch(s wallet.BatchStats) {
	m.batchOps.Observe(float64(s.Ops))
	m.batchTime.Observe(s.Duration.Seconds())
	m.transfers.Add(float64(s.Transfers))
	m.rejections.Add(float64(s.Rejections))
	if s.Failed {
		m.failures.Inc()
	}
}

// MountMetrics mounts GET /metrics in the Prometheus text format.
func MountMetrics(e *echo.Echo, m *Metrics) {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	e.GET(metricsPath, func(c echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
