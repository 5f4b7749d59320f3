package natsapi_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/merchant/merchantapi"
	"github.com/kibubu/kibubu/wallet/natsapi"
)

// TestREADMEMatchesTheAPI keeps README.md true: every subject is documented,
// and every example request and reply decodes into its Go type with no
// unknown field.
func TestREADMEMatchesTheAPI(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Every endpoint's types, from its declaration: the wallet's and the
	// merchant services' (answered by the same service).
	types := map[string]struct{ req, reply func() any }{}
	for _, r := range slices.Concat(natsapi.Routes, merchantapi.Routes) {
		types[r.Subject] = struct{ req, reply func() any }{
			func() any { q, _ := r.Types(); return q }, func() any { _, p := r.Types(); return p }}
	}
	if len(types) != len(natsapi.Routes)+len(merchantapi.Routes) {
		t.Errorf("%d subjects for %d routes: a subject is declared twice", len(types), len(natsapi.Routes)+len(merchantapi.Routes))
	}
	sections := regexp.MustCompile("(?m)^### `([a-z0-9.]+)`").FindAllSubmatchIndex(doc, -1)
	block := regexp.MustCompile("(?s)```json (request|reply|error)\n(.*?)\n```")
	seen := map[string]bool{}
	for i, s := range sections {
		subject := string(doc[s[2]:s[3]])
		end := len(doc)
		if i+1 < len(sections) {
			end = sections[i+1][0]
		}
		ty, ok := types[subject]
		if !ok {
			t.Errorf("README documents %s, which the API does not serve", subject)
			continue
		}
		seen[subject] = true
		blocks := block.FindAllSubmatch(doc[s[1]:end], -1)
		if len(blocks) < 2 {
			t.Errorf("%s: %d examples, want a request and a reply", subject, len(blocks))
		}
		for _, b := range blocks {
			var v any
			switch string(b[1]) {
			case "request":
				v = ty.req()
			case "reply":
				v = ty.reply()
			case "error":
				v = &wallet.Error{}
			}
			dec := json.NewDecoder(bytes.NewReader(b[2]))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Errorf("%s %s example: %v", subject, b[1], err)
			}
		}
	}
	for subject := range types {
		if !seen[subject] {
			t.Errorf("README does not document %s", subject)
		}
	}
	for _, s := range slices.Concat(natsapi.OperatorSubjects, merchantapi.OperatorSubjects) {
		if !strings.Contains(string(doc), "### `"+s+"` (operator)") {
			t.Errorf("README does not mark %s as an operator subject", s)
		}
	}
}
