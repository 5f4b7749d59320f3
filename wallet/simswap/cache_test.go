package simswap

import (
	"fmt"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := newCache(2, time.Minute)
	now := time.Now()
	c.put("a", answer{swapped: true}, now)
	c.put("b", answer{}, now)
	c.put("c", answer{}, now) // evicts a, the oldest
	for _, tc := range []struct {
		key  string
		at   time.Time
		want bool
	}{
		{"a", now, false},
		{"b", now, true},
		{"c", now.Add(59 * time.Second), true},
		{"c", now.Add(time.Minute), false}, // expired
	} {
		if _, ok := c.get(tc.key, tc.at); ok != tc.want {
			t.Errorf("get(%s) at +%s: got %v; want %v", tc.key, tc.at.Sub(now), ok, tc.want)
		}
	}
	for i := range 10 {
		c.put(fmt.Sprint(i), answer{}, now)
	}
	if n := c.len(); n != 2 {
		t.Errorf("got %d entries; want 2, the bound", n)
	}
	var none *cache
	none.put("a", answer{}, now)
	if _, ok := none.get("a", now); ok {
		t.Error("a nil cache kept an answer")
	}
}
