package merchant

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"

	"github.com/kibubu/kibubu/wallet"
)

const (
	// tabChargesDefault and tabChargesMax are the page sizes of
	// TabCharges: a screen of a merchant's reconciliation, and what one
	// indexed read serves in well under a request's timeout; 200 of the
	// largest charges (16 split rules, an escaped reference) are under
	// 280 KB of JSON, well inside NATS's default max_payload of 1 MB.
	tabChargesDefault = 50
	tabChargesMax     = 200
	// chargeCursorPrefix versions a charges cursor, should its form ever
	// change, and tells it from a transactions cursor (cursorPrefix).
	chargeCursorPrefix = 'h'
	// chargeCursorTabBytes is how much of its tab's id hash a charges
	// cursor carries: enough that a cursor sent with another tab is refused
	// rather than read as a position in that tab. 1 + 8 + 3 bytes are 16
	// base64 characters with no spare bits, so each cursor has one spelling.
	chargeCursorTabBytes = 3
	chargeCursorBytes    = 1 + 8 + chargeCursorTabBytes
)

// openTabStatuses are the tabs a merchant still has business with: waiting
// for the customer's approval, taking charges, or suspended until a
// settlement succeeds (closed and declined tabs are done).
var openTabStatuses = []TabStatus{TabPending, TabActive, TabSuspended}

// tabCursor is OpenTabs' cursor.
var tabCursor = idCursor{version: 't', kind: "tab"}

// OpenTabs lists p's merchant's open tabs (openTabStatuses), newest first:
// a page of limit (default 50, at most 200) after cursor (empty for the
// first page; else the previous page's next). next is empty on the last
// page.
//
// Errors: CodeForbidden (an operator key), CodeInvalid (a cursor this API
// did not give, a limit over 200).
func (s *Service) OpenTabs(ctx context.Context, p Principal, cursor string, limit int) (tabs []Tab, next string, err error) {
	recs, next, err := pageByID(tabCursor, "tabs", p, cursor, limit, func(before string, n int) ([]TabRecord, error) {
		return s.st.Tabs(ctx, p.Merchant, openTabStatuses, before, n)
	}, func(r *TabRecord) string { return r.ID })
	if err != nil {
		return nil, "", err
	}
	tabs = make([]Tab, len(recs))
	for i := range recs {
		tabs[i] = *tabView(&recs[i])
	}
	return tabs, next, nil
}

// TabQueries are the store's reads behind the lists of tabs below, each
// declared beside the method that uses it; TabStore embeds it.
type TabQueries interface {
	// Tabs returns up to limit of merchant's tabs in one of statuses (in
	// any when none), with ids before before (every one when empty), newest
	// first.
	Tabs(ctx context.Context, merchant string, statuses []TabStatus, before string, limit int) ([]TabRecord, error)
	// TabCharges returns up to limit of a tab's charges, newest first (by
	// Charged, which grows with every charge of a tab): those whose
	// Charged is below before, or all of them when before is 0. It reads
	// limit rows, not the whole tab.
	TabCharges(ctx context.Context, tab string, before wallet.Micro, limit int) ([]ChargeRecord, error)
}

// TabCharges lists the charges of tab, one of p's merchant's tabs, newest
// first: a page of limit (default 50, at most 200) after cursor (empty for
// the first page; else the previous page's next). next is empty on the
// last page. Each charge carries its split rules, its tab's total after it
// (Charged) and what the cap left after it (Remaining). Pages never skip
// nor repeat a charge, even while the tab is being charged: a charge made
// since the first page is newer than every charge listed, so it is on no
// later page.
//
// Errors: CodeForbidden (an operator key), CodeNotFound (no such tab, or
// another merchant's), CodeInvalid (a cursor this API did not give for
// this tab, a limit over 200).
func (s *Service) TabCharges(ctx context.Context, p Principal, tab, cursor string, limit int) (charges []Charge, next string, err error) {
	if limit <= 0 {
		limit = tabChargesDefault
	}
	if limit > tabChargesMax {
		return nil, "", wallet.Errorf(wallet.CodeInvalid, "a page holds at most %d charges", tabChargesMax)
	}
	before, err := decodeChargeCursor(tab, cursor)
	if err != nil {
		return nil, "", err
	}
	rec, err := own(ctx, p, "tab", "tab", tab, s.st.TabByID)
	if err != nil {
		return nil, "", err
	}
	recs, err := s.st.TabCharges(ctx, rec.ID, before, limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(recs) > limit {
		recs = recs[:limit]
		next = encodeChargeCursor(rec.ID, recs[limit-1].Charged)
	}
	charges = make([]Charge, len(recs))
	for i := range recs {
		c := &recs[i]
		splits, err := decodeSplits(c.Splits)
		if err != nil {
			return nil, "", fmt.Errorf("charge %s: %w", c.ID, err)
		}
		charges[i] = Charge{ID: c.ID, Tab: c.Tab, Amount: c.Amount, Reference: c.Reference, Splits: splits,
			Charged: c.Charged, Remaining: rec.Cap - c.Charged, Created: c.Created}
	}
	return charges, next, nil
}

// encodeChargeCursor makes the opaque cursor of a page of tab's charges
// that ends with the charge after which the tab's total was charged.
func encodeChargeCursor(tab string, charged wallet.Micro) string {
	var b [chargeCursorBytes]byte
	b[0] = chargeCursorPrefix
	binary.BigEndian.PutUint64(b[1:9], uint64(charged))
	copy(b[9:], tabHash(tab))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// decodeChargeCursor returns the total a cursor of tab's charges stands
// for; 0 for none.
func decodeChargeCursor(tab, c string) (wallet.Micro, error) {
	if c == "" {
		return 0, nil
	}
	// The decoder skips newlines: the length check keeps one spelling.
	if len(c) != base64.RawURLEncoding.EncodedLen(chargeCursorBytes) {
		return 0, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != chargeCursorBytes || b[0] != chargeCursorPrefix {
		return 0, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	charged := wallet.Micro(binary.BigEndian.Uint64(b[1:9]))
	if charged <= 0 || charged > wallet.MicroMax || string(b[9:]) != string(tabHash(tab)) {
		return 0, wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave for this tab")
	}
	return charged, nil
}

// tabHash is the part of tab's id hash a charges cursor carries.
func tabHash(tab string) []byte {
	h := fnv.New32a()
	h.Write([]byte(tab))
	return h.Sum(nil)[:chargeCursorTabBytes]
}

// ChargesPage is one page of a tab's charges.
type ChargesPage struct {
	Charges []Charge `json:"charges"`
	Next    string   `json:"next,omitempty"` // empty on the last page
}
