// Exactly-once answers: the documented window of remembered op ids (both
// sides of the bound), refused ops that stay refused on retry, and whole-
// chain retries.
#include <cstdint>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

constexpr uint32_t kWindow = 64;

// The smallest window Validate() accepts: op_ids_remembered_max must be >=
// ops_in_flight_max, which must be >= request_ops_max.
EngineConfig SmallWindow() {
  EngineConfig c;
  c.request_ops_max = kWindow;
  c.ops_in_flight_max = kWindow;
  c.op_ids_remembered_max = kWindow;
  return c;
}

// RocksDB's rate limiter takes a signed rate: a larger one is refused, with
// the bound named, rather than wrapped.
TEST(ExactlyOnce, CompactionWriteRateAboveItsMaximumIsRefused) {
  EngineConfig c;
  c.store_compaction_write_bytes_per_s = kStoreCompactionWriteBytesPerSMax;
  EXPECT_TRUE(c.Validate().ok());
  c.store_compaction_write_bytes_per_s = ~uint64_t{0};
  const absl::Status s = c.Validate();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("1 TB/s"), std::string::npos) << s;
}

TEST(ExactlyOnce, SmallWindowConfigIsValidAndSmallerIsNot) {
  EXPECT_TRUE(SmallWindow().Validate().ok());
  EngineConfig c = SmallWindow();
  c.op_ids_remembered_max = kWindow - 1;
  EXPECT_FALSE(c.Validate().ok());
  c = SmallWindow();
  c.ops_in_flight_max = kWindow - 1;
  c.op_ids_remembered_max = kWindow - 1;
  EXPECT_FALSE(c.Validate().ok());  // below request_ops_max
}

// The documented bound (engine/DESIGN.md, "Exactly once"): the engine
// remembers the most recent op_ids_remembered_max ORDERED ops. An op stays a
// duplicate while fewer than op_ids_remembered_max ops have been ordered
// after it; once op_ids_remembered_max newer ops exist it is forgotten and a
// retry applies again (a second charge). This test pins both sides.
TEST(ExactlyOnce, WindowBoundIsExact) {
  for (uint32_t shards : {1u, 3u}) {
    SCOPED_TRACE(::testing::Message() << "shards=" << shards);
    auto e = MakeEngine(shards, SmallWindow());
    constexpr uint64_t kPayer = 1;
    constexpr uint64_t kOther = 2;
    ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(kOther)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(kPayer, 1'000'000)), ResultCode::kOk);

    const Op a = Debit(kPayer, 100);
    const OpResult first = e->Apply({a})[0];
    ASSERT_EQ(first.code, ResultCode::kOk);
    ASSERT_FALSE(first.duplicate());

    // 63 more ordered ops (one request of 63; some refused by the executor,
    // which still orders and remembers them).
    std::vector<Op> others;
    for (uint32_t i = 0; i < kWindow - 1; ++i) {
      others.push_back(i % 9 == 0 ? Debit(kOther, 1) : Credit(kOther, 1));
    }
    const std::vector<OpResult> rs = e->Apply(others);
    ASSERT_EQ(rs.size(), others.size());
    EXPECT_EQ(rs.back().seq, first.seq + kWindow - 1);

    // Ops refused before ordering, duplicates and reads take no place in
    // the window.
    Op zero = Credit(kOther, 1);
    zero.op_id = 0;
    EXPECT_EQ(Code(*e, zero), ResultCode::kOpIdZero);
    EXPECT_EQ(Code(*e, Linked(Credit(kOther, 1))),
              ResultCode::kLinkedChainOpen);
    Op reused = others[5];
    reused.amount += 1;
    EXPECT_EQ(Code(*e, reused), ResultCode::kOpIdReusedWithDifferentFields);
    EXPECT_TRUE(e->Apply({others[7]})[0].duplicate());
    (void)e->Lookup({kPayer, kOther});
    (void)e->Digest();

    // Inside the window: still a duplicate, no second charge.
    for (int retry = 0; retry < 2; ++retry) {
      const OpResult again = e->Apply({a})[0];
      EXPECT_EQ(again.code, ResultCode::kOk);
      EXPECT_TRUE(again.duplicate());
      EXPECT_EQ(again.seq, first.seq);
      EXPECT_EQ(again.balance_after, first.balance_after);
    }
    EXPECT_EQ(Balance(*e, kPayer), 1'000'000 - 100);

    // One more ordered op: now kWindow ops follow `a`, which is forgotten.
    const OpResult nth = e->Apply({Credit(kOther, 1)})[0];
    ASSERT_EQ(nth.code, ResultCode::kOk);
    EXPECT_EQ(nth.seq, first.seq + kWindow);
    // The op just before it is still remembered.
    EXPECT_TRUE(e->Apply({others[0]})[0].duplicate());

    const OpResult applied_again = e->Apply({a})[0];
    EXPECT_EQ(applied_again.code, ResultCode::kOk);
    EXPECT_FALSE(applied_again.duplicate())
        << "beyond the documented window a retry applies again";
    EXPECT_EQ(applied_again.seq, nth.seq + 1);
    EXPECT_EQ(Balance(*e, kPayer), 1'000'000 - 200);
    // And from then on the new application is what is remembered.
    const OpResult dup = e->Apply({a})[0];
    EXPECT_TRUE(dup.duplicate());
    EXPECT_EQ(dup.seq, applied_again.seq);
    EXPECT_EQ(Balance(*e, kPayer), 1'000'000 - 200);
  }
}

