package merchant

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseToken feeds parseToken (which reads the bearer token of every
// merchant request) arbitrary input: it never panics, and accepts only
// tokens of the documented form.
func FuzzParseToken(f *testing.F) {
	id := newID(keyPrefix, time.Unix(1_800_000_000, 0))
	f.Add(id + "_" + strings.Repeat("a", keySecretLen))
	f.Add("kbk_")
	f.Add("")
	f.Add(id + "_" + strings.Repeat("é", keySecretLen/2))
	f.Fuzz(func(t *testing.T, key string) {
		gotID, secret, ok := parseToken(key)
		if !ok {
			return
		}
		if gotID+"_"+secret != key || !validID(keyPrefix, gotID) || len(secret) != keySecretLen {
			t.Fatalf("parseToken(%q) = %q, %q", key, gotID, secret)
		}
	})
}
