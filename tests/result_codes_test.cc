// Every ResultCode of engine/types.h, triggered on purpose, with the exact
// code asserted and, for every refusal, a check that the ledger state
// (digest, balances, held amounts, history counts) did not change.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <set>
#include <source_location>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

constexpr uint64_t kInt64Max =
    static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

bool SameAccountState(const AccountInfo& a, const AccountInfo& b) {
  return a.id == b.id && a.balance == b.balance && a.held == b.held &&
         a.overdraft_limit == b.overdraft_limit &&
         a.balance_cap == b.balance_cap && a.currency == b.currency &&
         a.flags == b.flags && a.history_count == b.history_count;
}

// Applies requests, checks their codes and records which codes were seen.
class CodeChecker {
 public:
  explicit CodeChecker(Engine& e) : e_(e) {}

  // Applies `ops` as one request and expects exactly `want`. When no op
  // succeeds, the digest and the accounts in `watch` must be unchanged
  // (including their history counts: a refusal writes no history).
  std::vector<OpResult> Expect(
      const std::vector<Op>& ops, const std::vector<ResultCode>& want,
      const std::vector<uint64_t>& watch = {},
      std::source_location loc = std::source_location::current()) {
    SCOPED_TRACE(::testing::Message() << "checked at line " << loc.line());
    const StateDigest digest_before = e_.Digest();
    const std::vector<AccountInfo> before =
        watch.empty() ? std::vector<AccountInfo>{} : e_.Lookup(watch);
    std::vector<OpResult> results = e_.Apply(ops, issued_ns_);
    EXPECT_EQ(results.size(), want.size());
    bool any_ok = false;
    for (size_t i = 0; i < results.size() && i < want.size(); ++i) {
      EXPECT_EQ(results[i].code, want[i])
          << "op " << i << ": got " << ResultCodeName(results[i].code)
          << ", want " << ResultCodeName(want[i]);
      seen_.insert(static_cast<uint16_t>(results[i].code));
      any_ok |= results[i].ok();
    }
    if (!any_ok) {
      EXPECT_EQ(e_.Digest(), digest_before)
          << "a refused request changed state";
      if (!watch.empty()) {
        const std::vector<AccountInfo> after = e_.Lookup(watch);
        for (size_t i = 0; i < watch.size(); ++i) {
          EXPECT_TRUE(SameAccountState(before[i], after[i]))
              << "account " << watch[i]
              << " changed by a refused request: balance " << before[i].balance
              << "->" << after[i].balance << " held " << before[i].held << "->"
              << after[i].held << " history " << before[i].history_count << "->"
              << after[i].history_count;
        }
      }
    }
    return results;
  }

  OpResult Expect1(const Op& op, ResultCode want,
                   const std::vector<uint64_t>& watch = {},
                   std::source_location loc = std::source_location::current()) {
    return Expect({op}, {want}, watch, loc)[0];
  }

  const std::set<uint16_t>& seen() const { return seen_; }
  // Request::issued_ns of the requests Expect sends (0: none).
  void set_issued_ns(uint64_t ns) { issued_ns_ = ns; }

 private:
  Engine& e_;
  uint64_t issued_ns_ = 0;
  std::set<uint16_t> seen_;
};

// Account ids used below (currency 1 unless noted).
constexpr uint64_t kA = 11;         // main account, funded
constexpr uint64_t kB = 12;         // second account
constexpr uint64_t kGems = 13;      // currency 2
constexpr uint64_t kCapped = 14;    // cap 100
constexpr uint64_t kHouse = 15;     // overdraft 500
constexpr uint64_t kBig = 16;       // near INT64_MAX
constexpr uint64_t kMissing = 999;  // never created