// Chains count one window slot per op.
TEST(ExactlyOnce, WindowCountsEveryOpOfAChain) {
  auto e = MakeEngine(2, SmallWindow());
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  const Op a = Credit(1, 5);
  ASSERT_EQ(Code(*e, a), ResultCode::kOk);
  std::vector<Op> chain;
  for (uint32_t i = 0; i + 1 < kWindow - 1; ++i)
    chain.push_back(Linked(Credit(2, 1)));
  chain.push_back(Credit(2, 1));  // 63 ops after `a`
  for (const OpResult& r : e->Apply(chain)) ASSERT_EQ(r.code, ResultCode::kOk);
  EXPECT_TRUE(e->Apply({a})[0].duplicate());
  ASSERT_EQ(Code(*e, Credit(2, 1)), ResultCode::kOk);  // the 64th
  const OpResult again = e->Apply({a})[0];
  EXPECT_FALSE(again.duplicate());
  EXPECT_EQ(Balance(*e, 1), 10);
}

// A refused op's id is remembered: a retry after the account was funded
// answers the original insufficient_funds (marked duplicate), not a charge.
TEST(ExactlyOnce, RefusedOpStaysRefusedAfterFunding) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 50)), ResultCode::kOk);
  const Op debit = Debit(1, 100);
  const OpResult first = e->Apply({debit})[0];
  ASSERT_EQ(first.code, ResultCode::kInsufficientFunds);
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(first.balance_after, 50);

  ASSERT_EQ(Code(*e, Credit(1, 1000)), ResultCode::kOk);
  const OpResult retry = e->Apply({debit})[0];
  EXPECT_EQ(retry.code, ResultCode::kInsufficientFunds);
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.seq, first.seq);
  EXPECT_EQ(retry.balance_after, 50);  // the original answer
  EXPECT_EQ(Balance(*e, 1), 1050);
  // The same for a refusal of another kind (account not found, then created).
  const Op credit = Credit(2, 10);
  ASSERT_EQ(Code(*e, credit), ResultCode::kAccountNotFound);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  const OpResult retry2 = e->Apply({credit})[0];
  EXPECT_EQ(retry2.code, ResultCode::kAccountNotFound);
  EXPECT_TRUE(retry2.duplicate());
  EXPECT_EQ(Balance(*e, 2), 0);
  // A new attempt is a new op id.
  Op fresh = debit;
  fresh.op_id = NextOpId();
  EXPECT_EQ(Code(*e, fresh), ResultCode::kOk);
  EXPECT_EQ(Balance(*e, 1), 950);
}

// Ops refused before ordering are not remembered: once fixed, the same id
// applies.
TEST(ExactlyOnce, RefusedBeforeOrderingIsNotRemembered) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  const Op open = Linked(Credit(1, 10));
  EXPECT_EQ(Code(*e, open), ResultCode::kLinkedChainOpen);
  Op closed = open;
  closed.flags = 0;
  const OpResult r = e->Apply({closed})[0];
  EXPECT_EQ(r.code, ResultCode::kOk);
  EXPECT_FALSE(r.duplicate());
  EXPECT_EQ(Balance(*e, 1), 10);
}

TEST(ExactlyOnce, DuplicateInsideOneRequest) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  const Op credit = Credit(1, 10);
  const std::vector<OpResult> r = e->Apply({credit, Credit(1, 1), credit});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kOk);
  EXPECT_FALSE(r[0].duplicate());
  EXPECT_EQ(r[2].code, ResultCode::kOk);
  EXPECT_TRUE(r[2].duplicate());
  EXPECT_EQ(r[2].seq, r[0].seq);
  EXPECT_EQ(r[2].balance_after, r[0].balance_after);
  EXPECT_EQ(Balance(*e, 1), 11);
}

