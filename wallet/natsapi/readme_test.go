package natsapi_test

import (
	"bytes"
	"encoding/json"
	"maps"
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
	account, transfer := func() any { return &wallet.Account{} }, func() any { return &wallet.TransferResult{} }
	types := map[string]struct{ req, reply func() any }{
		natsapi.SubjectTransfer:     {func() any { return &wallet.TransferRequest{} }, transfer},
		natsapi.SubjectTransferShow: {func() any { return &natsapi.TransferQuery{} }, func() any { return &wallet.TransferInfo{} }},
		natsapi.SubjectFloat:        {func() any { return &wallet.TransferRequest{} }, transfer},
		natsapi.SubjectQuote:        {func() any { return &natsapi.QuoteRequest{} }, func() any { return &natsapi.QuoteReply{} }},
		natsapi.SubjectLookup:       {func() any { return &natsapi.AccountRequest{} }, func() any { return &wallet.Profile{} }},
		natsapi.SubjectShow:         {func() any { return &natsapi.AccountRequest{} }, account},
		natsapi.SubjectStatus:       {func() any { return &natsapi.StatusRequest{} }, account},
		natsapi.SubjectRegister:     {func() any { return &natsapi.RegisterRequest{} }, account},
		natsapi.SubjectCustomerOpen: {func() any { return &natsapi.RegisterRequest{} }, account},
		natsapi.SubjectAgentAdd:     {func() any { return &natsapi.AgentRequest{} }, account},
		natsapi.SubjectMerchant:     {func() any { return &natsapi.MerchantRequest{} }, account},
		natsapi.SubjectPINSet:       {func() any { return &natsapi.PINRequest{} }, account},
		natsapi.SubjectPINChange:    {func() any { return &natsapi.PINRequest{} }, account},
		natsapi.SubjectPINVerify:    {func() any { return &natsapi.PINRequest{} }, account},
		natsapi.SubjectPINProof:     {func() any { return &natsapi.PINRequest{} }, func() any { return &natsapi.PINProofReply{} }},
		natsapi.SubjectStartKey:     {func() any { return &natsapi.PINRequest{} }, func() any { return &natsapi.PINProofReply{} }},
		natsapi.SubjectPINReset:     {func() any { return &natsapi.PINRequest{} }, account},
		natsapi.SubjectBalance:      {func() any { return &natsapi.PINRequest{} }, account},
		natsapi.SubjectStatement:    {func() any { return &wallet.StatementQuery{} }, func() any { return &natsapi.StatementReply{} }},
		natsapi.SubjectEarnings:     {func() any { return &natsapi.PINRequest{} }, func() any { return &wallet.Earnings{} }},
		natsapi.SubjectLanguage:     {func() any { return &natsapi.LanguageRequest{} }, account},
		natsapi.SubjectTariff:       {func() any { return &struct{}{} }, func() any { return &natsapi.TariffReply{} }},
		natsapi.SubjectCheck:        {func() any { return &struct{}{} }, func() any { return &wallet.CheckReport{} }},
		natsapi.SubjectEvents:       {func() any { return &natsapi.EventsRequest{} }, func() any { return &natsapi.EventsReply{} }},
		natsapi.SubjectAuditList:    {func() any { return &natsapi.AuditRequest{} }, func() any { return &natsapi.AuditReply{} }},
		natsapi.SubjectPINPending:   {func() any { return &wallet.NewPIN{} }, func() any { return &natsapi.PINPendingReply{} }},
		natsapi.SubjectPINConfirm:   {func() any { return &natsapi.PINConfirmRequest{} }, account},
	}
	reversal := func() any { return &wallet.Reversal{} }
	types[natsapi.SubjectReversalRequest] = struct{ req, reply func() any }{func() any { return &natsapi.ReversalAsk{} }, reversal}
	types[natsapi.SubjectReversalObject] = struct{ req, reply func() any }{func() any { return &natsapi.ReversalObjection{} }, reversal}
	types[natsapi.SubjectReversalList] = struct{ req, reply func() any }{func() any { return &natsapi.ReversalQuery{} }, func() any { return &natsapi.ReversalList{} }}
	types[natsapi.SubjectReversalApprove] = struct{ req, reply func() any }{func() any { return &natsapi.ReversalDecision{} }, reversal}
	types[natsapi.SubjectReversalReject] = struct{ req, reply func() any }{func() any { return &natsapi.ReversalDecision{} }, reversal}
	// The merchant services' endpoints, answered by the same service, as
	// their declarations say.
	for _, r := range merchantapi.Routes {
		types[r.Subject] = struct{ req, reply func() any }{
			func() any { q, _ := r.Types(); return q }, func() any { _, p := r.Types(); return p }}
	}
	maps.Copy(types, opsREADMETypes)    // ops_test.go
	maps.Copy(types, reportREADMETypes) // report_test.go
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
