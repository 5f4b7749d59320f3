package store_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestTransferTotals checks transfer_totals against the transfers it sums
// (on SQLite, and PostgreSQL where KIBUBU_TEST_POSTGRES is set): as the
// batch writes them, and as the migration that creates the table fills it
// from a database that had transfers before it.
func TestTransferTotals(t *testing.T) {
	ctx := context.Background()
	w, st := newWallet(t, ctx, storetest.DSN(t))
	phones := seed(t, w, 4)
	for i, p := range phones {
		to := phones[(i+1)%len(phones)]
		if _, err := w.Transfer(ctx, wallet.TransferRequest{Key: "send-" + p, Kind: wallet.TransferSend, From: p, To: to, Amount: int64(1_000 * (i + 1)), PIN: "2580"}); err != nil {
			t.Fatal(err)
		}
	}
	scan := func() map[wallet.TransferKind]wallet.KindFigures {
		t.Helper()
		rows, err := st.Gorm().WithContext(ctx).Raw(`SELECT kind, COUNT(*), SUM(amount), SUM(fee), SUM(commission) FROM transfers GROUP BY kind`).Rows()
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[wallet.TransferKind]wallet.KindFigures{}
		for rows.Next() {
			var k wallet.KindFigures
			if err := rows.Scan(&k.Kind, &k.Count, &k.Volume, &k.FeeRevenue, &k.Commission); err != nil {
				t.Fatal(err)
			}
			out[k.Kind] = k
		}
		return out
	}
	totals := func() map[wallet.TransferKind]wallet.KindFigures {
		t.Helper()
		// Every quarter hour from a day ago to an hour ahead.
		now := time.Now().Truncate(15 * time.Minute)
		ks, err := st.TransferTotals(ctx, now.Add(-24*time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		out := map[wallet.TransferKind]wallet.KindFigures{}
		for _, k := range ks {
			out[k.Kind] = k
		}
		return out
	}
	want := scan()
	if want[wallet.TransferSend].Count != int64(len(phones)) || want[wallet.TransferDeposit].Count != int64(len(phones)) {
		t.Fatalf("the transfers written: %+v", want)
	}
	if got := totals(); !maps.Equal(got, want) {
		t.Errorf("as written:\n got %+v\nwant %+v", got, want)
	}
	// A database from before transfer_totals: the migration creates and fills it.
	for _, q := range []string{"DROP TABLE transfer_totals", "DELETE FROM schema_migrations"} {
		if err := st.Gorm().WithContext(ctx).Exec(q).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Migrate(ctx, st.Gorm()); err != nil {
		t.Fatal(err)
	}
	if got := totals(); !maps.Equal(got, want) {
		t.Errorf("after the migration's backfill:\n got %+v\nwant %+v", got, want)
	}
}
