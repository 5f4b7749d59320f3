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
