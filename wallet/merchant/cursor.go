package merchant

import (
	"encoding/base64"

	"github.com/kibubu/kibubu/wallet"
)

// idCursor is the opaque cursor of a page of objects listed newest first
// by id (ids sort by time: newID): the page's last id, behind a version
// byte that also tells one list's cursors from another's, base64url.
type idCursor struct {
	version byte   // also tells it from the other cursors: 'c' transactions, 'h' charges
	kind    string // the ids' prefix (newID)
}

// The lists' cursors.
var requestCursor = idCursor{version: 'r', kind: "pr"}

// encode makes the cursor of a page that ends with id.
func (c idCursor) encode(id string) string {
	return base64.RawURLEncoding.EncodeToString(append([]byte{c.version}, id...))
}

// decode returns the id a cursor s stands for; "" for none (s empty).
func (c idCursor) decode(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	// The decoder skips newlines: encoding again keeps one spelling.
	if err != nil || len(b) < 2 || b[0] != c.version || !validID(c.kind, string(b[1:])) ||
		base64.RawURLEncoding.EncodeToString(b) != s {
		return "", wallet.Errorf(wallet.CodeInvalid, "the cursor is not one this API gave")
	}
	return string(b[1:]), nil
}

// pageByID reads a page of a merchant's list paged by c, for p: at most
// limit records (0: transactionsDefault; more than transactionsMax is
// CodeInvalid, as is a cursor c did not make) after cursor, newest first;
// next is the cursor of the page after, empty on the last. read returns up
// to n records with ids before before ("": from the newest); id names a
// record. An operator key is CodeForbidden: it acts for no merchant.
func pageByID[R any](c idCursor, what string, p Principal, cursor string, limit int,
	read func(before string, n int) ([]R, error), id func(*R) string) (recs []R, next string, err error) {
	if p.Merchant == "" {
		return nil, "", wallet.Errorf(wallet.CodeForbidden, "an operator key cannot act for a merchant")
	}
	if limit <= 0 {
		limit = transactionsDefault
	}
	if limit > transactionsMax {
		return nil, "", wallet.Errorf(wallet.CodeInvalid, "a page holds at most %d %s", transactionsMax, what)
	}
	before, err := c.decode(cursor)
	if err != nil {
		return nil, "", err
	}
	if recs, err = read(before, limit+1); err != nil {
		return nil, "", err
	}
	if len(recs) > limit {
		recs = recs[:limit]
		next = c.encode(id(&recs[limit-1]))
	}
	return recs, next, nil
}
