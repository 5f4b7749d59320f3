package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// tcpProxy forwards a loopback port to target; cut drops every connection
// and stops listening, as a database host that went away; restore listens
// on the same port again.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	p.addr = p.ln.Addr().String()
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *tcpProxy) restore() { p.listen(p.addr) }

// awaitNotReady polls url until it answers 503 naming check, failing the
// test after readyWait.
func awaitNotReady(t *testing.T, url, check string) {
	t.Helper()
	deadline := time.Now().Add(readyWait)
	for {
		code, body := get(t, url)
		if code == http.StatusServiceUnavailable && strings.Contains(body, `"`+check+`"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %s after %s, want 503 naming %s", url, code, body, readyWait, check)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadyzFollowsDependencies checks that a wallet's /readyz answers 503
// while NATS or the database is unreachable and 200 again once they are
// back, without a restart: NATS is an in-process server shut down and
// started again on its port; PostgreSQL is reached through a proxy that is
// cut and restored (SQLite, a file, only has the ping checked).
func TestReadyzFollowsDependencies(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) (string, *tcpProxy)
	}{
		{"sqlite", func(t *testing.T) (string, *tcpProxy) { return storetest.SQLite(t), nil }},
		{"postgres", func(t *testing.T) (string, *tcpProxy) {
			u, err := url.Parse(storetest.Postgres(t))
			if err != nil {
				t.Fatal(err)
			}
			p := newTCPProxy(t, u.Host)
			u.Host = p.addr
			return u.String(), p
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			dsn, proxy := db.dsn(t)
			opts := natsserver.Options{Listen: "127.0.0.1:0", StoreDir: t.TempDir()}
			ns := startNATS(t, opts)
			opts.Listen = ns.Addr().String() // the restart takes the same port
			c := testConfig(t, dsn)
			c.NATS = ns.ClientURL()
			m := startMain(t, &Main{Config: c, Role: RoleWallet})
			readyz := "http://" + m.HTTPAddr() + "/readyz"
			awaitReady(t, readyz)

			ns.Shutdown()
			ns.WaitForShutdown()
			awaitNotReady(t, readyz, "nats")
			startNATS(t, opts)
			awaitReady(t, readyz)

			if proxy != nil {
				proxy.cut()
				awaitNotReady(t, readyz, "database")
				proxy.restore()
				awaitReady(t, readyz)
			}
			select {
			case err := <-m.Failed():
				t.Errorf("the wallet stopped during the outages: %v", err)
			default:
			}
		})
	}
}

func startNATS(t *testing.T, opts natsserver.Options) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	return ns
}
