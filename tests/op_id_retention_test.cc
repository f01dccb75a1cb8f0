// Exactly once beyond memory (engine/DESIGN.md "Exactly once"): op ids that
// leave the in-memory window are answered from the on-disk index
// (engine/op_id_index.h) for op_id_retention_s, across restarts and shard
// counts; the index itself keeps records, covered_seq and retention.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/op_id_index.h"
#include "tests/test_util.h"

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kSecondNs = 1'000'000'000;
constexpr uint64_t kMinuteNs = 60 * kSecondNs;
constexpr uint64_t kHourNs = 60 * kMinuteNs;

internal::OpIdTable::Record MakeRecord(uint64_t op_id, uint64_t seq) {
  internal::OpIdTable::Record r;
  r.op_id = op_id;
  r.fingerprint = op_id * 31;
  r.seq = seq;
  r.result.code = ResultCode::kInsufficientFunds;
  r.result.balance_after = -5;
  r.result.seq = seq;
  r.done = true;
  return r;
}

TEST(OpIdIndex, KeepsRecordsAndCoveredSeqAcrossReopenUntilRetention) {
  const std::string dir = FreshDir("op-id-index");
  internal::OpIdIndexOptions options;
  options.dir = dir + "/op_ids";
  options.retention_ns = kHourNs;
  {
    auto index = internal::OpIdIndex::Open(options);
    ASSERT_TRUE(index.ok()) << index.status();
    EXPECT_TRUE((*index)->created());
    EXPECT_EQ((*index)->covered_seq(), 0u);
    std::vector<internal::OpIdTable::Record> records = {MakeRecord(7, 1),
                                                        MakeRecord(9, 2)};
    ASSERT_TRUE((*index)->Add(records, 2, /*now_ns=*/1000).ok());
    // covered_seq never goes backwards.
    ASSERT_TRUE((*index)->Add({}, 1, 1000).ok());
    EXPECT_EQ((*index)->covered_seq(), 2u);
  }
  auto index = internal::OpIdIndex::Open(options);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_FALSE((*index)->created());
  EXPECT_EQ((*index)->covered_seq(), 2u);
  std::vector<uint64_t> ids = {9, 8, 7};
  std::vector<internal::OpIdIndex::Entry> found;
  std::vector<size_t> at;
  auto find = [&](uint64_t now_ns) {
    found.clear();
    at.clear();
    EXPECT_TRUE((*index)
                    ->Find(ids, now_ns,
                           [&](size_t i, const internal::OpIdIndex::Entry& e) {
                             at.push_back(i);
                             found.push_back(e);
                           })
                    .ok());
  };
  find(1000 + kHourNs);  // exactly at the retention: still remembered
  ASSERT_EQ(at.size(), 2u);
  EXPECT_EQ(at[0], 0u);
  EXPECT_EQ(found[0].record.op_id, 9u);
  EXPECT_EQ(found[0].record.seq, 2u);
  EXPECT_EQ(found[0].record.fingerprint, 9u * 31);
  EXPECT_EQ(found[0].record.result.code, ResultCode::kInsufficientFunds);
  EXPECT_EQ(found[0].record.result.balance_after, -5);
  EXPECT_TRUE(found[0].record.done);
  EXPECT_EQ(found[0].added_ns, 1000u);
  EXPECT_EQ(at[1], 2u);
  EXPECT_EQ(found[1].record.op_id, 7u);
  find(1001 + kHourNs);  // past it: unknown
  EXPECT_TRUE(at.empty());
}

