package coffer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// codeChecker applies ops and checks their codes, remembering which codes
// it has seen.
type codeChecker struct {
	t    *testing.T
	c    *Client
	ctx  context.Context
	seen map[ResultCode]bool
}

func (k *codeChecker) apply(ops ...Op) []Result {
	k.t.Helper()
	rs, err := k.c.Apply(k.ctx, ops...)
	if err != nil {
		k.t.Fatalf("Apply: %v", err)
	}
	if len(rs) != len(ops) {
		k.t.Fatalf("%d results for %d ops", len(rs), len(ops))
	}
	for _, r := range rs {
		k.seen[r.Code] = true
	}
	return rs
}

func (k *codeChecker) expect(op Op, code ResultCode) Result {
	k.t.Helper()
	r := k.apply(op)[0]
	if r.Code != code {
		k.t.Fatalf("%v op %d: %v, want %v", op.Kind, op.ID, r, code)
	}
	return r
}

func (k *codeChecker) expectChain(ops []Op, codes ...ResultCode) []Result {
	k.t.Helper()
	rs := k.apply(ops...)
	for i, r := range rs {
		if r.Code != codes[i] {
			k.t.Fatalf("chain op %d: %v, want %v", i, r, codes[i])
		}
	}
	return rs
}

func (k *codeChecker) balance(id uint64) (int64, uint64) {
	k.t.Helper()
	l, err := k.c.Lookup(k.ctx, id)
	if err != nil {
		k.t.Fatal(err)
	}
	return l.Accounts[0].Balance, l.Accounts[0].Held
}

