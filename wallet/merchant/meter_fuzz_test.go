package merchant

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/kibubu/kibubu/wallet"
)

// FuzzParseSplits: whatever split rules a merchant sends (as the JSON
// body's splits), parseSplits never panics; what it accepts is within its
// bounds, encodes to a string decodeSplits reads back exactly, and splits
// any charge into parts that sum to it.
func FuzzParseSplits(f *testing.F) {
	for _, s := range []string{`[{"to":"123456","weight":70},{"to":"654321","weight":30}]`, `[]`, `null`,
		`[{"to":"1","weight":0}]`, `[{"to":"12:3","weight":1}]`, `[{"to":"1","weight":1},{"to":"1","weight":2}]`,
		`[{"to":"١٢٣","weight":1}]`, `[{"to":"999","weight":1000000}]`, `[{"to":"9","weight":-1}]`} {
		f.Add([]byte(s), int64(2500))
	}
	f.Fuzz(func(t *testing.T, body []byte, amount int64) {
		var splits []Split
		if json.Unmarshal(body, &splits) != nil {
			return
		}
		enc, weights, err := parseSplits(splits)
		if err != nil {
			if wallet.ErrorCode(err) != wallet.CodeInvalid {
				t.Fatalf("parseSplits(%s): %v, want invalid_request", body, err)
			}
			return
		}
		if len(splits) > SplitRulesMax || len(weights) != len(splits) {
			t.Fatalf("parseSplits(%s) accepted %d rules, %d weights", body, len(splits), len(weights))
		}
		back, err := decodeSplits(enc)
		if err != nil || !slices.Equal(back, splits) && !(len(back) == 0 && len(splits) == 0) {
			t.Fatalf("decodeSplits(encodeSplits(%v) = %q) = %v, %v", splits, enc, back, err)
		}
		if len(weights) == 0 {
			return
		}
		if amount < 0 {
			amount = -amount
		}
		amount %= int64(wallet.MicroMax)
		var sum int64
		for _, p := range wallet.Split(amount, weights) {
			sum += p
		}
		if sum != amount {
			t.Fatalf("split of %d by %v sums to %d", amount, weights, sum)
		}
	})
}

// FuzzDecodeSplits: a stored splits column that is not what encodeSplits
// wrote is refused, never a panic, and what is read back encodes to itself.
func FuzzDecodeSplits(f *testing.F) {
	for _, s := range []string{"", "123456:70,654321:30", "1:0", ":", ",", "1:01", "1:+1", "a:1", "1:1,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		splits, err := decodeSplits(s)
		if err != nil {
			return
		}
		if got := encodeSplits(splits); got != s {
			t.Fatalf("decodeSplits(%q) = %v, which encodes to %q", s, splits, got)
		}
	})
}
