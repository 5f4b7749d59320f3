package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/kibubu/kibubu/deploy/natsserver"
	"github.com/kibubu/kibubu/internal/cmdline"
	"github.com/kibubu/kibubu/wallet"
	"github.com/kibubu/kibubu/wallet/natsapi"
	"github.com/kibubu/kibubu/wallet/store"
	"github.com/kibubu/kibubu/wallet/walletd"
)

// Transfers (`kibubu bench`) measures the real wallet end to end on this machine: an
// embedded NATS, the wallet's NATS service, its group-commit writer on
// SQLite (or a fresh PostgreSQL schema) and the event relay publishing to
// JetStream. It seeds funded customers, drives send-money transfers from
// concurrent clients through NATS, then measures the database's own limit
// (the same rows bulk-inserted without the service), checks the ledger, and
// prints as its last line:
//
//	transfers_per_s=N storage_limit_per_s=M ratio=R p50_ms=X p99_ms=Y

const (
	// benchRequestTimeout bounds one transfer request: a batch commits in
	// milliseconds, so a request this late means the wallet is stuck.
	benchRequestTimeout = natsapi.DefaultTimeout
	// benchImportChunk is the most customers Service.Import takes at once.
	benchImportChunk = 50_000
	// benchFundingWorkers deposit concurrently while seeding: enough to
	// fill group-commit batches, few enough to keep goroutines cheap.
	benchFundingWorkers = 512
	// benchFundingMajor is each customer's deposit, in major units: room for
	// thousands of sends, a tenth of the full tier's maximum balance.
	benchFundingMajor = 50_000
	// benchSendMajorMin and benchSendMajorMax bound a transfer's amount:
	// the first fee band of both send (so a transfer has 4 postings) and
	// withdraw (6, with the agent's commission), and small enough that
	// balances and daily limits last the run.
	benchSendMajorMin = 101
	benchSendMajorMax = 500
	// benchCustomerPIN and benchAgentPIN: every customer shares one PIN;
	// each still has its own salt, so verifying costs what it always does.
	benchCustomerPIN = "4826"
	benchAgentPIN    = "1357"
	// benchProgressInterval is how often the load reports on stderr.
	benchProgressInterval = time.Second
	// benchStartTimeout bounds starting NATS, opening the database and
	// creating the event stream.
	benchStartTimeout = time.Minute
	// benchAdminTimeout bounds creating or dropping the PostgreSQL schema.
	benchAdminTimeout = 30 * time.Second
	// benchRelayDrainTimeout bounds the wait, after the load, for the relay
	// to publish every event: a relay that lags more is a finding.
	benchRelayDrainTimeout = 30 * time.Second
	// benchStorageSweepTime is how long (time spent inserting) each batch
	// size of the storage-limit sweep runs.
	benchStorageSweepTime = 1500 * time.Millisecond
	// benchCheckTimeout bounds the whole-ledger check at the end.
	benchCheckTimeout = 10 * time.Minute
	// benchStopTimeout bounds stopping the system after the run.
	benchStopTimeout = 30 * time.Second
)

// benchStorageBatchSizes are the batch sizes the storage-limit sweep tries:
// below, at and above the writer's own maximum batch (1,024 commands).
// benchOperator names the bench as the operator of the accounts and float
// it sets up: the wallet audits operator requests and refuses them unnamed.
var benchOperator = natsapi.AsOperator(natsapi.Operator{Actor: "kibubu bench"})

var benchStorageBatchSizes = []int{256, 1024, 4096}

// benchExpectedCodes are refusals a random load may legitimately get (a
// customer who sent a lot); anything else fails the bench.
var benchExpectedCodes = map[wallet.Code]bool{
	wallet.CodeInsufficientFunds: true,
	wallet.CodeLimitExceeded:     true,
}

// TransfersConfig is what Transfers runs; the command's flags fill it.
type TransfersConfig struct {
	DB         string // a postgres:// URL; empty: SQLite in a temporary directory
	Accounts   int
	Clients    int
	Duration   time.Duration
	Hot        bool
	Conns      int    // NATS connections the clients share
	CPUProfile string // write a CPU profile of the load phase here

	StorageSweep time.Duration // per batch size of the storage limit's sweep; default 1.5 s
}