TEST(ResultCodes, EveryCodeIsTriggered) {
  ManualClock clock;
  EngineConfig config;
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  // A data directory: the issue-time codes need the op-id index.
  config.data_dir = FreshDir("result-codes");
  auto e = MakeEngine(2, config);
  CodeChecker c(*e);
  const std::vector<uint64_t> all = {kA, kB, kGems, kCapped, kHouse, kBig};

  // --- ok: set-up ---------------------------------------------------------
  c.Expect({CreateAccount(kA), CreateAccount(kB), CreateAccount(kGems, 2),
            CreateAccount(kCapped, 1, 0, 100), CreateAccount(kHouse, 1, 500),
            CreateAccount(kBig)},
           std::vector<ResultCode>(6, ResultCode::kOk));
  ASSERT_EQ(c.Expect1(Credit(kA, 1000), ResultCode::kOk).balance_after, 1000);
  ASSERT_EQ(c.Expect1(Credit(kGems, 50), ResultCode::kOk).balance_after, 50);

  // --- duplicate flag on an exact retry -----------------------------------
  {
    const Op credit = Credit(kB, 7);
    const OpResult first = c.Expect1(credit, ResultCode::kOk);
    EXPECT_FALSE(first.duplicate());
    EXPECT_NE(first.seq, 0u);
    const OpResult retry = c.Expect1(credit, ResultCode::kOk, all);
    EXPECT_TRUE(retry.duplicate());
    EXPECT_EQ(retry.seq, first.seq);
    EXPECT_EQ(retry.balance_after, first.balance_after);
    EXPECT_EQ(Balance(*e, kB), 7);
  }

  // --- linked_chain_open ----------------------------------------------------
  {
    OpResult r =
        c.Expect1(Linked(Credit(kA, 5)), ResultCode::kLinkedChainOpen, all);
    EXPECT_EQ(r.seq, 0u);
    c.Expect({Linked(Credit(kA, 5)), Linked(Credit(kB, 5))},
             {ResultCode::kLinkedChainOpen, ResultCode::kLinkedChainOpen}, all);
    // The complete ops before the open chain still apply.
    auto rs = c.Expect({Credit(kB, 3), Linked(Credit(kA, 5))},
                       {ResultCode::kOk, ResultCode::kLinkedChainOpen});
    EXPECT_EQ(rs[0].balance_after, 10);
    EXPECT_EQ(Balance(*e, kB), 10);
    EXPECT_EQ(Balance(*e, kA), 1000);
  }

  // --- linked_chain_too_long (and the longest chain that is accepted) -----
  {
    std::vector<Op> chain;
    for (uint32_t i = 0; i < kChainOpsMax; ++i)
      chain.push_back(Linked(Credit(kB, 1)));
    chain.push_back(Credit(kB, 1));  // kChainOpsMax + 1 ops
    std::vector<ResultCode> want(chain.size(), ResultCode::kLinkedOpFailed);
    want[0] = ResultCode::kLinkedChainTooLong;
    c.Expect(chain, want, all);

    chain.pop_back();
    chain.back().flags = 0;  // exactly kChainOpsMax ops: accepted
    c.Expect(chain, std::vector<ResultCode>(kChainOpsMax, ResultCode::kOk));
    EXPECT_EQ(Balance(*e, kB), 10 + static_cast<int64_t>(kChainOpsMax));
    c.Expect1(Debit(kB, kChainOpsMax), ResultCode::kOk);
  }

  // --- op_id_zero
  // -------------------------------------------------------------
  {
    Op op = Credit(kA, 5);
    op.op_id = 0;
    EXPECT_EQ(c.Expect1(op, ResultCode::kOpIdZero, all).seq, 0u);
    c.Expect({Linked(Credit(kA, 5)), op},
             {ResultCode::kLinkedOpFailed, ResultCode::kOpIdZero}, all);
  }

  // --- account_id_zero
  // --------------------------------------------------------
  c.Expect1(Credit(0, 5), ResultCode::kAccountIdZero, all);
  c.Expect1(Debit(0, 5), ResultCode::kAccountIdZero, all);
  c.Expect1(Transfer(kA, 0, 5), ResultCode::kAccountIdZero, all);
  c.Expect1(Transfer(0, kA, 5), ResultCode::kAccountIdZero, all);
  c.Expect1(CreateAccount(0), ResultCode::kAccountIdZero, all);

  // --- invalid_kind
  // -----------------------------------------------------------
  for (uint8_t kind : {uint8_t{0}, uint8_t{8}, uint8_t{99}, uint8_t{255}}) {
    Op op = Credit(kA, 5);
    op.kind = static_cast<OpKind>(kind);
    c.Expect1(op, ResultCode::kInvalidKind, all);
  }

  // --- invalid_flags
  // ----------------------------------------------------------
  {
    Op op = Credit(kA, 5);
    op.flags = 1u << 3;  // unknown op flag
    c.Expect1(op, ResultCode::kInvalidFlags, all);
    op = Credit(kA, 5);
    op.flags = 0x8000;
    c.Expect1(op, ResultCode::kInvalidFlags, all);

    Op create = CreateAccount(20);
    create.account_flags = kAccountFlagOverdraft;  // flag, zero limit
    c.Expect1(create, ResultCode::kInvalidFlags, all);
    create = CreateAccount(20);
    create.amount = 100;  // limit without the flag
    c.Expect1(create, ResultCode::kInvalidFlags, all);
    create = CreateAccount(20);
    create.account_flags = kAccountFlagCap;  // cap flag, zero cap
    c.Expect1(create, ResultCode::kInvalidFlags, all);
    create = CreateAccount(20);
    create.aux = 100;  // cap without the flag
    c.Expect1(create, ResultCode::kInvalidFlags, all);
    create = CreateAccount(20);
    create.account_flags = 1u << 5;  // unknown account flag
    c.Expect1(create, ResultCode::kInvalidFlags, all);
    EXPECT_EQ(Account(*e, 20).id, 0u);
  }

  // --- invalid_field
  // ----------------------------------------------------------
  {
    Op op = Debit(kA, 5);
    op.aux = 1;
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = Debit(kA, 5);
    op.other_account_id = kB;
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = Credit(kA, 5);
    op.reserved = 1;
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = Credit(kA, 5);
    op.account_flags = kAccountFlagCap;  // account flags on a credit
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = Transfer(kA, kB, 5);
    op.aux = 3;
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = CreateAccount(20);
    op.other_account_id = kA;
    c.Expect1(op, ResultCode::kInvalidField, all);
    op = Hold(kA, 5);
    op.other_account_id = kB;
    c.Expect1(op, ResultCode::kInvalidField, all);
  }

  // --- amount_zero
  // --------------------------------------------------------------
  c.Expect1(Credit(kA, 0), ResultCode::kAmountZero, all);
  c.Expect1(Debit(kA, 0), ResultCode::kAmountZero, all);
  c.Expect1(Transfer(kA, kB, 0), ResultCode::kAmountZero, all);
  c.Expect1(Hold(kA, 0), ResultCode::kAmountZero, all);

  // --- same_account
  // -------------------------------------------------------------
  c.Expect1(Transfer(kA, kA, 5), ResultCode::kSameAccount, all);

  // --- currency_zero
  // ------------------------------------------------------------
  c.Expect1(CreateAccount(20, /*currency=*/0), ResultCode::kCurrencyZero, all);
  EXPECT_EQ(Account(*e, 20).id, 0u);

  // --- account_not_found
  // ----------------------------------------------------------
  c.Expect1(Credit(kMissing, 5), ResultCode::kAccountNotFound, all);
  c.Expect1(Debit(kMissing, 5), ResultCode::kAccountNotFound, all);
  c.Expect1(Transfer(kA, kMissing, 5), ResultCode::kAccountNotFound, all);
  c.Expect1(Transfer(kMissing, kA, 5), ResultCode::kAccountNotFound, all);
  c.Expect1(Hold(kMissing, 5), ResultCode::kAccountNotFound, all);

  // --- account_exists / account_exists_with_different_fields
  // -----------------------
  c.Expect1(CreateAccount(kA), ResultCode::kAccountExists, all);
  c.Expect1(CreateAccount(kCapped, 1, 0, 100), ResultCode::kAccountExists, all);
  c.Expect1(CreateAccount(kHouse, 1, 500), ResultCode::kAccountExists, all);
  c.Expect1(CreateAccount(kA, 2), ResultCode::kAccountExistsWithDifferentFields,
            all);
  c.Expect1(CreateAccount(kA, 1, 10),
            ResultCode::kAccountExistsWithDifferentFields, all);
  c.Expect1(CreateAccount(kCapped, 1, 0, 101),
            ResultCode::kAccountExistsWithDifferentFields, all);
  c.Expect1(CreateAccount(kHouse, 1, 501),
            ResultCode::kAccountExistsWithDifferentFields, all);
  EXPECT_EQ(Balance(*e, kA), 1000);  // recreating did not reset it

  // --- currency_mismatch
  // ------------------------------------------------------------
  c.Expect1(Transfer(kA, kGems, 5), ResultCode::kCurrencyMismatch, all);
  c.Expect1(Transfer(kGems, kA, 5), ResultCode::kCurrencyMismatch, all);
  c.Expect1(WithCurrency(Debit(kA, 5), 2), ResultCode::kCurrencyMismatch, all);
  c.Expect1(WithCurrency(Credit(kGems, 5), 1), ResultCode::kCurrencyMismatch,
            all);
  c.Expect1(WithCurrency(Transfer(kA, kB, 5), 2), ResultCode::kCurrencyMismatch,
            all);
  c.Expect1(WithCurrency(Hold(kA, 5), 2), ResultCode::kCurrencyMismatch, all);
  // The guard with the right currency passes.
  EXPECT_EQ(c.Expect1(WithCurrency(Debit(kGems, 5), 2), ResultCode::kOk)
                .balance_after,
            45);

  // --- insufficient_funds
  // -------------------------------------------------------------
  {
    OpResult r =
        c.Expect1(Debit(kA, 1001), ResultCode::kInsufficientFunds, all);
    EXPECT_EQ(r.balance_after, 1000);  // refused: the current balance
    EXPECT_NE(r.seq, 0u);              // refused after ordering
    c.Expect1(Transfer(kA, kB, 1001), ResultCode::kInsufficientFunds, all);
    c.Expect1(Hold(kA, 1001), ResultCode::kInsufficientFunds, all);
    // Overdraft account: down to -500, not below.
    EXPECT_EQ(c.Expect1(Debit(kHouse, 500), ResultCode::kOk).balance_after,
              -500);
    c.Expect1(Debit(kHouse, 1), ResultCode::kInsufficientFunds, all);
    c.Expect1(Credit(kHouse, 500), ResultCode::kOk);
  }

  // --- balance_cap_exceeded
  // -------------------------------------------------------------
  c.Expect1(Credit(kCapped, 101), ResultCode::kBalanceCapExceeded, all);
  c.Expect1(Credit(kCapped, 100), ResultCode::kOk);
  c.Expect1(Credit(kCapped, 1), ResultCode::kBalanceCapExceeded, all);
  c.Expect1(Transfer(kA, kCapped, 1), ResultCode::kBalanceCapExceeded, all);
  c.Expect1(Debit(kCapped, 100), ResultCode::kOk);

  // --- overflow
  // ---------------------------------------------------------------------------
  EXPECT_EQ(c.Expect1(Credit(kBig, kInt64Max), ResultCode::kOk).balance_after,
            std::numeric_limits<int64_t>::max());
  c.Expect1(Credit(kBig, 1), ResultCode::kOverflow, all);
  c.Expect1(Credit(kA, std::numeric_limits<uint64_t>::max()),
            ResultCode::kOverflow, all);
  c.Expect1(Debit(kA, kInt64Max + 1), ResultCode::kOverflow, all);
  c.Expect1(Transfer(kA, kB, kInt64Max + 1), ResultCode::kOverflow, all);
  c.Expect1(Transfer(kA, kBig, 1), ResultCode::kOverflow, all);
  c.Expect1(Hold(kA, 5, std::numeric_limits<uint64_t>::max()),
            ResultCode::kOverflow, all);

  // --- overdraft_limit_too_large
  // ------------------------------------------------------------
  c.Expect1(CreateAccount(20, 1, kInt64Max + 1),
            ResultCode::kOverdraftLimitTooLarge, all);
  c.Expect1(CreateAccount(20, 1, 0, kInt64Max + 1),
            ResultCode::kOverdraftLimitTooLarge, all);
  c.Expect1(CreateAccount(20, 1, std::numeric_limits<uint64_t>::max()),
            ResultCode::kOverdraftLimitTooLarge, all);
  EXPECT_EQ(Account(*e, 20).id, 0u);
  // The largest allowed limit is accepted.
  c.Expect1(CreateAccount(21, 1, kInt64Max), ResultCode::kOk);

  // --- holds: hold_not_found, capture_exceeds_hold, hold_already_closed
  // -----------------------
  {
    const Op hold = Hold(kA, 100);
    c.Expect1(hold, ResultCode::kOk);
    EXPECT_EQ(Account(*e, kA).held, 100u);
    c.Expect1(Capture(kA, hold.op_id, kB, 101), ResultCode::kCaptureExceedsHold,
              all);
    c.Expect1(Capture(kA, /*hold_id=*/424242, kB, 10),
              ResultCode::kHoldNotFound, all);
    c.Expect1(Capture(kA, /*hold_id=*/0, kB, 10), ResultCode::kHoldNotFound,
              all);
    c.Expect1(Release(kA, 424242), ResultCode::kHoldNotFound, all);
    // The hold exists but belongs to another account.
    c.Expect1(Capture(kB, hold.op_id, kA, 10), ResultCode::kHoldNotFound, all);
    c.Expect1(Release(kB, hold.op_id), ResultCode::kHoldNotFound, all);
    // Field checks of captures and releases.
    c.Expect1(Capture(kA, hold.op_id, 0, 10), ResultCode::kAccountIdZero, all);
    c.Expect1(Capture(kA, hold.op_id, kA, 10), ResultCode::kSameAccount, all);
    c.Expect1(Capture(kA, hold.op_id, kGems, 10), ResultCode::kCurrencyMismatch,
              all);
    c.Expect1(Capture(kA, hold.op_id, kMissing, 10),
              ResultCode::kAccountNotFound, all);
    Op release = Release(kA, hold.op_id);
    release.amount = 5;
    c.Expect1(release, ResultCode::kInvalidField, all);
    // Every refusal above left the hold open.
    EXPECT_EQ(Account(*e, kA).held, 100u);

    c.Expect1(Capture(kA, hold.op_id, kB, 100), ResultCode::kOk);
    c.Expect1(Capture(kA, hold.op_id, kB, 1), ResultCode::kHoldAlreadyClosed,
              all);
    c.Expect1(Release(kA, hold.op_id), ResultCode::kHoldAlreadyClosed, all);
    EXPECT_EQ(Balance(*e, kA), 900);
    EXPECT_EQ(Account(*e, kA).held, 0u);
  }

  // --- hold_expired (manual clock)
  // ---------------------------------------------------
  {
    const Op hold = Hold(kA, 50, /*timeout_ms=*/1000);
    c.Expect1(hold, ResultCode::kOk);
    EXPECT_EQ(Account(*e, kA).held, 50u);
    clock.now_ns.fetch_add(2'000'000'000);
    const uint32_t count_before = Account(*e, kA).history_count;
    EXPECT_EQ(Account(*e, kA).held, 0u);
    // The first op touching the account closes the due hold: by design that
    // writes one hold_expired history entry (balance and digest unchanged).
    const StateDigest digest = e->Digest();
    c.Expect1(Capture(kA, hold.op_id, kB, 10), ResultCode::kHoldExpired);
    EXPECT_EQ(e->Digest(), digest);
    EXPECT_EQ(Account(*e, kA).history_count, count_before + 1);
    const HistoryEntry newest = HistoryPage(*e, kA, 0, 1).history.at(0);
    EXPECT_EQ(newest.kind, EntryKind::kHoldExpired);
    EXPECT_EQ(newest.op_id, hold.op_id);
    EXPECT_EQ(newest.held_delta, -50);
    EXPECT_EQ(newest.held_after, 0u);
    // From then on, refusals change nothing at all.
    c.Expect1(Release(kA, hold.op_id), ResultCode::kHoldExpired, all);
    c.Expect1(Capture(kA, hold.op_id, kB, 0), ResultCode::kHoldExpired, all);
  }

  // --- op_id_reused_with_different_fields
  // ------------------------------------------------
  {
    Op debit = Debit(kA, 10);
    c.Expect1(debit, ResultCode::kOk);
    const int64_t after = Balance(*e, kA);
    Op changed = debit;
    changed.amount = 11;
    EXPECT_EQ(
        c.Expect1(changed, ResultCode::kOpIdReusedWithDifferentFields, all).seq,
        0u);
    changed = debit;
    changed.user_data = 1;  // any field counts
    c.Expect1(changed, ResultCode::kOpIdReusedWithDifferentFields, all);
    // The same id twice in one chain.
    Op x = Credit(kA, 1);
    Op y = Credit(kB, 1);
    y.op_id = x.op_id;
    c.Expect({Linked(x), y},
             {ResultCode::kLinkedOpFailed,
              ResultCode::kOpIdReusedWithDifferentFields},
             all);
    EXPECT_EQ(Balance(*e, kA), after);
  }

  // --- op_id_repeated_in_chain: the identical op twice in one chain
  // -------------------------------------------------------------------
  {
    const int64_t a_before = Balance(*e, kA);
    const Op x = Credit(kA, 1);
    auto rs = c.Expect(
        {Linked(Credit(kB, 1)), Linked(x), Linked(x), Credit(kB, 2)},
        {ResultCode::kLinkedOpFailed, ResultCode::kLinkedOpFailed,
         ResultCode::kOpIdRepeatedInChain, ResultCode::kLinkedOpFailed},
        all);
    EXPECT_EQ(rs[2].seq, 0u);
    EXPECT_EQ(rs[2].balance_after, a_before);
    // Not remembered: the chain without the second copy applies.
    c.Expect({Linked(x), Credit(kB, 2)}, {ResultCode::kOk, ResultCode::kOk});
    EXPECT_EQ(Balance(*e, kA), a_before + 1);
  }

  // --- linked_op_failed
  // -------------------------------------------------------------------
  {
    auto rs = c.Expect(
        {Linked(Debit(kA, 5)), Linked(Credit(kB, 5)), Credit(kMissing, 1)},
        {ResultCode::kLinkedOpFailed, ResultCode::kLinkedOpFailed,
         ResultCode::kAccountNotFound},
        all);
    // Refused chain ops report the unchanged balances.
    EXPECT_EQ(rs[0].balance_after, Balance(*e, kA));
    EXPECT_EQ(rs[1].balance_after, Balance(*e, kB));
  }

  // --- op_issued_in_future, op_expired: a request's issue time
  // -------------------------------------------------------------------
  {
    constexpr uint64_t kSecondNs = 1'000'000'000;
    clock.now_ns.fetch_add(48 * 3600 * kSecondNs);
    c.set_issued_ns(clock.now_ns.load() + 3 * kSecondNs);  // 2 s allowed
    c.Expect1(Debit(kA, 1), ResultCode::kOpIssuedInFuture, all);
    c.set_issued_ns(clock.now_ns.load() - 25 * 3600 * kSecondNs);
    c.Expect1(Debit(kA, 1), ResultCode::kOpExpired, all);
    c.Expect({Linked(Debit(kA, 1)), Credit(kB, 1)},
             {ResultCode::kOpExpired, ResultCode::kLinkedOpFailed}, all);
    c.set_issued_ns(0);
  }

  // --- every code was seen
  // ----------------------------------------------------------------
  for (uint16_t code = 0; code <= kResultCodeMax; ++code) {
    EXPECT_TRUE(c.seen().count(code))
        << "never triggered: " << ResultCodeName(static_cast<ResultCode>(code));
    EXPECT_NE(ResultCodeName(static_cast<ResultCode>(code)),
              "unknown_result_code");
  }
}

// Flags and fields that disagree are refused for every kind, not only the
// ones above; and a refused op is still ordered (it has a seq) unless it was
// refused before ordering.
TEST(ResultCodes, RefusedBeforeOrderingHaveNoSeq) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  const uint64_t last_seq = e->Stats().last_seq;

  Op zero = Credit(1, 1);
  zero.op_id = 0;
  std::vector<Op> too_long;
  for (uint32_t i = 0; i <= kChainOpsMax; ++i)
    too_long.push_back(Linked(Credit(1, 1)));
  too_long.back().flags = 0;
  for (const std::vector<Op>& ops :
       {std::vector<Op>{zero}, std::vector<Op>{Linked(Credit(1, 1))},
        too_long}) {
    for (const OpResult& r : e->Apply(ops)) {
      EXPECT_FALSE(r.ok());
      EXPECT_EQ(r.seq, 0u) << Describe(r);
    }
  }
  EXPECT_EQ(e->Stats().last_seq, last_seq);
  EXPECT_EQ(Balance(*e, 1), 0);

  // Refused by the executor: ordered, so it takes a seq.
  OpResult r = e->Apply({Debit(1, 1)})[0];
  EXPECT_EQ(r.code, ResultCode::kInsufficientFunds);
  EXPECT_EQ(r.seq, last_seq + 1);
}

