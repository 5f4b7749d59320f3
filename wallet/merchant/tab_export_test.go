package merchant

import (
	"context"

	"github.com/kibubu/kibubu/wallet"
)

// Hooks into the tab engine for the tests of package commerce_test.

// SweepTabs runs one tab sweep in the caller's goroutine.
func (s *Service) SweepTabs(ctx context.Context) error { return s.tabs.sweepNow(ctx) }

// SettleTab settles a tab now, as the threshold and the daily sweep do.
func (s *Service) SettleTab(ctx context.Context, id string) error { return s.tabs.settle(ctx, id) }

// StartTabSettlement records a pending settlement and stops there, as a
// crash between recording and posting it would.
func (s *Service) StartTabSettlement(ctx context.Context, id string) (*Settlement, error) {
	return s.tabs.startSettlement(ctx, id)
}

// BeginTabHold marks a prepaid approval's hold as in flight and returns
// the hold transfer it would post, as a crash right after posting it
// would leave things.
func (s *Service) BeginTabHold(ctx context.Context, id, pin string) (wallet.TransferRequest, error) {
	rec, err := s.tabs.load(ctx, id)
	if err != nil {
		return wallet.TransferRequest{}, err
	}
	now := s.tabs.now()
	err = s.tabs.edit(ctx, id, func(e *TabEdit) error { e.Tab.HoldAt = now; return nil })
	return wallet.TransferRequest{Key: holdKey(id), Kind: wallet.TransferHold, From: rec.Phone, Amount: s.tabs.ceilMinor(rec.Cap),
		Reference: id, PIN: pin}, err
}

// TabSettleRequest is the transfer that posts settlement st of tab rec.
func TabSettleRequest(rec *TabRecord, st *Settlement) wallet.TransferRequest {
	return settleRequest(rec, st)
}

// The tab engine's timings.
const (
	TabLease       = leaseDuration
	SuspendedRetry = suspendedRetry
	TabPayeesMax   = tabPayeesMax
)