// Transfers runs the bench and prints the result line on stdout, progress on stderr.
func Transfers(ctx context.Context, cfg TransfersConfig, stdout, stderr io.Writer) (err error) {
	if cfg.StorageSweep <= 0 {
		cfg.StorageSweep = benchStorageSweepTime
	}
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	sys, err := startBenchSystem(ctx, cfg, stderr)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if cerr := sys.close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: %w", cerr)
		}
	}()
	shape := "send money between random customers"
	if cfg.Hot {
		shape = "hot: every transfer a withdrawal to one agent"
	}
	progress("wallet on %s; %d customers; %d clients on %d NATS connections for %s; %s",
		sys.dbName, cfg.Accounts, cfg.Clients, cfg.Conns, cfg.Duration, shape)

	seed, err := sys.seed(ctx, progress)
	if err != nil {
		return fmt.Errorf("bench: seed: %w", err)
	}
	load, err := sys.load(ctx, seed, progress)
	if err != nil {
		return fmt.Errorf("bench: load: %w", err)
	}
	load.report(progress)
	var failures []string
	if n := load.unexpected(); n > 0 {
		failures = append(failures, fmt.Sprintf("%d transfers failed unexpectedly", n))
	}
	if load.posted == 0 {
		failures = append(failures, "no transfer was posted")
	}
	published, err := sys.waitForEvents(ctx, seed.posted+load.posted, progress)
	if err != nil {
		failures = append(failures, err.Error())
	}
	sys.wallet.StopRelay() // the storage limit is measured alone, and its events are not published

	limit, err := sys.storageLimit(ctx, seed, progress)
	if err != nil {
		return fmt.Errorf("bench: storage limit: %w", err)
	}

	progress("checking the ledger")
	cctx, cancel := context.WithTimeout(ctx, benchCheckTimeout)
	report, err := sys.w.Check(cctx)
	cancel()
	if err != nil {
		return fmt.Errorf("bench: ledger check: %w", err)
	}
	failures = append(failures, report.Violations...)
	want := seed.posted + load.posted + limit.inserted
	if load.unexpected() == 0 && report.Transfers != want {
		failures = append(failures, fmt.Sprintf("the ledger holds %d transfers, the bench posted %d", report.Transfers, want))
	}
	progress("ledger: %d accounts, %d transfers, %d postings, %d events published, %d unpublished (the storage limit's), %d violations",
		report.Accounts, report.Transfers, report.Postings, published, report.Pending, len(report.Violations))

	rate := float64(load.posted) / load.elapsed.Seconds()
	ratio := 0.0
	if limit.perSecond > 0 {
		ratio = math.Round(rate) / math.Round(limit.perSecond)
	}
	fmt.Fprintf(stdout, "transfers_per_s=%d storage_limit_per_s=%d ratio=%.2f p50_ms=%.2f p99_ms=%.2f\n",
		int64(math.Round(rate)), int64(math.Round(limit.perSecond)), ratio,
		milliseconds(load.latency.quantile(0.50)), milliseconds(load.latency.quantile(0.99)))
	if len(failures) > 0 {
		return fmt.Errorf("bench failed: %s", strings.Join(failures, "; "))
	}
	return nil
}

// benchSystem is the wallet under test, wired as `kibubu serve` wires it,
// on a temporary data dir.
type benchSystem struct {
	cfg    TransfersConfig
	dir    string
	dbName string // for messages: "SQLite" or the PostgreSQL schema
	drop   func() error
	ns     *natsserver.Server
	nc     *nats.Conn // the wallet's own connection: service and relay
	wallet *walletd.Wallet
	st     *store.Store
	w      *wallet.Service
}

