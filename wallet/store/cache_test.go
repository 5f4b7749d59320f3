package store_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/store/storetest"
)

// TestAccountCache checks the batch writer's account cache (CacheAccounts):
// a committed batch's accounts are served from memory, and a failed batch,
// a tier change or a bulk insert make the next batch read the database
// again; on PostgreSQL, which several wallets share, nothing is kept.
func TestAccountCache(t *testing.T) {
	ctx := context.Background()
	var errFail = errors.New("the batch fails")

	// lock runs one batch that reads account id and returns it as read.
	lock := func(t *testing.T, st *store.Store, id int64) wallet.AccountRecord {
		t.Helper()
		var got wallet.AccountRecord
		if err := st.Write(ctx, func(tx wallet.BatchTx) error {
			as, err := tx.LockAccounts([]int64{id})
			if err != nil {
				return err
			}
			got = *as[id]
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// credit runs one batch that adds n to id's balance, failing with fail.
	credit := func(st *store.Store, id, n int64, fail error) error {
		return st.Write(ctx, func(tx wallet.BatchTx) error {
			as, err := tx.LockAccounts([]int64{id})
			if err != nil {
				return err
			}
			a := as[id]
			a.Balance += n
			if err := tx.Save(&wallet.BatchWrite{Accounts: []*wallet.AccountRecord{a}}); err != nil {
				return err
			}
			return fail
		})
	}
	// behind sets id's balance in the database, as no batch does.
	behind := func(t *testing.T, st *store.Store, id, balance int64) {
		t.Helper()
		if err := st.Gorm().Exec("UPDATE accounts SET balance = ? WHERE id = ?", balance, id).Error; err != nil {
			t.Fatal(err)
		}
	}

	type step func(t *testing.T, st *store.Store, id int64)
	cases := []struct {
		name  string
		dsn   func(testing.TB) string
		steps []step
		// want is the balance the last batch reads.
		want int64
	}{
		{"committed state is kept", storetest.SQLite, []step{
			func(t *testing.T, st *store.Store, id int64) { must(t, credit(st, id, 100, nil)) },
			func(t *testing.T, st *store.Store, id int64) { behind(t, st, id, 999) }, // unseen: kept in memory
		}, 100},
		{"a failed batch drops the cache", storetest.SQLite, []step{
			func(t *testing.T, st *store.Store, id int64) { must(t, credit(st, id, 100, nil)) },
			func(t *testing.T, st *store.Store, id int64) { behind(t, st, id, 999) },
			func(t *testing.T, st *store.Store, id int64) {
				if err := credit(st, id, 5, errFail); !errors.Is(err, errFail) {
					t.Fatalf("credit: %v, want %v", err, errFail)
				}
			},
		}, 999},
		{"what a batch changed but did not save is not kept", storetest.SQLite, []step{
			func(t *testing.T, st *store.Store, id int64) { lock(t, st, id) },
			func(t *testing.T, st *store.Store, id int64) {
				must(t, st.Write(ctx, func(tx wallet.BatchTx) error {
					as, err := tx.LockAccounts([]int64{id})
					if err == nil {
						as[id].Balance = 12345
					}
					return err
				}))
			},
		}, 0},
		{"a bulk insert drops the cache", storetest.SQLite, []step{
			func(t *testing.T, st *store.Store, id int64) { must(t, credit(st, id, 100, nil)) },
			func(t *testing.T, st *store.Store, id int64) {
				must(t, st.BulkInsert(ctx, &wallet.BatchWrite{Accounts: []*wallet.AccountRecord{{ID: id, Balance: 70, Status: wallet.StatusActive}}}))
			},
		}, 70},
		{"turned off, every batch reads", storetest.SQLite, []step{
			func(t *testing.T, st *store.Store, id int64) { must(t, credit(st, id, 100, nil)) },
			func(t *testing.T, st *store.Store, id int64) { st.CacheAccounts(false) },
			func(t *testing.T, st *store.Store, id int64) { behind(t, st, id, 999) },
		}, 999},
	}
	if os.Getenv(storetest.PostgresEnv) != "" {
		cases = append(cases, struct {
			name  string
			dsn   func(testing.TB) string
			steps []step
			want  int64
		}{"PostgreSQL keeps nothing", storetest.Postgres, []step{
			func(t *testing.T, st *store.Store, id int64) { must(t, credit(st, id, 100, nil)) },
			func(t *testing.T, st *store.Store, id int64) { behind(t, st, id, 999) },
		}, 999})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, a := openCached(t, c.dsn(t), wallet.TierFull)
			for _, s := range c.steps {
				s(t, st, a.ID)
			}
			if got := lock(t, st, a.ID); got.Balance != c.want {
				t.Fatalf("balance read by the next batch: %d, want %d", got.Balance, c.want)
			}
		})
	}

	t.Run("a tier change is seen by the next batch", func(t *testing.T) {
		st, a := openCached(t, storetest.SQLite(t), wallet.TierBasic)
		must(t, credit(st, a.ID, 100, nil))
		if ok, err := st.SetTier(ctx, a.ID, wallet.TierBasic, wallet.TierFull); err != nil || !ok {
			t.Fatalf("SetTier: %v %v", ok, err)
		}
		if got := lock(t, st, a.ID); got.Tier != wallet.TierFull || got.Balance != 100 {
			t.Fatalf("next batch read tier %v balance %d, want %v 100", got.Tier, got.Balance, wallet.TierFull)
		}
	})
}

// openCached opens a store on dsn with the account cache on, closed when
// the test ends, and creates a customer of tier in it.
func openCached(t *testing.T, dsn string, tier wallet.Tier) (*store.Store, *wallet.AccountRecord) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.CacheAccounts(true)
	a := &wallet.AccountRecord{Kind: wallet.KindCustomer, Number: "0711000001", Phone: "+254711000001", Name: "Cached",
		Tier: tier, Status: wallet.StatusActive, Created: time.Now().UTC()}
	must(t, st.CreateAccount(ctx, a))
	return st, a
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