// Ops applied through an engine whose in-memory window is 65536 ops, with a
// manual clock; the other ops are credits in requests of 8192.
class RetentionTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kWindow = 65536;
  static constexpr uint32_t kRequestOps = 8192;
  static constexpr uint64_t kPayer = 1;
  static constexpr uint64_t kSink = 2;

  EngineConfig Config(uint32_t shards) {
    EngineConfig c;
    c.data_dir = dir_;
    c.shard_count = shards;
    c.request_ops_max = kRequestOps;
    c.ops_in_flight_max = kWindow;
    c.op_ids_remembered_max = kWindow;
    c.op_id_retention_s = 24 * 3600;
    c.wal_segment_bytes = 16 << 20;
    c.snapshot_every_log_bytes = 64 << 20;  // a few snapshots on the way
    c.idle_spin_iterations = 64;
    c.clock_ns = [this] { return clock_.now_ns.load(); };
    return c;
  }
  // 10M (100k in sanitizer builds); COFFER_RETRY_OTHER_OPS overrides.
  static uint64_t OtherOps() {
    return TestScale("COFFER_RETRY_OTHER_OPS", 10'000'000, 100'000);
  }
  // `issued`: the requests say they were issued now (the client stamps
  // them), or nothing (protocol version 1: every id is looked up).
  void ApplyOthers(Engine& e, uint64_t count, bool issued = true) {
    std::vector<Op> batch;
    for (uint64_t done = 0; done < count; done += batch.size()) {
      batch.clear();
      while (batch.size() < kRequestOps && done + batch.size() < count) {
        batch.push_back(Credit(kSink, 1));
      }
      const std::vector<OpResult> rs =
          e.Apply(batch, issued ? clock_.now_ns.load() : 0);
      // Simulated time: a second per request, so that the in-memory window
      // (8 requests) spans more than op_issued_future_max_ms.
      if (issued) Advance(kSecondNs);
      ASSERT_EQ(rs.size(), batch.size());
      ASSERT_EQ(rs.back().code, ResultCode::kOk);
      ASSERT_FALSE(rs.back().duplicate());
    }
  }
  void Advance(uint64_t ns) { clock_.now_ns.fetch_add(ns); }
  void SetUp() override {
    clock_.now_ns = 1'800'000'000 * kSecondNs;  // 2027, as a client sees it
  }
  void TearDown() override { RemoveIfPassed(dir_); }  // each engine is gone

  const std::string dir_ = FreshDir("op-id-retention");
  ManualClock clock_;
};

TEST_F(RetentionTest, RetryAfterTenMinutesAndManyOpsIsADuplicateAcrossRestart) {
  const uint64_t others = OtherOps();
  Op debit = Debit(kPayer, 700);
  OpResult first;
  {
    auto e = MakeEngine(1, Config(1));
    ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(kPayer, 1000)), ResultCode::kOk);
    first = e->Apply({debit})[0];
    ASSERT_EQ(first.code, ResultCode::kOk);
    ASSERT_EQ(first.balance_after, 300);
    ApplyOthers(*e, others);
    std::printf("retention: %llu other ops applied\n",
                static_cast<unsigned long long>(others));
    Advance(10 * kMinuteNs);
    const OpResult retry = e->Apply({debit})[0];
    EXPECT_TRUE(retry.duplicate()) << Describe(retry);
    EXPECT_EQ(retry.seq, first.seq);
    EXPECT_EQ(retry.balance_after, 300);
    EXPECT_EQ(Balance(*e, kPayer), 300);
    // The same id with other fields is a reuse, not a retry.
    Op other = debit;
    other.amount = 701;
    EXPECT_EQ(Code(*e, other), ResultCode::kOpIdReusedWithDifferentFields);
    EXPECT_GT(e->Stats().op_ids_found_on_disk, 0u);
  }
  // A restart with another shard count: the index and the log agree.
  std::printf("retention: restarting with 3 shards\n");
  auto e = MakeEngine(3, Config(3));
  std::printf("retention: recovered\n");
  Advance(10 * kMinuteNs);
  const OpResult retry = e->Apply({debit})[0];
  EXPECT_TRUE(retry.duplicate()) << Describe(retry);
  EXPECT_EQ(retry.seq, first.seq);
  EXPECT_EQ(retry.balance_after, 300);
  EXPECT_EQ(Balance(*e, kPayer), 300);
  // A refused op is remembered as refused, on disk too.
  Op big = Debit(kPayer, 5000);
  const OpResult refused = e->Apply({big})[0];
  ASSERT_EQ(refused.code, ResultCode::kInsufficientFunds);
  ApplyOthers(*e, 4 * kWindow);
  ASSERT_EQ(Code(*e, Credit(kPayer, 10'000)), ResultCode::kOk);
  const OpResult refused_again = e->Apply({big})[0];
  EXPECT_TRUE(refused_again.duplicate());
  EXPECT_EQ(refused_again.code, ResultCode::kInsufficientFunds);
  EXPECT_EQ(Balance(*e, kPayer), 10'300);
}

// Beyond the retention (engine/DESIGN.md "Exactly once"): the index drops
// the id, and a protocol-version-1 request cannot say when it was first
// sent, so a retry 30 hours later is a new op. This pins that documented
// limit of version 1; a request that carries its first attempt's time is
// refused instead (AnIssueTimeBoundsEveryRetry below; over the wire in
// net_version_test.cc).
TEST_F(RetentionTest, ARetryBeyondTheRetentionIsANewOp) {
  auto e = MakeEngine(1, Config(1));
  ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPayer, 1000)), ResultCode::kOk);
  const Op debit = Debit(kPayer, 100);
  const OpResult first = e->Apply({debit})[0];
  ASSERT_EQ(first.code, ResultCode::kOk);
  ApplyOthers(*e, 2 * kWindow);  // out of memory, into the index
  Advance(23 * kHourNs);
  ApplyOthers(*e, 1);  // the index's engine time moves on
  EXPECT_TRUE(e->Apply({debit})[0].duplicate()) << "inside the retention";
  Advance(7 * kHourNs);  // 30 h after the original
  ApplyOthers(*e, 1);
  const OpResult late = e->Apply({debit})[0];
  EXPECT_FALSE(late.duplicate());
  EXPECT_GT(late.seq, first.seq);
  EXPECT_EQ(Balance(*e, kPayer), 800);
}

