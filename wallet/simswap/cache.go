package simswap

import (
	"container/list"
	"sync"
	"time"
)

// answer is what a network said about a phone: a check's swapped, or a
// retrieve-date's latest change.
type answer struct {
	swapped bool
	latest  time.Time
}

// cache keeps answers for a TTL, at most a fixed number, evicting the
// least recently stored first. A nil *cache keeps nothing.
type cache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	entries map[string]*list.Element
	order   *list.List // of *cacheEntry, oldest at the front
}

type cacheEntry struct {
	key     string
	v       answer
	expires time.Time
}

func newCache(max int, ttl time.Duration) *cache {
	return &cache{max: max, ttl: ttl, entries: map[string]*list.Element{}, order: list.New()}
}

func (c *cache) get(key string, now time.Time) (answer, bool) {
	if c == nil {
		return answer{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return answer{}, false
	}
	return e.v, true
}

func (c *cache) put(key string, v answer, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.Remove(el)
		delete(c.entries, key)
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Front()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.order.PushBack(&cacheEntry{key: key, v: v, expires: now.Add(c.ttl)})
}

// len returns the entries held, expired ones included.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