// A refusal inside a single-op request leaves neither history nor balance.
TEST(ResultCodes, RefusalWritesNoHistory) {
  auto e = MakeEngine(3);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2, 2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 10)), ResultCode::kOk);
  const auto before = AllHistory(*e, 1);
  ASSERT_EQ(before.size(), 2u);
  EXPECT_EQ(Code(*e, Debit(1, 11)), ResultCode::kInsufficientFunds);
  EXPECT_EQ(Code(*e, Transfer(1, 2, 1)), ResultCode::kCurrencyMismatch);
  EXPECT_EQ(Code(*e, CreateAccount(1)), ResultCode::kAccountExists);
  EXPECT_EQ(Code(*e, Hold(1, 11)), ResultCode::kInsufficientFunds);
  const auto after = AllHistory(*e, 1);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].seq, before[0].seq);
  EXPECT_EQ(Account(*e, 1).history_count, 2u);
  EXPECT_EQ(Balance(*e, 1), 10);
}

// Refusals made before ordering carry the account's current balance, like
// every other refusal (PROTOCOL.md, OPS_REPLY), on every shard count.
TEST(ResultCodes, RefusedBeforeOrderingReportCurrentBalance) {
  for (uint32_t shards : {1u, 3u}) {
    SCOPED_TRACE(shards);
    auto e = MakeEngine(shards);
    ASSERT_EQ(Code(*e, CreateAccount(1001)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(1002)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(1001, 100)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(1002, 7)), ResultCode::kOk);
    Op debit = Debit(1001, 30);
    ASSERT_EQ(e->Apply({debit})[0].balance_after, 70);

    // The CLI's case: a retry of op 77 with another amount.
    Op changed = debit;
    changed.amount = 31;
    OpResult r = e->Apply({changed})[0];
    EXPECT_EQ(r.code, ResultCode::kOpIdReusedWithDifferentFields);
    EXPECT_EQ(r.seq, 0u);
    EXPECT_EQ(r.balance_after, 70);

    Op zero = Credit(1002, 1);
    zero.op_id = 0;
    std::vector<Op> too_long;
    for (uint32_t i = 0; i <= kChainOpsMax; ++i) {
      too_long.push_back(Linked(Credit(i % 2 == 0 ? 1001 : 1002, 1)));
    }
    too_long.back().flags = 0;
    const std::vector<std::vector<Op>> requests = {
        {Linked(Credit(1001, 1)), zero},            // op_id_zero in a chain
        {Credit(1002, 1), Linked(Debit(1001, 1))},  // linked_chain_open
        too_long,
        {Credit(9999, 1), Linked(changed), Credit(1002, 1)}};
    for (const std::vector<Op>& ops : requests) {
      const std::vector<OpResult> rs = e->Apply(ops);
      ASSERT_EQ(rs.size(), ops.size());
      for (size_t i = 0; i < rs.size(); ++i) {
        if (rs[i].seq != 0) continue;  // ordered: the executor's answer
        const uint64_t id = ops[i].account_id;
        const int64_t want = id == 9999 ? 0 : Balance(*e, id);
        EXPECT_EQ(rs[i].balance_after, want)
            << "op " << i << " " << Describe(rs[i]);
      }
    }
    // The open chain's request ordered its first op: the read came after.
    EXPECT_EQ(Balance(*e, 1002), 8);
  }
}

}  // namespace
}  // namespace coffer::testing