// With its first attempt's time in the request (Request::issued_ns), a
// retry inside the retention is a duplicate from disk, one beyond it is
// refused (op_expired: never applied, never remembered), one from the
// future is refused, and fresh requests do not look in the index at all.
TEST_F(RetentionTest, AnIssueTimeBoundsEveryRetry) {
  auto e = MakeEngine(2, Config(2));
  ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPayer, 1000)), ResultCode::kOk);
  const uint64_t issued = clock_.now_ns.load();
  const Op debit = Debit(kPayer, 100);
  const OpResult first = e->Apply({debit}, issued)[0];
  ASSERT_EQ(first.code, ResultCode::kOk);
  const uint64_t lookups = e->Stats().op_id_index_lookups;
  ApplyOthers(*e, 4 * kWindow);
  EXPECT_EQ(e->Stats().op_id_index_lookups, lookups)
      << "fresh requests are answered from memory alone";

  Advance(10 * kMinuteNs);
  const OpResult retry = e->Apply({debit}, issued)[0];
  EXPECT_TRUE(retry.duplicate()) << Describe(retry);
  EXPECT_EQ(retry.seq, first.seq);
  EXPECT_GT(e->Stats().op_ids_found_on_disk, 0u);

  // A new op issued 30 hours ago: nothing remembers whether it applied.
  Advance(30 * kHourNs);
  ApplyOthers(*e, 1);
  const Op late_new = Debit(kPayer, 1);
  for (int i = 0; i < 2; ++i) {
    const OpResult r = e->Apply({late_new}, issued)[0];
    EXPECT_EQ(r.code, ResultCode::kOpExpired) << Describe(r);
    EXPECT_EQ(r.seq, 0u);
    EXPECT_EQ(r.balance_after, 900);
  }
  // The original's own retry, 30 hours on: the index dropped it, so it is
  // refused too, not applied a second time.
  const OpResult expired = e->Apply({debit}, issued)[0];
  EXPECT_EQ(expired.code, ResultCode::kOpExpired) << Describe(expired);
  EXPECT_EQ(Balance(*e, kPayer), 900);

  // A client clock more than op_issued_future_max_ms ahead.
  const uint64_t ahead = clock_.now_ns.load() + 2001 * 1'000'000ull;
  const OpResult future = e->Apply({Debit(kPayer, 1)}, ahead)[0];
  EXPECT_EQ(future.code, ResultCode::kOpIssuedInFuture);
  EXPECT_EQ(Balance(*e, kPayer), 900);
  // Within it: applied.
  const uint64_t slightly = clock_.now_ns.load() + 1999 * 1'000'000ull;
  EXPECT_EQ(e->Apply({Debit(kPayer, 1)}, slightly)[0].code, ResultCode::kOk);
}

