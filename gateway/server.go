package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

const (
	// RequestBodyBytesMax bounds a request body unless its route sets its
	// own limit (BodyLimit). The largest legitimate one is an SMS webhook of
	// a few kilobytes; anything bigger is a mistake or an attack and is
	// refused with 413 before it is read.
	RequestBodyBytesMax = 64 << 10
	// readHeaderTimeout bounds a client's headers, against slowloris.
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading a whole request; bodies are small.
	readTimeout = 10 * time.Second
	// writeTimeout bounds a handler and its response. A USSD aggregator
	// gives up after about 10 s per hop, so a slower answer is useless.
	writeTimeout = 15 * time.Second
	// idleTimeout bounds an idle keep-alive connection; aggregators and
	// load balancers reuse connections, but idle ones must not pile up.
	idleTimeout = 60 * time.Second
	// headerBytesMax bounds a request's headers.
	headerBytesMax = 16 << 10
	// stackBytesMax bounds the stack logged for a recovered panic.
	stackBytesMax = 4 << 10
)

// New returns an echo instance with Kibubu's middleware, outermost first:
// panic recovery (logged, answered 500), a request id (X-Request-Id, kept
// from the caller when present), request logging to log, and the body
// limit (RequestBodyBytesMax, or the route's own: BodyLimit). The request log has the method, path, route, status, latency,
// size and request id: never a body or a query string.
func New(log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		StackSize: stackBytesMax,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("http handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path,
				"request_id", c.Response().Header().Get(echo.HeaderXRequestID), "err", err, "stack", string(stack))
			return err
		},
	}))
	e.Use(middleware.RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod: true, LogURIPath: true, LogRoutePath: true, LogStatus: true, LogLatency: true,
		LogResponseSize: true, LogRequestID: true, LogRemoteIP: true, LogError: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case v.RoutePath == healthPath || v.RoutePath == readyPath:
				// Probes come every few seconds; they would drown the log,
				// and a failed readiness check logs its own warning.
				level = slog.LevelDebug
			case v.Status >= 500:
				level = slog.LevelError
			}
			attrs := []slog.Attr{
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.String("route", v.RoutePath),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency), slog.Int64("bytes_out", v.ResponseSize),
				slog.String("request_id", v.RequestID), slog.String("remote_ip", v.RemoteIP),
			}
			if v.Error != nil {
				attrs = append(attrs, slog.String("err", v.Error.Error()))
			}
			log.LogAttrs(c.Request().Context(), level, "http request", attrs...)
			return nil
		},
	}))
	e.Use(defaultBodyLimit)
	return e
}

// bodyLimitKey is the echo context key of a request's *limitedBody.
const bodyLimitKey = "gateway.body"

// defaultBodyLimit bounds every request body at RequestBodyBytesMax. It
// runs before a route's own middleware, so it only wraps the body, and a
// route that sets its own limit (BodyLimit, larger or smaller) replaces
// this one before the handler reads. The Content-Length is checked at the
// first read, against the limit then in force.
func defaultBodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody {
			return next(c)
		}
		b := &limitedBody{body: req.Body, length: req.ContentLength, limit: RequestBodyBytesMax}
		req.Body = b
		c.Set(bodyLimitKey, b)
		return next(c)
	}
}

// BodyLimit returns route or group middleware that bounds request bodies
// at limit bytes in place of New's RequestBodyBytesMax, larger or smaller:
// 413 at once when the Content-Length says more, else when more is read.
// Give it before any middleware that reads the body.
func BodyLimit(limit int64) echo.MiddlewareFunc {
	if limit <= 0 {
		panic("gateway: BodyLimit needs a positive limit")
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			// The limit is set before the Content-Length is checked, so that
			// a 413 quotes this route's limit, not the one it replaces.
			if b, ok := c.Get(bodyLimitKey).(*limitedBody); ok && req.Body == b {
				b.limit = limit
			} else if req.Body != nil && req.Body != http.NoBody {
				b := &limitedBody{body: req.Body, length: req.ContentLength, limit: limit}
				req.Body = b
				c.Set(bodyLimitKey, b)
			}
			if req.ContentLength > limit {
				return echo.ErrStatusRequestEntityTooLarge
			}
			return next(c)
		}
	}
}

// limitedBody is a request body that refuses to be read past limit bytes
// with echo.ErrStatusRequestEntityTooLarge (answered 413), as echo's own
// BodyLimit does, but whose limit a route may change until the first read.
type limitedBody struct {
	body   io.ReadCloser
	length int64 // the Content-Length; -1 when unknown
	limit  int64
	read   int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.length > b.limit || b.read > b.limit {
		return 0, echo.ErrStatusRequestEntityTooLarge
	}
	n, err := b.body.Read(p)
	b.read += int64(n)
	if b.read > b.limit {
		return n, echo.ErrStatusRequestEntityTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.body.Close() }

// NewServer returns an http.Server for h with every timeout set. Serve it
// on a listener the caller opened, so a port in use is the caller's error
// at start and tests can listen on port 0.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    headerBytesMax,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
