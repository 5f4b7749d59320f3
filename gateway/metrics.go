package gateway

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kibubu/kibubu/sessions"
	"github.com/kibubu/kibubu/wallet"
)

const metricsPath = "/metrics"

// Metrics is the process's Prometheus registry: the Go runtime and process
// collectors, the wallet writer's batches, the USSD hops, the SMS webhooks
// and the notifier's sends.
type Metrics struct {
	reg        *prometheus.Registry
	batchOps   prometheus.Histogram
	batchTime  prometheus.Histogram
	transfers  prometheus.Counter
	rejections prometheus.Counter
	failures   prometheus.Counter
	pins       *prometheus.CounterVec
	hops       *prometheus.CounterVec
	hopTime    *prometheus.HistogramVec
	ends       *prometheus.CounterVec
	smsHooks   *prometheus.CounterVec
	smsTime    *prometheus.HistogramVec
	smsSent    *prometheus.CounterVec
	smsCall    *prometheus.HistogramVec
	hooksSent  *prometheus.CounterVec
	hookCall   prometheus.Histogram
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
		pins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_wallet_pin_failures_total",
			Help: "Wrong PINs and start keys (result wrong) and PIN checks refused because their source spent its wrong-PIN budget (result refused), by channel (ussd, sms, api, unattributed)."},
			[]string{"channel", "result"}),
		hops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_ussd_hops_total",
			Help: "USSD hops answered, by aggregator and result: continue (a screen waiting for input), end, or bad (a refused request)."},
			[]string{"aggregator", "result"}),
		hopTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kibubu_ussd_hop_seconds",
			Help:    "Time the session engine took to answer a hop, wallet calls included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms … 8 s; aggregators give up at 15 s
		}, []string{"aggregator"}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_ussd_session_ends_total",
			Help: "End-of-session notices from aggregators, by aggregator and their status (Success, Incomplete, Failed, timeout…)."},
			[]string{"aggregator", "status"}),
		smsHooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_sms_webhooks_total",
			Help: "SMS webhooks answered, by provider, webhook (message, status) and result (reply, silent, report, ignored, bad, forbidden, failed)."},
			[]string{"provider", "webhook", "result"}),
		smsTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kibubu_sms_webhook_seconds",
			Help:    "Time to answer an SMS webhook, engine and notifier included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms … 8 s; Twilio gives up at 15 s
		}, []string{"provider", "webhook"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.batchOps, m.batchTime, m.transfers, m.rejections, m.failures, m.pins, m.hops, m.hopTime, m.ends)
	m.smsSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_sms_sends_total",
		Help: "Outcomes of the notifier's attempts to send an SMS, by provider (twilio, outbox) and result (sent, reconciled, retry, doubt, failed, throttled, lost)."},
		[]string{"provider", "result"})
	m.smsCall = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kibubu_sms_provider_seconds",
		Help:    "Time one call to the SMS provider took.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms … 16 s
	}, []string{"provider"})
	m.reg.MustRegister(m.smsHooks, m.smsTime, m.smsSent, m.smsCall)
	m.hooksSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kibubu_webhook_deliveries_total",
		Help: "Outcomes of the notifier's webhook POSTs to merchants, by result (delivered, retry, failed, lost)."},
		[]string{"result"})
	m.hookCall = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kibubu_webhook_seconds",
		Help:    "Time one webhook POST took, to the last byte of the merchant's answer.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15), // 1 ms … 16 s
	})
	m.reg.MustRegister(m.hooksSent, m.hookCall)
	return m
}

// Register adds collectors of another part of the process (the SIM-swap
// checker's) to the registry.
func (m *Metrics) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// ObserveWebhook records one outcome of the notifier's webhook sender; wire
// it to notify.WebhookSenderConfig.Observe.
func (m *Metrics) ObserveWebhook(result string, took time.Duration) {
	m.hooksSent.WithLabelValues(result).Inc()
	if took > 0 {
		m.hookCall.Observe(took.Seconds())
	}
}

// ObserveSMSSend records one outcome of the notifier's sender; wire it to
// notify.SenderConfig.Observe. took is 0 when no provider call was made.
func (m *Metrics) ObserveSMSSend(provider, result string, took time.Duration) {
	m.smsSent.WithLabelValues(provider, result).Inc()
	if took > 0 {
		m.smsCall.WithLabelValues(provider).Observe(took.Seconds())
	}
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

// ObservePIN records a wrong or refused PIN check; wire it to
// wallet.Config.ObservePIN.
func (m *Metrics) ObservePIN(channel, result string) { m.pins.WithLabelValues(channel, result).Inc() }

// ObserveUSSD returns u counting its hops and their latency, and the
// aggregators' end-of-session notices.
func (m *Metrics) ObserveUSSD(u USSD) USSD { return observedUSSD{u, m} }

type observedUSSD struct {
	u USSD
	m *Metrics
}

// statusLabelBytesMax bounds an aggregator's status as a label value: the
// statuses are short words, and a label must not carry arbitrary input.
const statusLabelBytesMax = 16

func (o observedUSSD) Hop(ctx context.Context, h sessions.Hop) (sessions.Screen, error) {
	start := time.Now()
	s, err := o.u.Hop(ctx, h)
	result := "continue"
	switch {
	case err != nil:
		result = "bad"
	case s.End:
		result = "end"
	}
	o.m.hops.WithLabelValues(h.Aggregator, result).Inc()
	o.m.hopTime.WithLabelValues(h.Aggregator).Observe(time.Since(start).Seconds())
	return s, err
}

func (o observedUSSD) End(ctx context.Context, e sessions.End) {
	status := e.Status
	if len(status) > statusLabelBytesMax || !isLabelWord(status) {
		status = "other"
	}
	o.m.ends.WithLabelValues(e.Aggregator, status).Inc()
	o.u.End(ctx, e)
}

// isLabelWord reports whether s is a plain word fit for a label value.
func isLabelWord(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return s != ""
}

// MountMetrics mounts GET /metrics in the Prometheus text format.
func MountMetrics(e *echo.Echo, m *Metrics) {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	e.GET(metricsPath, func(c echo.Context) error {
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}

// ObserveSMS records one SMS webhook's outcome; wire it to
// SMSConfig.Observe. Its labels come from the adapters' own constants,
// never from a request.
func (m *Metrics) ObserveSMS(o SMSOutcome) {
	m.smsHooks.WithLabelValues(o.Provider, o.Webhook, o.Result).Inc()
	m.smsTime.WithLabelValues(o.Provider, o.Webhook).Observe(o.Duration.Seconds())
}
