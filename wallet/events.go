package wallet

import (
	"context"
	"time"
)

const (
	// EventsPageMax bounds one page of Events: one read of that many
	// transfers with their postings stays well under a request timeout.
	EventsPageMax = 1000
	// eventClockSkewMax is how far wallet processes' clocks may disagree:
	// a transfer's id comes from its process's clock, so the scan of the
	// transfers since a time starts that much earlier and filters by
	// creation time.
	eventClockSkewMax = time.Minute
)

// Events re-derives from the database the events of the transfers created at
// or after since, for a consumer whose stream lost some (kibubu notify
// replay): up to limit (at most EventsPageMax) of them after transfer id
// after (0 for the first page), in id order. next is the after of the next
// page, 0 when this one is the last.
//
// An event is as the relay published it except for its parties' names and
// languages, which are today's: the database keeps no history of them.
func (s *Service) Events(ctx context.Context, since time.Time, after int64, limit int) (evs []Event, next int64, err error) {
	if limit <= 0 || limit > EventsPageMax {
		limit = EventsPageMax
	}
	if floor := FirstTransferID(since.Add(-eventClockSkewMax)) - 1; after < floor {
		after = floor
	}
	ts, err := s.store.TransfersAfter(ctx, after, limit)
	if err != nil {
		return nil, 0, err
	}
	parties := map[int64]Party{}
	for _, t := range ts {
		if t.Created.Before(since) {
			continue
		}
		ev := Event{Transfer: t}
		ids := make([]int64, 0, len(t.Postings)+1)
		for _, q := range t.Postings {
			ids = append(ids, q.AccountID)
		}
		if t.Kind.reversalStep() {
			// As the batch's event: the original's sender, told of it.
			orig, err := s.store.TransferByRef(ctx, t.Reference)
			if err != nil {
				return nil, 0, err
			}
			ids = append(ids, orig.Source)
		}
		for _, id := range ids {
			p, ok := parties[id]
			if !ok {
				a, err := s.store.AccountByID(ctx, id)
				if err != nil {
					return nil, 0, err
				}
				p = partyOf(a)
				parties[id] = p
			}
			if !hasParty(ev.Parties, p.ID) {
				ev.Parties = append(ev.Parties, p)
			}
		}
		evs = append(evs, ev)
	}
	if len(ts) == limit {
		next = ts[len(ts)-1].ID
	}
	return evs, next, nil
}

func hasParty(ps []Party, id int64) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}