// 2a: every op kind and every result code a client can provoke.
func TestEveryOpAndResultCode(t *testing.T) {
	s := startCofferd(t, "", 0)
	c := dial(t, s, Options{})
	if v := c.ServerInfo().Version; v != 2 {
		t.Fatalf("negotiated version %d, want 2", v)
	}
	k := &codeChecker{t: t, c: c, ctx: testCtx(t), seen: map[ResultCode]bool{}}
	id := NewOpIDs()
	const A, B, C, O, K, X = 101, 102, 103, 104, 105, 999
	k.expect(CreateAccount(id.Next(), A, 1), OK)
	k.expect(CreateAccount(id.Next(), B, 1), OK)
	k.expect(CreateAccount(id.Next(), C, 2), OK)
	k.expect(CreateAccount(id.Next(), O, 1).WithOverdraft(1000), OK)
	k.expect(CreateAccount(id.Next(), K, 1).WithCap(100), OK)
	k.expect(CreateAccount(id.Next(), A, 1), AccountExists)
	k.expect(CreateAccount(id.Next(), A, 2), AccountExistsWithDifferentFlds)
	k.expect(CreateAccount(id.Next(), 106, 0), CurrencyZero)
	k.expect(CreateAccount(id.Next(), 107, 1).WithOverdraft(1<<63), OverdraftLimitTooLarge)

	if r := k.expect(Credit(id.Next(), A, 500).WithReason(3).WithUserData(77), OK); r.BalanceAfter != 500 || r.Seq == 0 {
		t.Fatalf("credit: %v", r)
	}
	k.expect(Credit(id.Next(), A, 0), AmountZero)
	k.expect(Credit(id.Next(), 0, 5), AccountIDZero)
	k.expect(Credit(0, A, 5), OpIDZero)
	k.expect(Op{ID: id.Next(), Account: A, Amount: 1, Kind: 9}, InvalidKind)
	k.expect(Op{ID: id.Next(), Account: A, Amount: 1, Kind: OpCredit, Flags: 0x4}, InvalidFlags)
	k.expect(Op{ID: id.Next(), Account: A, Amount: 1, Aux: 5, Kind: OpCredit}, InvalidField)
	if r := k.expect(Debit(id.Next(), A, 10000), InsufficientFunds); r.BalanceAfter != 500 {
		t.Fatalf("refused debit: %v", r)
	}
	k.expect(Debit(id.Next(), X, 1), AccountNotFound)
	k.expect(Credit(id.Next(), A, 1).WithCurrency(2), CurrencyMismatch)
	k.expect(Transfer(id.Next(), A, C, 1), CurrencyMismatch)
	k.expect(Transfer(id.Next(), A, A, 1), SameAccount)
	k.expect(Credit(id.Next(), K, 101), BalanceCapExceeded)
	k.expect(Credit(id.Next(), K, 100), OK)
	k.expect(Credit(id.Next(), A, 1<<63), Overflow)
	if r := k.expect(Debit(id.Next(), O, 1000), OK); r.BalanceAfter != -1000 {
		t.Fatalf("overdraft debit: %v", r)
	}
	k.expect(Debit(id.Next(), O, 1), InsufficientFunds)

	// Retries: identical fields -> the original answer, duplicate;
	// other fields -> refused.
	op := Transfer(id.Next(), A, B, 50).WithCurrency(1)
	first := k.expect(op, OK)
	again := k.expect(op, OK)
	if first.Duplicate() || !again.Duplicate() || again.Seq != first.Seq || again.BalanceAfter != 450 {
		t.Fatalf("retry: first %v, again %v", first, again)
	}
	changed := op
	changed.Amount = 51
	if r := k.expect(changed, OpIDReusedWithDifferentFields); r.Seq != 0 {
		t.Fatalf("reused op id: %v", r)
	}

	// Holds: capture part, then the hold is closed.
	hold := id.Next()
	k.expect(Hold(hold, A, 100, 0), OK)
	if bal, held := k.balance(A); bal != 450 || held != 100 {
		t.Fatalf("after hold: balance %d held %d", bal, held)
	}
	k.expect(Capture(id.Next(), A, hold, B, 150), CaptureExceedsHold)
	if r := k.expect(Capture(id.Next(), A, hold, B, 40), OK); r.BalanceAfter != 410 {
		t.Fatalf("capture: %v", r)
	}
	k.expect(Release(id.Next(), A, hold), HoldAlreadyClosed)
	k.expect(Release(id.Next(), A, id.Next()), HoldNotFound)
	hold2 := id.Next()
	k.expect(Hold(hold2, A, 50, 0), OK)
	k.expect(Release(id.Next(), A, hold2), OK)
	if _, held := k.balance(A); held != 0 {
		t.Fatalf("held %d after release", held)
	}
	// A hold of 1 ms: a lookup shows it freed once the engine's clock has
	// passed it (waited on, bounded), then a capture answers hold_expired.
	hold3 := id.Next()
	k.expect(Hold(hold3, A, 10, time.Millisecond), OK)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, held := k.balance(A); held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 1 ms hold still held after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	k.expect(Capture(id.Next(), A, hold3, B, 0), HoldExpired)

	// Linked chains.
	bBefore, _ := k.balance(B)
	k.expectChain([]Op{Transfer(id.Next(), A, B, 10).Linked(), Debit(id.Next(), B, 1_000_000)},
		LinkedOpFailed, InsufficientFunds)
	if b, _ := k.balance(B); b != bBefore {
		t.Fatalf("failed chain applied: B %d -> %d", bBefore, b)
	}
	k.expectChain([]Op{Credit(id.Next(), A, 1).Linked()}, LinkedChainOpen)
	long := make([]Op, 66)
	codes := make([]ResultCode, 66)
	for i := range long {
		long[i] = Credit(id.Next(), A, 1).Linked()
		codes[i] = LinkedOpFailed
	}
	long[65].Flags = 0
	codes[0] = LinkedChainTooLong
	k.expectChain(long, codes...)
	twice := Credit(id.Next(), A, 1).Linked()
	k.expectChain([]Op{twice, twice, Credit(id.Next(), A, 1)}, LinkedOpFailed, OpIDRepeatedInChain, LinkedOpFailed)
	rs := k.expectChain([]Op{Transfer(id.Next(), A, B, 10).WithReason(7).Linked(), Credit(id.Next(), C, 1).WithReason(7)}, OK, OK)
	if rs[1].Seq <= rs[0].Seq {
		t.Fatalf("chain seqs %v", rs)
	}

	// Issue times (version 2): ahead of the server's clock, and older than
	// the op-id retention (24 h).
	now := uint64(time.Now().UnixNano())
	rsf, err := c.ApplyIssued(k.ctx, now+uint64(time.Hour), Credit(id.Next(), A, 1))
	if err != nil || rsf[0].Code != OpIssuedInFuture {
		t.Fatalf("issued in the future: %v %v", rsf, err)
	}
	k.seen[rsf[0].Code] = true
	rse, err := c.ApplyIssued(k.ctx, now-uint64(48*time.Hour), Credit(id.Next(), A, 1))
	if err != nil || rse[0].Code != OpExpired {
		t.Fatalf("issued 48 h ago: %v %v", rse, err)
	}
	k.seen[rse[0].Code] = true

	for code := OK; code <= OpExpired; code++ {
		if !k.seen[code] {
			t.Errorf("result code %v not provoked", code)
		}
	}

	// Lookup of several, one missing.
	l, err := c.Lookup(k.ctx, A, X, O, K)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Accounts) != 4 || l.Accounts[1].Exists() || !l.Accounts[0].Exists() || l.Seq == 0 {
		t.Fatalf("lookup: %+v", l)
	}
	if o := l.Accounts[2]; o.Balance != -1000 || o.OverdraftLimit != 1000 || o.Flags != AccountOverdraft || o.Currency != 1 {
		t.Fatalf("overdraft account: %+v", o)
	}
	if kk := l.Accounts[3]; kk.BalanceCap != 100 || kk.Flags != AccountCap || kk.Balance != 100 {
		t.Fatalf("capped account: %+v", kk)
	}

	// Stats, digest, ping, stages, disk.
	st, err := c.Stats(k.ctx)
	if err != nil || len(st.Shards) != 2 || st.Requests == 0 || st.LastSeq == 0 || st.Duplicates == 0 {
		t.Fatalf("stats: %+v %v", st, err)
	}
	d, err := c.Digest(k.ctx)
	if err != nil || d.Accounts != 5 || len(d.Currencies) != 2 || d.Currencies[0].Currency != 1 || d.Seq == 0 {
		t.Fatalf("digest: %+v %v", d, err)
	}
	var sum int64
	for _, a := range l.Accounts {
		if a.Currency == 1 {
			sum += a.Balance
		}
	}
	bal, _ := k.balance(B)
	if got, fits := d.Currencies[0].Balance.Int64(); !fits || got != sum+bal {
		t.Errorf("currency 1 balance sum %+v, want %d", got, sum+bal)
	}
	if err := c.Ping(k.ctx); err != nil {
		t.Fatal(err)
	}
	if stages, err := c.Stages(k.ctx); err != nil || len(stages) == 0 {
		t.Fatalf("stages: %v %v", stages, err)
	}
	if areas, err := c.Disk(k.ctx); err != nil || len(areas) == 0 {
		t.Fatalf("disk: %v %v", areas, err)
	}
	// Backup: a copy into a fresh directory, then a refusal (not empty).
	dst := t.TempDir() + "/copy"
	if br, err := c.Backup(k.ctx, dst); err != nil || br.Seq == 0 || br.Files == 0 {
		t.Fatalf("backup: %+v %v", br, err)
	}
	var se *ServerError
	if _, err := c.Backup(k.ctx, dst); !errors.As(err, &se) || se.Code != ErrCodeBackupFailed {
		t.Fatalf("second backup: %v", err)
	}
	if err := c.Ping(k.ctx); err != nil { // still usable (not closing)
		t.Fatal(err)
	}
}