// Resubmitting an identical chain returns the original results, each marked
// duplicate, and changes nothing; also for a chain that failed.
TEST(ExactlyOnce, ChainRetryReturnsOriginalResults) {
  auto e = MakeEngine(3);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const std::vector<Op> chain = {Linked(Debit(1, 30)), Linked(Credit(2, 30)),
                                 Transfer(2, 1, 5)};
  const std::vector<OpResult> first = e->Apply(chain);
  ASSERT_EQ(first.size(), 3u);
  for (const OpResult& r : first) ASSERT_EQ(r.code, ResultCode::kOk);
  const StateDigest digest = e->Digest();
  const std::vector<OpResult> again = e->Apply(chain);
  ASSERT_EQ(again.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(again[i].code, first[i].code);
    EXPECT_TRUE(again[i].duplicate());
    EXPECT_EQ(again[i].seq, first[i].seq);
    EXPECT_EQ(again[i].balance_after, first[i].balance_after);
  }
  EXPECT_EQ(e->Digest(), digest);
  EXPECT_EQ(Balance(*e, 1), 75);
  EXPECT_EQ(Balance(*e, 2), 25);

  // A failed chain retried after its cause is gone still answers the
  // original failure.
  const std::vector<Op> failing = {Linked(Debit(1, 10)), Credit(3, 10)};
  const std::vector<OpResult> failed = e->Apply(failing);
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(failed[1].code, ResultCode::kAccountNotFound);
  ASSERT_EQ(Code(*e, CreateAccount(3)), ResultCode::kOk);
  const std::vector<OpResult> retried = e->Apply(failing);
  ASSERT_EQ(retried.size(), 2u);
  EXPECT_EQ(retried[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(retried[1].code, ResultCode::kAccountNotFound);
  EXPECT_TRUE(retried[0].duplicate());
  EXPECT_TRUE(retried[1].duplicate());
  EXPECT_EQ(Balance(*e, 1), 75);
  EXPECT_EQ(Balance(*e, 3), 0);
}

// A chain mixing new and previously used op ids is refused before ordering:
// op_id_reused_with_different_fields on the first reused op, linked_op_failed
// on the rest; nothing applies and the new ids stay unused.
TEST(ExactlyOnce, ChainMixingNewAndUsedIds) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const Op used = Credit(2, 7);  // applied alone, not linked
  ASSERT_EQ(Code(*e, used), ResultCode::kOk);
  const StateDigest digest = e->Digest();

  // The reused op is an exact copy (last in the chain, so not linked).
  const Op fresh1 = Debit(1, 10);
  std::vector<OpResult> r = e->Apply({Linked(fresh1), used});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[1].code, ResultCode::kOpIdReusedWithDifferentFields);
  EXPECT_EQ(r[0].seq, 0u);
  EXPECT_EQ(r[1].seq, 0u);
  EXPECT_FALSE(r[0].duplicate());
  EXPECT_EQ(e->Digest(), digest);

  // The reused op first (carrying the linked flag, so its fields differ).
  const Op fresh2 = Debit(1, 20);
  r = e->Apply({Linked(used), fresh2});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, ResultCode::kOpIdReusedWithDifferentFields);
  EXPECT_EQ(r[1].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(e->Digest(), digest);

  // The reused op in the middle of three.
  const Op fresh3 = Debit(1, 30);
  const Op fresh4 = Debit(1, 40);
  Op middle = used;
  middle.flags = kOpFlagLinked;
  r = e->Apply({Linked(fresh3), middle, fresh4});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[1].code, ResultCode::kOpIdReusedWithDifferentFields);
  EXPECT_EQ(r[2].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(e->Digest(), digest);
  EXPECT_EQ(Balance(*e, 1), 100);
  EXPECT_EQ(Balance(*e, 2), 7);

  // The new ids were not remembered: they apply now, as new ops.
  for (const Op& op : {fresh1, fresh2, fresh3, fresh4}) {
    const OpResult x = e->Apply({op})[0];
    EXPECT_EQ(x.code, ResultCode::kOk);
    EXPECT_FALSE(x.duplicate());
  }
  EXPECT_EQ(Balance(*e, 1), 0);
}

// A chain whose ops were all applied, but as separate requests in another
// grouping, is not a retry of this chain when the fields differ (the linked
// flag is a field): refused.
TEST(ExactlyOnce, RegroupedChainIsNotARetry) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  const Op x = Credit(1, 1);
  const Op y = Credit(1, 2);
  ASSERT_EQ(Code(*e, x), ResultCode::kOk);
  ASSERT_EQ(Code(*e, y), ResultCode::kOk);
  const std::vector<OpResult> r = e->Apply({Linked(x), y});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, ResultCode::kOpIdReusedWithDifferentFields);
  EXPECT_EQ(r[1].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(Balance(*e, 1), 3);
}

}  // namespace
}  // namespace coffer::testing