// A request of more than half the ring waits for the records whose slots
// it takes; they are written even when they are fewer than a batch.
// Without that (before WantRoom) this test hung: 2,000 unwritten records,
// below the batch target, and an 8,192-op request that needs all but 1,808
// of them written.
TEST_F(RetentionTest, ARequestOfMoreThanHalfTheRingGetsItsRoom) {
  EngineConfig c = Config(1);
  c.op_ids_remembered_max = 10'000;
  c.ops_in_flight_max = 10'000;
  c.request_ops_max = 8192;
  auto e = MakeEngine(1, c);
  ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
  std::vector<Op> few(2000, Credit(kSink, 1));
  std::vector<Op> many(8192, Credit(kSink, 1));
  for (int round = 0; round < 3; ++round) {
    for (std::vector<Op>* ops : {&few, &many}) {
      for (Op& op : *ops) op.op_id = NextOpId();
      const std::vector<OpResult> rs = e->Apply(*ops);
      ASSERT_EQ(rs.size(), ops->size());
      ASSERT_EQ(rs.back().code, ResultCode::kOk);
    }
  }
  EXPECT_EQ(Balance(*e, kSink), 3 * (2000 + 8192));
}

// A fresh-enough request is answered from memory alone, and its own new ops
// push the oldest records out of the ring while it is sequenced: a retry
// of that oldest record later in the same request must still find it.
TEST_F(RetentionTest, ARetryWhoseOriginalLeavesMemoryInItsOwnRequest) {
  auto e = MakeEngine(1, Config(1));
  ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPayer, 1000)), ResultCode::kOk);
  Advance(3 * kSecondNs);  // what leaves the ring first is older than F
  const uint64_t issued = clock_.now_ns.load();
  const Op debit = Debit(kPayer, 100);
  const OpResult first = e->Apply({debit}, issued)[0];
  ASSERT_EQ(first.code, ResultCode::kOk);
  ApplyOthers(*e, kWindow - 1);  // the debit is now the ring's oldest
  std::vector<Op> retry;
  for (uint32_t i = 0; i + 1 < kRequestOps; ++i) {
    retry.push_back(Credit(kSink, 1));
  }
  retry.push_back(debit);
  const uint64_t lookups = e->Stats().op_id_index_lookups;
  const std::vector<OpResult> rs = e->Apply(retry, issued);
  ASSERT_EQ(rs.size(), retry.size());
  EXPECT_EQ(e->Stats().op_id_index_lookups, lookups) << "memory alone";
  EXPECT_TRUE(rs.back().duplicate()) << Describe(rs.back());
  EXPECT_EQ(rs.back().seq, first.seq);
  EXPECT_EQ(Balance(*e, kPayer), 900);
}

TEST_F(RetentionTest, AChainRetriedFromDiskGetsEveryOriginalAnswer) {
  auto e = MakeEngine(2, Config(2));
  ASSERT_EQ(Code(*e, CreateAccount(kPayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPayer, 100)), ResultCode::kOk);
  const std::vector<Op> chain = {Linked(Debit(kPayer, 60)), Credit(kSink, 60)};
  const std::vector<OpResult> first = e->Apply(chain);
  ASSERT_EQ(first[0].code, ResultCode::kOk);
  ApplyOthers(*e, 2 * kWindow);
  const std::vector<OpResult> again = e->Apply(chain);
  ASSERT_EQ(again.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(again[i].duplicate()) << i;
    EXPECT_EQ(again[i].seq, first[i].seq);
  }
  // Mixing a remembered op with a new one is not a retry.
  const std::vector<OpResult> mixed =
      e->Apply({Linked(chain[0]), Credit(kSink, 1)});
  EXPECT_EQ(mixed[0].code, ResultCode::kOpIdReusedWithDifferentFields);
  EXPECT_EQ(Balance(*e, kPayer), 40);
}

TEST_F(RetentionTest, AnIndexFromAnotherLedgerIsRefusedAtRecovery) {
  {
    auto e = MakeEngine(1, Config(1));
    ASSERT_EQ(Code(*e, CreateAccount(kSink)), ResultCode::kOk);
    ApplyOthers(*e, 4 * kWindow);
  }
  // Another data directory's log with this one's index: the index covers
  // ops the log does not have.
  const std::string other = FreshDir("op-id-retention-other");
  fs::copy(dir_ + "/op_ids", other + "/op_ids", fs::copy_options::recursive);
  EngineConfig c = Config(1);
  c.data_dir = other;
  auto e = Engine::Create(c);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("op-id index covers ops up to seq"),
            std::string::npos)
      << e.status();
}

}  // namespace
}  // namespace coffer::testing