func startBenchSystem(ctx context.Context, cfg TransfersConfig, stderr io.Writer) (_ *benchSystem, err error) {
	ctx, cancel := context.WithTimeout(ctx, benchStartTimeout)
	defer cancel()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := &benchSystem{cfg: cfg}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "kibubu-bench-*"); err != nil {
		return nil, err
	}
	dsn := cmdline.DB(s.dir, "")
	s.dbName = "SQLite " + dsn
	if cfg.DB != "" {
		var schema string
		if dsn, schema, s.drop, err = createBenchSchema(ctx, cfg.DB); err != nil {
			return nil, err
		}
		s.dbName = "PostgreSQL schema " + schema
	}
	if s.ns, err = natsserver.Start(natsserver.Options{StoreDir: filepath.Join(s.dir, "jetstream")}); err != nil {
		return nil, err
	}
	if s.nc, err = s.connect("kibubu bench wallet"); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	st.CacheAccounts(true) // as `kibubu serve` on SQLite (a no-op on PostgreSQL)
	kes, err := wallet.LookupCurrency("KES")
	if err != nil {
		st.Close()
		return nil, err
	}
	pepper := make([]byte, wallet.PepperBytes)
	rand.Read(pepper)
	if s.wallet, err = walletd.Start(ctx, walletd.Options{Store: st, Conn: s.nc, Log: log,
		Wallet: wallet.Config{Currency: kes, Region: "KE", Pepper: pepper}}); err != nil {
		return nil, err
	}
	s.st, s.w = s.wallet.Store, s.wallet.Service
	return s, nil
}

// connect opens an in-process connection to the embedded NATS.
func (s *benchSystem) connect(name string) (*nats.Conn, error) {
	return s.ns.Connect(nats.Name(name))
}

