package ops

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
)

// The page-timing benchmark's size: the 100,000 accounts and a
// million transfers by default; KIBUBU_OPS_BENCH_ACCOUNTS and
// KIBUBU_OPS_BENCH_TRANSFERS change it.
const (
	benchAccounts  = 100_000
	benchTransfers = 1_000_000
	benchBatch     = 8_000
)

func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkPages times the back-office's pages server-side (the handler,
// its NATS round trips and the wallet's queries) on a large ledger:
// customers seeded straight into the store with a balance (no deposit
// postings: the ledger check is not part of this benchmark), then sends
// between random customers written with the store's bulk rows. Each
// sub-benchmark reports ns/op: one page.
//
// BulkRows stamps every transfer now, so the dashboard finds them all in
// today, the one day wallet.Reports never caches: its worst case (a real
// ledger spreads them over 30 days, and only today's are read again; see
// wallet's BenchmarkDashboard). The name search reads idx_accounts_name_lower.
func BenchmarkPages(b *testing.B) {
	nAccounts := benchSize("KIBUBU_OPS_BENCH_ACCOUNTS", benchAccounts)
	nTransfers := benchSize("KIBUBU_OPS_BENCH_TRANSFERS", benchTransfers)
	e := newEnv(b)
	ctx := context.Background()
	start := time.Now()
	recs := make([]*wallet.AccountRecord, nAccounts)
	for i := range recs {
		phone := fmt.Sprintf("+2547%08d", 10_000_000+i)
		recs[i] = &wallet.AccountRecord{Kind: wallet.KindCustomer, Number: phone, Phone: phone, Name: fmt.Sprintf("Customer %06d Benchmark", i),
			Tier: wallet.TierFull, Status: wallet.StatusActive, Balance: 10_000_000, Created: time.Now().UTC()}
	}
	for i := 0; i < len(recs); i += 10_000 {
		if err := e.w.Store.CreateAccounts(ctx, recs[i:min(i+10_000, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	rows, err := e.w.Store.NewBulkRows(ctx, store.BulkRowsConfig{Kind: wallet.TransferSend, Customers: ids,
		Tariff: e.w.Service.Config().Tariff, AmountMin: 100_00, AmountMax: 2_000_00})
	if err != nil {
		b.Fatal(err)
	}
	for done := 0; done < nTransfers; {
		w, err := rows.Next(min(benchBatch, nTransfers-done))
		if err != nil {
			b.Fatal(err)
		}
		if err := e.w.Store.BulkInsert(ctx, w); err != nil {
			b.Fatal(err)
		}
		done += len(w.Transfers)
	}
	// The bulk rows carry their outbox events; the relay publishing a
	// million of them would run beside the pages timed. Nothing consumes
	// them here.
	if err := e.w.Store.Gorm().WithContext(ctx).Exec("DELETE FROM outbox_events").Error; err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d accounts and %d transfers in %s", nAccounts, nTransfers, time.Since(start).Round(time.Second))
	cookie := e.sessionCookie(wallet.RoleFinance)
	phone := recs[nAccounts/2].Phone
	pages := []struct{ name, path string }{
		{"search-phone", Prefix + "/search?q=" + url.QueryEscape("0"+phone[4:])},
		{"search-name", Prefix + "/search?q=" + url.QueryEscape(fmt.Sprintf("Customer %06d", nAccounts/3))},
		{"account", Prefix + "/account/" + url.PathEscape(phone)},
		{"dashboard", Prefix + "/dashboard"},
		// The merchants list among 100,000 customers: every merchant, and a
		// name prefix every customer shares (the worst case: the name index
		// walks the customers to find no merchant).
		{"merchants-all", Prefix + "/merchants"},
		{"merchants-name", Prefix + "/merchants?q=Customer"},
	}
	// The dashboard's first call in a wallet process: its reports hold no
	// day yet (the wallet side alone, no page).
	b.Run("dashboard-first", func(b *testing.B) {
		for b.Loop() {
			r, err := wallet.NewReports(e.w.Service)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.Dashboard(ctx, wallet.DashboardDaysDefault); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Today's figures as the dashboard read them before transfer_totals (a
	// scan of today's id range of transfers) and as it reads them now, in
	// the same run: the ratio is the change.
	now := time.Now()
	y, m, d := now.In(e.w.Service.Config().Location).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, e.w.Service.Config().Location)
	tomorrow := today.AddDate(0, 0, 1)
	b.Run("today-scan", func(b *testing.B) {
		for b.Loop() {
			var n int
			err := e.w.Store.Gorm().WithContext(ctx).Raw(`SELECT COUNT(*) FROM (SELECT kind, COUNT(*), SUM(amount), SUM(fee), SUM(commission)
				FROM transfers WHERE id >= ? AND id < ? GROUP BY kind) k`, wallet.FirstTransferID(today), wallet.FirstTransferID(tomorrow)).Row().Scan(&n)
			if err != nil || n == 0 {
				b.Fatal(n, err)
			}
		}
	})
	b.Run("today-totals", func(b *testing.B) {
		for b.Loop() {
			if ks, err := e.w.Store.TransferTotals(ctx, today, tomorrow); err != nil || len(ks) == 0 {
				b.Fatal(ks, err)
			}
		}
	})
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) { e.benchPage(b, cookie, p.path) })
	}
}

// benchPage times GET path with the session cookie, one page an op.
func (e *env) benchPage(b *testing.B, cookie *http.Cookie, path string) {
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%s: %d\n%s", path, rec.Code, rec.Body)
		}
	}
}

// BenchmarkMerchantPage times a merchant's page server-side (the handler
// and its five NATS round trips: the merchant, its keys, a page of its
// payment requests and of its tabs, the session) for a till with 1,000
// payment requests (KIBUBU_OPS_BENCH_REQUESTS changes it) and, back to
// back in the same run, for one with none: the page shows 50 of each, so
// the two should be close. And the merchants search by name.
func BenchmarkMerchantPage(b *testing.B) {
	e := newEnv(b)
	start := time.Now()
	busy := e.newShop("Duka La Mama", benchSize("KIBUBU_OPS_BENCH_REQUESTS", 1_000))
	quiet := e.newShop("Soko Kuu", 0)
	b.Logf("seeded %d payment requests in %s", len(busy.requests), time.Since(start).Round(time.Millisecond))
	cookie := e.sessionCookie(wallet.RoleSupport)
	for _, p := range []struct{ name, path string }{
		{"requests-1000", Prefix + "/merchants/" + busy.number},
		{"requests-0", Prefix + "/merchants/" + quiet.number},
		{"search-name", Prefix + "/merchants?q=duka"},
	} {
		b.Run(p.name, func(b *testing.B) { e.benchPage(b, cookie, p.path) })
	}
}
