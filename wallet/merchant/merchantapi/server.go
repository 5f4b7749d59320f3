package merchantapi

import "github.com/kibubu/kibubu/wallet/merchant"

// bulkRequestBytesMax bounds a bulk payout request: the CSV file
// (merchant.BulkBytesMax) base64-encoded in JSON, and a little besides.
// (NATS's own max_payload, 1 MB by default, must be raised to carry files
// that large.)
const bulkRequestBytesMax = merchant.BulkBytesMax/3*4 + 4<<10

// tabChargesRequestBytesMax bounds a batch of charges: merchant.BatchChargesMax
// of the largest (a 64-byte key and a 32-byte reference, escaped, and 16
// split rules: under 2 KB of JSON), with the API key. Less where NATS's
// max_payload cannot also carry the reply (tabChargesLimit).
const tabChargesRequestBytesMax = merchant.BatchChargesMax*(2<<10) + 4<<10

// tabChargesLimit is the largest batch of charges a server on a connection
// with maxPayload (0: unknown) takes: one whose reply fits.
func tabChargesLimit(maxPayload int64) int {
	limit := int64(tabChargesRequestBytesMax)
	if maxPayload > 0 {
		limit = min(limit, maxPayload-TabChargesReplyOverheadBytes)
	}
	return int(max(limit, 0))
}
