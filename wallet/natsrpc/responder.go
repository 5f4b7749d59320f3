package natsrpc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/kibubu/kibubu/wallet"
)

// Responder answers the requests of a micro service, so that one client
// side (Request) reads every Kibubu service: the wallet's, and the
// notifier's webhooks.
//
// micro times a request and counts its refusal while the endpoint's
// handler runs: it reads what the handler answered through micro's own
// Request once the handler returns, and nothing later. The wallet's
// handlers return at once and answer later (a transfer from the writer's
// goroutine once its batch commits, a read from a goroutine of its own)
// so that the subscription keeps taking requests; a handler that waited
// for its answer would serve one request at a time per endpoint and undo
// the writer's group commit. So a Responder answers through micro's
// Request while micro's handler still runs (micro then counts it and its
// processing time covers the work), and on the reply subject once it has
// returned, which micro never sees. Its own statistics count every
// answer from the handler's start to the answer sent (EndpointStats): give
// them to micro.Config.StatsHandler, and the service's STATS show them
// under each endpoint's data.
type Responder struct {
	nc  *nats.Conn
	log *slog.Logger
	sem chan struct{} // a slot per Async handler running

	mu    sync.Mutex
	stats map[string]*AnswerStats // by endpoint subject
}

// AnswerStats are an endpoint's answers as the Responder counts them,
// under the names micro gives its own: every answer, refusals and all,
// from the moment the endpoint's handler was called to the answer sent.
type AnswerStats struct {
	NumAnswers            int           `json:"num_answers"`
	NumErrors             int           `json:"num_errors"`
	LastError             string        `json:"last_error,omitempty"`
	ProcessingTime        time.Duration `json:"processing_time"`
	AverageProcessingTime time.Duration `json:"average_processing_time"`
}

// NewResponder returns a Responder that answers on nc, logs to log
// (slog.Default when nil) and runs at most handlersMax Async handlers at
// once (at least one).
func NewResponder(nc *nats.Conn, log *slog.Logger, handlersMax int) *Responder {
	if log == nil {
		log = slog.Default()
	}
	return &Responder{nc: nc, log: log, sem: make(chan struct{}, max(handlersMax, 1)), stats: map[string]*AnswerStats{}}
}

// Handle returns h as the handler of the endpoint on subject: it times
// each request from this call to its answer (Respond), and lets Respond
// answer through micro's Request while h has not returned. Register every
// endpoint's handler through it.
func (rs *Responder) Handle(subject string, h micro.HandlerFunc) micro.HandlerFunc {
	rs.mu.Lock()
	st := rs.stats[subject]
	if st == nil {
		st = &AnswerStats{}
		rs.stats[subject] = st
	}
	rs.mu.Unlock()
	return func(r micro.Request) {
		t := &timedRequest{Request: r, start: time.Now(), stats: st}
		h(t)
		// Once micro's handler returns, micro has read what it will;
		// a later answer must not touch its Request.
		t.mu.Lock()
		t.returned = true
		t.mu.Unlock()
	}
}

// EndpointStats returns the Responder's AnswerStats of e, for
// micro.Config.StatsHandler; nil for an endpoint not registered with
// Handle.
func (rs *Responder) EndpointStats(e *micro.Endpoint) any {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	st, ok := rs.stats[e.Subject]
	if !ok {
		return nil
	}
	return *st
}

// timedRequest is a request as Handle passes it on.
type timedRequest struct {
	micro.Request
	start time.Time
	stats *AnswerStats

	mu       sync.Mutex
	returned bool // micro's handler has returned
}

// Recorded is a request whose answer its service records before it goes
// out (the wallet's audit log wraps operator requests so).
type Recorded interface {
	micro.Request
	// Record records the answer; Respond calls it off the caller's
	// goroutine (the writer's, say), then answers Original.
	Record(v any, err error)
	Original() micro.Request
}

// Async returns a handler that runs h on its own goroutine, with a context
// that ends after timeout, and answers with what h returns. Handlers that
// wait for a database or another service use it so as not to hold up the
// subscription; while all the Responder's slots are taken, the subscription
// waits for one.
func (rs *Responder) Async(timeout time.Duration, h func(context.Context, micro.Request) (any, error)) micro.HandlerFunc {
	return func(r micro.Request) {
		rs.sem <- struct{}{}
		go func() {
			defer func() { <-rs.sem }()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			v, err := h(ctx, r)
			rs.Respond(r, v, err)
		}()
	}
}

// Respond answers r with v as JSON, or with err as a coded micro error: the
// code and message in micro's error headers, and the *wallet.Error as JSON
// body, which Request reads back. It may be called from any goroutine, once
// per request. An error that is not a *wallet.Error is an outage or a bug:
// it is logged here, and the caller sees only CodeUnavailable (retry with
// the same key) or CodeInternal.
func (rs *Responder) Respond(r micro.Request, v any, err error) {
	if rec, ok := r.(Recorded); ok {
		go func() {
			rec.Record(v, err)
			rs.send(rec.Original(), v, err)
		}()
		return
	}
	rs.send(r, v, err)
}

func (rs *Responder) send(r micro.Request, v any, err error) {
	if r.Reply() == "" {
		return
	}
	var data []byte
	var code, message string
	if err != nil {
		we, bug := AsWalletError(err)
		if bug {
			rs.log.Error("request failed", "subject", r.Subject(), "err", err)
		} else if outage(err) {
			rs.log.Warn("request failed: a dependency is unavailable", "subject", r.Subject(), "err", err)
		}
		code, message = string(we.Code), we.Message
		if message == "" {
			message = code // micro refuses an error without a description
		}
		data, _ = json.Marshal(we)
	} else if data, err = json.Marshal(v); err != nil {
		code, message, data = string(wallet.CodeInternal), "cannot encode the reply", nil
	}
	t, timed := r.(*timedRequest)
	if !timed {
		rs.publish(r, code, message, data)
		return
	}
	// Counted before it is sent, so that a caller who has its answer
	// finds it in the statistics.
	rs.mu.Lock()
	st := t.stats
	st.NumAnswers++
	st.ProcessingTime += time.Since(t.start)
	st.AverageProcessingTime = st.ProcessingTime / time.Duration(st.NumAnswers)
	if code != "" {
		st.NumErrors++
		st.LastError = code + ":" + message
	}
	rs.mu.Unlock()
	t.mu.Lock()
	if t.returned {
		rs.publish(r, code, message, data)
	} else {
		// micro's handler still runs: micro counts what its Request sends.
		var sendErr error
		if code != "" {
			sendErr = t.Request.Error(code, message, data)
		} else {
			sendErr = t.Request.Respond(data)
		}
		if sendErr != nil {
			rs.log.Warn("reply not sent", "subject", r.Subject(), "err", sendErr)
		}
	}
	t.mu.Unlock()
}

// publish answers r on its reply subject, as micro's Request would.
func (rs *Responder) publish(r micro.Request, code, message string, data []byte) {
	m := nats.NewMsg(r.Reply())
	if code != "" {
		m.Header.Set(micro.ErrorCodeHeader, code)
		m.Header.Set(micro.ErrorHeader, message)
	}
	m.Data = data
	if err := rs.nc.PublishMsg(m); err != nil {
		rs.log.Warn("reply not sent", "subject", r.Subject(), "err", err)
	}
}
