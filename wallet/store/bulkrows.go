package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/kibubu/kibubu/wallet"
)

// BulkRowsConfig says which transfers BulkRows builds.
type BulkRowsConfig struct {
	// Kind is wallet.TransferSend (between random Customers) or
	// wallet.TransferWithdraw (from a random customer to Agent).
	Kind      wallet.TransferKind
	Customers []int64 // account ids
	Agent     int64   // the target of every withdrawal
	Tariff    wallet.Tariff
	// AmountMin and AmountMax bound each transfer's random amount, in
	// minor units; the tariff must have a band for each.
	AmountMin, AmountMax int64
}

// BulkRows builds batches of transfers with every row the batch writer
// writes for them (the transfer, its postings with their balances after,
// its outbox event, the accounts' new balances) for BulkInsert: the
// storage limit the benchmark compares the wallet with. The legs and the
// events come from the ledger's own code (wallet.Postings,
// wallet.NewOutboxEvent), and the rows continue the ledger from its real
// balances, so the ledger check covers them.
type BulkRows struct {
	cfg        BulkRowsConfig
	customers  []*wallet.AccountRecord
	agent      *wallet.AccountRecord
	fees       *wallet.AccountRecord
	commission *wallet.AccountRecord
	rng        *mrand.Rand
	run        string // the idempotency keys' prefix
	n          uint64 // transfers built
}

// ErrBulkRowsFunds is Next's error when no customer can pay any more.
var ErrBulkRowsFunds = errors.New("the customers ran out of money for the storage limit's transfers; give more --accounts")

// bulkRowsSkipsMax bounds the random senders Next tries in a row that
// cannot pay: past it the customers have run dry (withdrawals drain them).
const bulkRowsSkipsMax = 10_000

// NewBulkRows loads the accounts' current state (the writer must be idle)
// and returns a builder of their transfers.
func (s *Store) NewBulkRows(ctx context.Context, cfg BulkRowsConfig) (*BulkRows, error) {
	var fees, commission *wallet.AccountRecord
	for _, sa := range []struct {
		number string
		dst    **wallet.AccountRecord
	}{{wallet.SystemFees, &fees}, {wallet.SystemCommission, &commission}} {
		r, err := s.AccountByNumber(ctx, sa.number)
		if err != nil {
			return nil, err
		}
		*sa.dst = r
	}
	// Through the batch interface, which reads hundreds of rows a query.
	ids := append(slices.Clone(cfg.Customers), cfg.Agent, fees.ID, commission.ID)
	var accounts map[int64]*wallet.AccountRecord
	err := s.Write(ctx, func(tx wallet.BatchTx) error {
		var err error
		accounts, err = tx.LockAccounts(ids)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load accounts: %w", err)
	}
	r := &BulkRows{cfg: cfg, agent: accounts[cfg.Agent], fees: accounts[fees.ID], commission: accounts[commission.ID],
		rng: mrand.New(mrand.NewPCG(1, 2))}
	for _, id := range cfg.Customers {
		r.customers = append(r.customers, accounts[id])
	}
	var run [4]byte
	rand.Read(run[:])
	r.run = "limit-" + hex.EncodeToString(run[:]) + "-"
	return r, nil
}

// Next builds size transfers, or fewer (ErrBulkRowsFunds if none) when the
// customers run dry.
func (r *BulkRows) Next(size int) (*wallet.BatchWrite, error) {
	w := &wallet.BatchWrite{}
	dirty := map[int64]*wallet.AccountRecord{}
	now := time.Now().UTC()
	byID := func(id int64) *wallet.AccountRecord { return dirty[id] }
	for skips := 0; len(w.Transfers) < size && skips < bulkRowsSkipsMax; {
		amount := r.cfg.AmountMin + r.rng.Int64N(r.cfg.AmountMax-r.cfg.AmountMin+1)
		fee, commission, err := r.cfg.Tariff.Quote(r.cfg.Kind, amount)
		if err != nil {
			panic(fmt.Sprintf("store: the tariff has no band for %d: %v", amount, err))
		}
		src := r.customers[r.rng.IntN(len(r.customers))]
		dst := r.agent
		if r.cfg.Kind == wallet.TransferSend {
			for dst = src; dst == src; {
				dst = r.customers[r.rng.IntN(len(r.customers))]
			}
		}
		if src.Balance < amount+fee {
			skips++ // the wallet would refuse it
			continue
		}
		skips = 0
		t := &wallet.StoredTransfer{Key: r.run + strconv.FormatUint(r.n, 10), Hash: make([]byte, 16), Transfer: wallet.Transfer{
			ID: wallet.NewTransferID(now), Kind: r.cfg.Kind, Source: src.ID, Target: dst.ID, Amount: amount, Fee: fee, Commission: commission, Created: now}}
		r.n++
		t.Ref = wallet.Ref(t.ID)
		for i := 0; i < len(t.Hash); i += 8 {
			h := r.rng.Uint64()
			for j := range 8 {
				t.Hash[i+j] = byte(h >> (8 * j))
			}
		}
		t.Postings = wallet.Postings(t.Transfer, r.fees.ID, r.commission.ID)
		parties := map[int64]*wallet.AccountRecord{src.ID: src, dst.ID: dst, r.fees.ID: r.fees, r.commission.ID: r.commission}
		for i := range t.Postings {
			a := parties[t.Postings[i].AccountID]
			a.Balance += t.Postings[i].Amount
			t.Postings[i].BalanceAfter = a.Balance
			dirty[a.ID] = a
		}
		src.DayDebits += amount
		w.Transfers = append(w.Transfers, t)
		w.Events = append(w.Events, wallet.NewOutboxEvent(t, byID))
	}
	if len(w.Transfers) == 0 {
		return nil, ErrBulkRowsFunds
	}
	for _, a := range dirty {
		w.Accounts = append(w.Accounts, a)
	}
	return w, nil
}
