package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kibubu/kibubu/deploy/bench"
)

// startLoadBench is bench.Serve: kibubu serve on a temporary data dir
// (embedded NATS, SQLite, HTTP on a free loopback port) as the target of
// the HTTP load bench name; stop closes it and removes the dir.
func startLoadBench(ctx context.Context, name string, stderr io.Writer) (t bench.Target, stop func() error, err error) {
	dir, err := os.MkdirTemp("", "kibubu-bench-"+name+"-")
	if err != nil {
		return t, nil, err
	}
	c := DefaultConfig()
	c.Data, c.HTTP = dir, "127.0.0.1:0"
	// A load bench prompts a few customers as fast as it can: the limits
	// that protect customers from prompt-bombing would only measure
	// themselves.
	c.PromptsPerPhone, c.PromptsPerPair, c.PromptsPerMerchant = -1, -1, -1
	m := &Main{Config: c, Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	if err := m.Run(ctx); err != nil {
		os.RemoveAll(dir)
		return t, nil, fmt.Errorf("bench %s: %w", name, err)
	}
	t = bench.Target{Addr: m.HTTPAddr(), Conn: m.Conn(), Currency: m.Config.currency}
	return t, func() error {
		defer os.RemoveAll(dir)
		if err := m.Close(); err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		return nil
	}, nil
}
