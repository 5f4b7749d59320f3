package store

import (
	"sync"

	"github.com/kibubu/kibubu/wallet"
)

// accountCache keeps the batch writer's accounts as last committed, so that
// a batch reads from the database only the accounts no batch has touched
// yet. It is valid only where this Store is the database's one writer of
// accounts: SQLite under the data dir's lock (CacheAccounts). Everything
// else that writes an account row in this process drops the row (SetTier)
// or the whole cache (BulkInsert), and a batch that fails drops it too, so
// that the next one reads again what the database holds.
type accountCache struct {
	mu    sync.Mutex
	on    bool
	epoch uint64 // counts the drops: a batch begun before one may not fill the cache
	rows  map[int64]wallet.AccountRecord
}

// CacheAccounts(true) tells the store that it is the only writer of the
// database's accounts (one process, SQLite, the data dir locked): the batch
// writer then keeps the accounts it has read and written in memory and
// reads each one from the database once. It does nothing on PostgreSQL,
// which several wallets may share. CacheAccounts(false) turns it off (a
// second writer is coming) and forgets what it kept.
func (s *Store) CacheAccounts(on bool) {
	if s.pg {
		return
	}
	s.accounts.mu.Lock()
	defer s.accounts.mu.Unlock()
	s.accounts.on = on
	s.accounts.dropLocked()
}

// begin returns the epoch a batch starts in.
func (c *accountCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// get returns a copy of account id's committed state, if cached. The batch
// may change the copy: the cache changes only when the batch commits. (The
// byte slices are shared: the batch replaces them, never writes into them.)
func (c *accountCache) get(id int64) (*wallet.AccountRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return nil, false
	}
	r, ok := c.rows[id]
	if !ok {
		return nil, false
	}
	return &r, true
}

// enabled reports whether the cache is on.
func (c *accountCache) enabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.on
}

// end settles the cache after batch b's transaction: on success its reads
// and writes become the committed state; on failure, or when something
// dropped the cache while b ran, nothing of b's is kept.
func (c *accountCache) end(b *batchTx, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on {
		return
	}
	if err != nil || b.epoch != c.epoch {
		c.dropLocked()
		return
	}
	if c.rows == nil {
		c.rows = map[int64]wallet.AccountRecord{}
	}
	for _, r := range b.read {
		c.rows[r.ID] = r
	}
	for _, a := range b.saved {
		c.rows[a.ID] = *a
	}
}

// drop forgets every account: the next batch reads them again.
func (c *accountCache) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked()
}

func (c *accountCache) dropLocked() {
	c.epoch++
	c.rows = nil
}
