// Start-up's progress reports (EngineConfig::on_recovery_progress), the
// log's last-seq estimate they rest on (wal::EstimateLastSeq), and the
// recovery stage in Engine::Stages().
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"
#include "wal/log_reader.h"

namespace coffer::testing {
namespace {

using Phase = RecoveryProgress::Phase;

EngineConfig Durable(const std::string& dir) {
  EngineConfig c;
  c.data_dir = dir;
  c.shard_count = 1;
  c.wal_segment_bytes = 1 << 20;  // several segments
  c.snapshot_every_log_bytes = 0;
  c.idle_spin_iterations = 64;
  return c;
}

// Requests of 100 credits each on one account: 100 ops per log record.
void CreditRequests(Engine& e, uint64_t account, int requests) {
  for (int i = 0; i < requests; ++i) {
    std::vector<Op> ops;
    for (int k = 0; k < 100; ++k) ops.push_back(Credit(account, 1));
    for (const OpResult& r : e.Apply(ops)) ASSERT_TRUE(r.ok());
  }
}

// Restarts on `dir`, reporting after every record.
std::vector<RecoveryProgress> Restart(const std::string& dir,
                                      StateDigest* digest) {
  std::vector<RecoveryProgress> seen;
  EngineConfig c = Durable(dir);
  c.recovery_progress_interval_ms = 0;
  c.on_recovery_progress = [&](const RecoveryProgress& p) {
    seen.push_back(p);
  };
  auto e = Engine::Create(c);
  EXPECT_TRUE(e.ok()) << e.status();
  if (!e.ok()) return seen;
  *digest = (*e)->Digest();
  // The recovery stage: one sample, the time Create took to recover.
  bool found = false;
  for (const StageSnapshot& s : (*e)->Stages()) {
    if (s.stage != Stage::kRecovery) continue;
    found = true;
    EXPECT_EQ(s.histogram.count, 1u);
    EXPECT_EQ(s.histogram.max,
              static_cast<uint64_t>((*e)->recovery().seconds * 1e9));
  }
  EXPECT_TRUE(found);
  return seen;
}

// The reports of one start-up: loaded, replaying from 0, ..., replayed.
void ExpectWellFormed(const std::vector<RecoveryProgress>& seen,
                      uint64_t snapshot_seq, uint64_t ops_to_replay) {
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.front().phase, Phase::kSnapshotLoaded);
  EXPECT_EQ(seen.front().snapshot_seq, snapshot_seq);
  EXPECT_EQ(seen[1].phase, Phase::kReplaying);
  EXPECT_EQ(seen[1].ops_replayed, 0u);
  // No torn tail here: the headers' claim is exact.
  EXPECT_EQ(seen[1].ops_total, ops_to_replay);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_GE(seen[i].ops_replayed, seen[i - 1].ops_replayed) << i;
    EXPECT_GE(seen[i].seconds, seen[i - 1].seconds) << i;
    EXPECT_LE(seen[i].ops_replayed, ops_to_replay) << i;
    if (i + 1 < seen.size()) {
      EXPECT_EQ(seen[i].phase, Phase::kReplaying) << i;
    }
  }
  const RecoveryProgress& last = seen.back();
  EXPECT_EQ(last.phase, Phase::kReplayed);
  EXPECT_EQ(last.ops_replayed, ops_to_replay);
  EXPECT_EQ(last.ops_total, ops_to_replay);
  EXPECT_EQ(last.eta_seconds(), 0.0);
}

TEST(RecoveryProgressTest, ReportsTheReplayFromStartToEnd) {
  const std::string dir = FreshDir("recovery-progress");
  constexpr int kRequests = 60;
  StateDigest before;
  {
    auto e = Engine::Create(Durable(dir));
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(Code(**e, CreateAccount(1)), ResultCode::kOk);
    CreditRequests(**e, 1, kRequests);
    before = (*e)->Digest();
  }
  const uint64_t ops = 1 + kRequests * 100;
  auto claimed = wal::EstimateLastSeq(nullptr, dir);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(*claimed, ops);

  StateDigest after;
  const std::vector<RecoveryProgress> first = Restart(dir, &after);
  EXPECT_EQ(after, before);
  ExpectWellFormed(first, 0, ops);
  // One report per record at interval 0: create, then 60 requests.
  EXPECT_EQ(first.size(), 3u + 1 + kRequests);

  // That restart left a new, empty segment: the estimate reads the one
  // before it, and the next start-up reports the same.
  claimed = wal::EstimateLastSeq(nullptr, dir);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(*claimed, ops);
  const std::vector<RecoveryProgress> second = Restart(dir, &after);
  EXPECT_EQ(after, before);
  ExpectWellFormed(second, 0, ops);
  RemoveIfPassed(dir);
}

TEST(RecoveryProgressTest, CountsOnlyTheLogAfterTheSnapshot) {
  const std::string dir = FreshDir("recovery-progress-snapshot");
  uint64_t snapshot_seq = 0;
  StateDigest before;
  {
    auto e = Engine::Create(Durable(dir));
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_EQ(Code(**e, CreateAccount(1)), ResultCode::kOk);
    CreditRequests(**e, 1, 10);
    TakeSnapshot(**e);
    snapshot_seq = (*e)->Stats().snapshot_seq;
    EXPECT_EQ(snapshot_seq, 1001u);
    CreditRequests(**e, 1, 7);
    before = (*e)->Digest();
  }
  StateDigest after;
  const std::vector<RecoveryProgress> seen = Restart(dir, &after);
  EXPECT_EQ(after, before);
  ExpectWellFormed(seen, snapshot_seq, 700);
  RemoveIfPassed(dir);
}

TEST(RecoveryProgressTest, EstimateOfAMissingOrEmptyLogIsZero) {
  const std::string dir = FreshDir("recovery-progress-empty");
  auto missing = wal::EstimateLastSeq(nullptr, dir + "/none");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(*missing, 0u);
  {
    // A fresh engine opens a segment and writes nothing.
    auto e = Engine::Create(Durable(dir));
    ASSERT_TRUE(e.ok()) << e.status();
  }
  auto empty = wal::EstimateLastSeq(nullptr, dir);
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, 0u);
  StateDigest after;
  const std::vector<RecoveryProgress> seen = Restart(dir, &after);
  ExpectWellFormed(seen, 0, 0);
  RemoveIfPassed(dir);
}

}  // namespace
}  // namespace coffer::testing