// 2a: a history page walk with the cursor, and the version 2 filters.
func TestHistoryPagesAndFilters(t *testing.T) {
	s := startCofferd(t, "", 0)
	c := dial(t, s, Options{})
	ctx := testCtx(t)
	const H = 7001
	if _, err := c.Apply(ctx, CreateAccount(NewOpID(), H, 3)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 25; i++ {
		reason := uint32(8)
		if i%5 == 0 {
			reason = 7
		}
		rs, err := c.Apply(ctx, Credit(NewOpID(), H, uint64(i)).WithReason(reason).WithUserData(uint64(i)))
		if err != nil || !rs[0].OK() {
			t.Fatalf("credit %d: %v %v", i, rs, err)
		}
	}
	var all []Entry
	before, pages := uint32(0), 0
	for {
		p, err := c.History(ctx, HistoryQuery{Account: H, Before: before, Limit: 7})
		if err != nil || !p.Found {
			t.Fatalf("history: %+v %v", p, err)
		}
		pages++
		all = append(all, p.Entries...)
		if p.NextBefore == 0 {
			break
		}
		before = p.NextBefore
		if pages > 10 {
			t.Fatal("the cursor does not end")
		}
	}
	if len(all) != 26 || pages != 4 {
		t.Fatalf("%d entries in %d pages, want 26 in 4", len(all), pages)
	}
	for i, e := range all {
		if want := uint32(26 - i); e.Number != want {
			t.Fatalf("entry %d number %d, want %d", i, e.Number, want)
		}
	}
	if e := all[0]; e.Kind != EntryCredit || e.Amount != 25 || e.Balance != 325 || e.UserData != 25 || e.Reason != 7 {
		t.Fatalf("newest entry %+v", e)
	}
	if all[25].Kind != EntryCreate {
		t.Fatalf("oldest entry %+v", all[25])
	}
	// Reason filter: the five of reason 7.
	p, err := c.History(ctx, HistoryQuery{Account: H, Limit: 100, Reason: 7, FilterReason: true})
	if err != nil || len(p.Entries) != 5 {
		t.Fatalf("reason filter: %d entries, %v", len(p.Entries), err)
	}
	// Time filter: from the 10th credit's stamp on: credits 10..25.
	min := all[25-10].Timestamp
	p, err = c.History(ctx, HistoryQuery{Account: H, Limit: 100, TimestampMin: min})
	if err != nil || len(p.Entries) != 16 || p.Entries[15].Amount != 10 {
		t.Fatalf("time filter: %d entries, %v", len(p.Entries), err)
	}
	// A missing account.
	if p, err := c.History(ctx, HistoryQuery{Account: 424242, Limit: 5}); err != nil || p.Found || len(p.Entries) != 0 {
		t.Fatalf("missing account: %+v %v", p, err)
	}
	// Limit 0 is a protocol error (closing); the client reconnects after.
	var se *ServerError
	if _, err := c.History(ctx, HistoryQuery{Account: H, Limit: 0}); !errors.As(err, &se) || se.Code != ErrCodeInvalidField {
		t.Fatalf("limit 0: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("ping after a closing error: %v", err)
	}
}

// Version 1 (asked for by the client): ops without issue time, history
// without filters.
func TestVersion1(t *testing.T) {
	s := startCofferd(t, "", 0)
	c := dial(t, s, Options{MaxVersion: 1})
	ctx := testCtx(t)
	if v := c.ServerInfo().Version; v != 1 {
		t.Fatalf("version %d, want 1", v)
	}
	rs, err := c.Apply(ctx, CreateAccount(NewOpID(), 1, 1), Credit(NewOpID(), 1, 5))
	if err != nil || !rs[0].OK() || !rs[1].OK() || rs[1].BalanceAfter != 5 {
		t.Fatalf("v1 ops: %v %v", rs, err)
	}
	if p, err := c.History(ctx, HistoryQuery{Account: 1, Limit: 10}); err != nil || len(p.Entries) != 2 {
		t.Fatalf("v1 history: %+v %v", p, err)
	}
	if _, err := c.History(ctx, HistoryQuery{Account: 1, Limit: 10, Reason: 7, FilterReason: true}); !errors.Is(err, ErrNeedsVersion2) {
		t.Fatalf("v1 filtered history: %v", err)
	}
}

func TestAuthToken(t *testing.T) {
	s := startCofferd(t, "", 0, "--auth_token=s3cret")
	ctx := testCtx(t)
	_, err := Dial(ctx, Options{Addr: s.addr(), Token: "wrong"})
	if !errors.Is(err, ErrHandshakeRefused) || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong token: %v", err)
	}
	_, err = Dial(ctx, Options{Addr: s.addr()})
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("no token: %v", err)
	}
	c := dial(t, s, Options{Token: "s3cret"})
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestConnectRefused(t *testing.T) {
	s := startCofferd(t, "", 0)
	addr := s.addr()
	s.stop()
	_, err := Dial(testCtx(t), Options{Addr: addr})
	if err == nil || errors.Is(err, ErrHandshakeRefused) {
		t.Fatalf("dial of a stopped server: %v", err)
	}
}

// 2b: 128 concurrent debits of 1 against a balance of 100.
func TestNegativeBalanceRace(t *testing.T) {
	s := startCofferd(t, "", 0)
	c := dial(t, s, Options{})
	ctx := testCtx(t)
	const acct, callers = 5001, 128
	if rs, err := c.Apply(ctx, CreateAccount(NewOpID(), acct, 1), Credit(NewOpID(), acct, 100)); err != nil || !rs[1].OK() {
		t.Fatalf("setup: %v %v", rs, err)
	}
	var okN, insufficient, other int64
	var negative atomic.Bool
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rs, err := c.Apply(ctx, Debit(NewOpID(), acct, 1))
			if err != nil {
				t.Error(err)
				return
			}
			if rs[0].BalanceAfter < 0 {
				negative.Store(true)
			}
			switch rs[0].Code {
			case OK:
				atomic.AddInt64(&okN, 1)
			case InsufficientFunds:
				atomic.AddInt64(&insufficient, 1)
			default:
				atomic.AddInt64(&other, 1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if okN != 100 || insufficient != 28 || other != 0 || negative.Load() {
		t.Fatalf("ok %d, insufficient_funds %d, other %d, negative seen %v", okN, insufficient, other, negative.Load())
	}
	l, err := c.Lookup(ctx, acct)
	if err != nil || l.Accounts[0].Balance != 0 {
		t.Fatalf("final balance: %+v %v", l, err)
	}
	t.Logf("%d calls in %d frames", c.CallsFramed(), c.FramesMade())
}

// 2c: 32 concurrent calls of one op (same op id, same fields), from four
// clients (connections), eight goroutines each.
func TestDoubleChargeRace(t *testing.T) {
	s := startCofferd(t, "", 0)
	ctx := testCtx(t)
	clients := make([]*Client, 4)
	for i := range clients {
		clients[i] = dial(t, s, Options{})
	}
	const acct = 6001
	if rs, err := clients[0].Apply(ctx, CreateAccount(NewOpID(), acct, 1), Credit(NewOpID(), acct, 1000)); err != nil || !rs[1].OK() {
		t.Fatalf("setup: %v %v", rs, err)
	}
	charge := Debit(NewOpID(), acct, 7).WithReason(9).WithUserData(12345)
	results := make([]Result, 32)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			rs, err := clients[i%4].Apply(ctx, charge)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = rs[0]
		}(i)
	}
	close(start)
	wg.Wait()
	originals := 0
	for _, r := range results {
		if r.Code != OK || r.Seq != results[0].Seq || r.BalanceAfter != 993 {
			t.Fatalf("answers differ: %v vs %v", r, results[0])
		}
		if !r.Duplicate() {
			originals++
		}
	}
	if originals != 1 {
		t.Fatalf("%d answers not marked duplicate, want 1", originals)
	}
	l, err := clients[1].Lookup(ctx, acct)
	if err != nil || l.Accounts[0].Balance != 993 || l.Accounts[0].HistoryCount != 3 {
		t.Fatalf("charged more than once: %+v %v", l, err)
	}
}

// 2d: SIGKILL the server in the middle of a pipelined run, restart it on
// the same data dir and port; the client reconnects and resends. Every op
// gets an answer and applies exactly once.
func TestRestartMidRun(t *testing.T) {
	s := startCofferd(t, "", 0)
	c := dial(t, s, Options{ReconnectAttempts: 100, ReconnectBackoff: 10 * time.Millisecond})
	ctx := testCtx(t)
	const acct, workers, perWorker = 8001, 64, 50
	const total = workers * perWorker
	if rs, err := c.Apply(ctx, CreateAccount(NewOpID(), acct, 1)); err != nil || !rs[0].OK() {
		t.Fatalf("setup: %v %v", rs, err)
	}
	var answered, dups int64
	half := make(chan struct{})
	restarted := make(chan *cofferd, 1)
	go func() {
		<-half
		s.kill()
		s2, err := launchCofferd(t, s.dir, s.port)
		if err != nil {
			t.Errorf("restart: %v", err)
		}
		restarted <- s2
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				rs, err := c.Apply(ctx, Credit(NewOpID(), acct, 1))
				if err != nil {
					t.Errorf("credit: %v", err)
					return
				}
				if !rs[0].OK() {
					t.Errorf("credit: %v", rs[0])
					return
				}
				if rs[0].Duplicate() {
					atomic.AddInt64(&dups, 1)
				}
				if atomic.AddInt64(&answered, 1) == total/3 {
					close(half)
				}
			}
		}()
	}
	wg.Wait()
	s2 := <-restarted
	if s2 == nil {
		t.FailNow()
	}
	t.Cleanup(s2.stop)
	if answered != total {
		t.Fatalf("%d of %d ops answered", answered, total)
	}
	if c.Reconnects() < 1 {
		t.Fatalf("no reconnect")
	}
	l, err := c.Lookup(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if a := l.Accounts[0]; a.Balance != total || a.HistoryCount != total+1 {
		t.Fatalf("after the restart: balance %d, %d history entries; want %d and %d", a.Balance, a.HistoryCount, total, total+1)
	}
	t.Logf("%d ops, %d answered as duplicates after the resend, %d reconnects", total, dups, c.Reconnects())
}
