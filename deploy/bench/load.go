package bench

import (
	"context"
	"sync"
	"time"
)

// loadResult is what a load's clients did.
type loadResult struct {
	n       int64 // what the ops counted: calls, or hops
	elapsed time.Duration
	latency latencyHistogram
	err     error // the first op's error
}

// load runs op from clients goroutines for duration: worker w calls
// op(ctx, w, i, h) for i = 0, 1, 2, … until the time is up, ctx ends or
// op fails. op records its latencies in h, its worker's own histogram, and
// returns what it counts (1 a call, or a session's hops). A call under way
// when the time is up finishes and counts in the elapsed time: cutting it
// off would log a cancelled request as a failure.
func load(ctx context.Context, clients int, duration time.Duration, op func(ctx context.Context, w, i int, h *latencyHistogram) (int64, error)) *loadResult {
	res := &loadResult{}
	var mu sync.Mutex
	start := time.Now()
	end := start.Add(duration)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h latencyHistogram
			var n int64
			var err error
			for i := 0; ctx.Err() == nil && time.Now().Before(end); i++ {
				var k int64
				k, err = op(ctx, w, i, &h)
				n += k
				if err != nil {
					break
				}
			}
			mu.Lock()
			res.latency.merge(&h)
			res.n += n
			if res.err == nil {
				res.err = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