// close stops everything in the order `kibubu serve` does and removes the
// data dir and the PostgreSQL schema.
func (s *benchSystem) close() error {
	var errs []error
	if s.wallet != nil {
		if err := s.wallet.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Close()
	}
	if s.drop != nil {
		if err := s.drop(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// createBenchSchema creates an empty schema kibubu_bench_<random> on the
// PostgreSQL server at base and returns base with search_path set to it, and
// a function that drops it with everything in it.
func createBenchSchema(ctx context.Context, base string) (dsn, schema string, drop func() error, err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", "", nil, fmt.Errorf("--db: %w", err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema = "kibubu_bench_" + hex.EncodeToString(b[:])
	exec := func(ctx context.Context, sql string) error {
		ctx, cancel := context.WithTimeout(ctx, benchAdminTimeout)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("--db %s: %w", u.Redacted(), err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	drop = func() error {
		if err := exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", schema, err)
		}
		return nil
	}
	// pgx sends unknown URL parameters as run-time parameters, so every
	// connection of the pool starts in the schema.
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema, drop, nil
}

// benchSeed is what seeding created.
type benchSeed struct {
	kes    wallet.Currency
	phones []string // customers' E.164 phones; a customer is its index
	ids    []int64  // customers' account ids, by index
	agent  wallet.Account
	posted int64 // transfers posted: the float issue and the deposits
}

// benchCustomerPhone is customer i's phone, in the +25471xxxxxxx block;
// the agent is in +25472xxxxxxx.
func benchCustomerPhone(i int) string { return "+25471" + fmt.Sprintf("%07d", i) }

const benchAgentPhone = "+254720000001"

// seed imports the customers with their PINs, opens the agent, issues its
// float and funds every customer with a deposit.
func (s *benchSystem) seed(ctx context.Context, progress func(string, ...any)) (*benchSeed, error) {
	start := time.Now()
	seed := &benchSeed{kes: s.w.Config().Currency}
	n := s.cfg.Accounts
	for from := 0; from < n; from += benchImportChunk {
		rows := make([]wallet.ImportCustomer, min(benchImportChunk, n-from))
		for i := range rows {
			rows[i] = wallet.ImportCustomer{Phone: benchCustomerPhone(from + i), Name: "Customer " + strconv.Itoa(from+i),
				Tier: wallet.TierFull, Language: "en", PIN: benchCustomerPIN}
		}
		accounts, err := s.w.Import(ctx, rows)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		for _, a := range accounts {
			seed.phones = append(seed.phones, a.Phone)
			seed.ids = append(seed.ids, a.ID)
		}
		progress("imported %d/%d customers", len(seed.phones), n)
	}

	funding := benchMinor(seed.kes, benchFundingMajor)
	agent, err := s.w.AddAgent(ctx, benchAgentPhone, "Bench Agent")
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	seed.agent = *agent
	if _, err := s.w.SetPINWithStartKey(ctx, benchAgentPhone, agent.StartKey, benchAgentPIN); err != nil {
		return nil, fmt.Errorf("agent PIN: %w", err)
	}
	if _, err := s.w.Transfer(ctx, wallet.TransferRequest{Key: "bench-float", Kind: wallet.TransferFloat, To: agent.Number,
		Amount: int64(n) * funding, Reference: "BENCH-FLOAT"}); err != nil {
		return nil, fmt.Errorf("float: %w", err)
	}
	seed.posted++

	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	stop := make(chan struct{})
	progressDone := make(chan struct{})
	go func() { // progress
		defer close(progressDone)
		t := time.NewTicker(benchProgressInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				progress("funded %d/%d customers", done.Load(), n)
			}
		}
	}()
	var wg sync.WaitGroup
	for range min(benchFundingWorkers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				_, err := s.w.Transfer(ctx, wallet.TransferRequest{Key: "bench-fund-" + strconv.Itoa(i), Kind: wallet.TransferDeposit,
					From: benchAgentPhone, To: seed.phones[i], Amount: funding, PIN: benchAgentPIN})
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("deposit to %s: %w", seed.phones[i], err) })
					next.Store(int64(n)) // stop the other workers
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-progressDone // its last line is written before the caller's next
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	seed.posted += int64(n)
	progress("seeded %d customers with %s each and agent %s in %s", n, seed.kes.Format(funding), agent.Number, time.Since(start).Round(time.Millisecond))
	return seed, nil
}

// benchMinor converts whole major units to c's minor units.
func benchMinor(c wallet.Currency, major int64) int64 {
	for range c.Exponent {
		major *= 10
	}
	return major
}

// transferLoad is what the clients measured.
type transferLoad struct {
	posted  int64
	codes   map[wallet.Code]int64 // refusals and failures by code
	latency *latencyHistogram     // of every request, answered or not
	elapsed time.Duration
}

func (r *transferLoad) unexpected() int64 {
	var n int64
	for c, k := range r.codes {
		if !benchExpectedCodes[c] {
			n += k
		}
	}
	return n
}

func (r *transferLoad) report(progress func(string, ...any)) {
	progress("load: %d transfers posted in %s: %.0f/s", r.posted, r.elapsed.Round(time.Millisecond), float64(r.posted)/r.elapsed.Seconds())
	codes := make([]string, 0, len(r.codes))
	for c := range r.codes {
		codes = append(codes, string(c))
	}
	sort.Strings(codes)
	for _, c := range codes {
		what := "refused"
		if !benchExpectedCodes[wallet.Code(c)] {
			what = "FAILED"
		}
		progress("load: %d %s: %s", r.codes[wallet.Code(c)], what, c)
	}
	h := r.latency
	progress("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f",
		milliseconds(h.quantile(0.5)), milliseconds(h.quantile(0.9)), milliseconds(h.quantile(0.99)),
		milliseconds(h.quantile(0.999)), milliseconds(h.max))
}

// load runs the clients for the configured duration: each sends one
// transfer at a time, from a random customer to another (or, hot, to the
// agent), and waits for its answer.
func (s *benchSystem) load(ctx context.Context, seed *benchSeed, progress func(string, ...any)) (*transferLoad, error) {
	conns := make([]*natsapi.Client, s.cfg.Conns)
	for i := range conns {
		nc, err := s.connect("kibubu bench client " + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		conns[i] = natsapi.NewClient(nc, benchRequestTimeout, benchOperator)
	}
	kind, to := wallet.TransferSend, ""
	if s.cfg.Hot {
		kind, to = wallet.TransferWithdraw, seed.agent.Number
	}
	amountMin, amountMax := benchMinor(seed.kes, benchSendMajorMin), benchMinor(seed.kes, benchSendMajorMax)
	var run [4]byte
	rand.Read(run[:])
	keyPrefix := "bench-" + hex.EncodeToString(run[:]) + "-"

	if s.cfg.CPUProfile != "" {
		f, err := os.Create(s.cfg.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	var posted, failed atomic.Int64
	start := time.Now()
	codes := make([]map[wallet.Code]int64, s.cfg.Clients) // each client's refusals and failures
	rngs := make([]*mrand.Rand, s.cfg.Clients)
	prefixes := make([]string, s.cfg.Clients)
	for c := range codes {
		codes[c] = map[wallet.Code]int64{}
		rngs[c] = mrand.New(mrand.NewPCG(uint64(start.UnixNano()), uint64(c)))
		prefixes[c] = keyPrefix + strconv.Itoa(c) + "-"
	}
	n := len(seed.phones)
	send := func(ctx context.Context, c, seq int, h *latencyHistogram) (int64, error) {
		rng := rngs[c]
		src := rng.IntN(n)
		req := wallet.TransferRequest{Key: prefixes[c] + strconv.Itoa(seq), Kind: kind, From: seed.phones[src], To: to,
			Amount: amountMin + rng.Int64N(amountMax-amountMin+1), PIN: benchCustomerPIN}
		if !s.cfg.Hot {
			dst := rng.IntN(n - 1)
			if dst >= src {
				dst++
			}
			req.To = seed.phones[dst]
		}
		t0 := time.Now()
		_, err := conns[c%len(conns)].Transfer(ctx, req)
		h.record(time.Since(t0))
		if err != nil {
			codes[c][wallet.ErrorCode(err)]++
			failed.Add(1)
			return 0, nil
		}
		posted.Add(1)
		return 1, nil
	}

	stop := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(benchProgressInterval)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				p := posted.Load()
				progress("%4.0fs  %6d transfers/s  (%d posted, %d refused or failed)",
					now.Sub(start).Seconds(), int64(float64(p-last)/benchProgressInterval.Seconds()), p, failed.Load())
				last = p
			}
		}
	}()
	res := load(ctx, s.cfg.Clients, s.cfg.Duration, send)
	close(stop)
	<-progressDone
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	out := &transferLoad{posted: res.n, codes: map[wallet.Code]int64{}, latency: &res.latency, elapsed: res.elapsed}
	for c := range codes {
		for code, k := range codes[c] {
			out.codes[code] += k
		}
	}
	return out, nil
}

// waitForEvents waits for the relay to publish an event for every posted
// transfer and returns how many the stream holds.
func (s *benchSystem) waitForEvents(ctx context.Context, want int64, progress func(string, ...any)) (int64, error) {
	start := time.Now()
	for {
		info, err := s.wallet.Stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("event stream: %w", err)
		}
		got := int64(info.State.Msgs)
		if got >= want {
			progress("relay: all %d events published %s after the load", got, time.Since(start).Round(time.Millisecond))
			if got > want {
				return got, fmt.Errorf("the event stream holds %d events for %d transfers", got, want)
			}
			return got, nil
		}
		if time.Since(start) > benchRelayDrainTimeout {
			return got, fmt.Errorf("the relay published %d of %d events within %s", got, want, benchRelayDrainTimeout)
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// storageResult is the storage limit: the best rate of the sweep.
type storageResult struct {
	perSecond float64
	inserted  int64 // transfers inserted over the whole sweep
}

// storageLimit measures the fastest the database takes the load's rows
// without the service: transfers of the same kind between the same
// accounts, with their postings, outbox events and account updates, built
// in memory by store.BulkRows and written with Store.BulkInsert in batches
// of each size of benchStorageBatchSizes. Only the BulkInsert calls are timed. The rows
// continue the ledger from its real balances, so the final check covers them.
func (s *benchSystem) storageLimit(ctx context.Context, seed *benchSeed, progress func(string, ...any)) (*storageResult, error) {
	kind := wallet.TransferSend
	if s.cfg.Hot {
		kind = wallet.TransferWithdraw
	}
	rows, err := s.st.NewBulkRows(ctx, store.BulkRowsConfig{Kind: kind, Customers: seed.ids, Agent: seed.agent.ID,
		Tariff: s.w.Config().Tariff, AmountMin: benchMinor(seed.kes, benchSendMajorMin), AmountMax: benchMinor(seed.kes, benchSendMajorMax)})
	if err != nil {
		return nil, err
	}
	res := &storageResult{}
	for _, size := range benchStorageBatchSizes {
		var spent time.Duration
		var inserted int64
		for spent < s.cfg.StorageSweep {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			w, err := rows.Next(size)
			if err != nil {
				return nil, err
			}
			t0 := time.Now()
			if err := s.st.BulkInsert(ctx, w); err != nil {
				return nil, err
			}
			spent += time.Since(t0)
			inserted += int64(len(w.Transfers))
		}
		rate := float64(inserted) / spent.Seconds()
		progress("storage limit: batches of %4d: %.0f transfers/s", size, rate)
		res.perSecond = max(res.perSecond, rate)
		res.inserted += inserted
	}
	return res, nil
}
