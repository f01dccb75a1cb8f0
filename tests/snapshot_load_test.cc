// Start-up's parallel snapshot load (engine/snapshot_load.h): the payload's
// block index, each shard reading only its own blocks when the snapshot was
// taken with its shard count, and the damage that load refuses.
#include <string>
#include <vector>

#include "engine/snapshot_codec.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "wal/snapshot_file.h"

namespace coffer::testing {
namespace {

using internal::SnapshotBlockBuilder;
using internal::SnapshotBlockKind;

internal::SnapshotAccount SampleAccount(uint64_t id, int64_t balance) {
  internal::SnapshotAccount a{};
  a.id = id;
  a.account.state.balance = balance;
  a.account.state.currency = 1;
  return a;
}

HistoryEntry SampleEntry(uint64_t seq, uint64_t account) {
  HistoryEntry e{};
  e.seq = seq;
  e.account_id = account;
  e.amount = 5;
  e.number = 1;
  return e;
}

EngineConfig Config(const std::string& dir, uint32_t shards) {
  EngineConfig c;
  c.data_dir = dir;
  c.shard_count = shards;
  c.idle_spin_iterations = 64;
  return c;
}

// A version-2 payload claiming `shard_count` writers: shard 0's blocks hold
// the accounts `in_block0` and `history`, shard 1's the accounts
// `in_block1`.
std::string Payload(uint32_t shard_count, std::vector<uint64_t> in_block0,
                    std::vector<uint64_t> in_block1,
                    std::vector<HistoryEntry> history = {}) {
  std::string out = internal::SnapshotHeaderV2(100, 1'000, shard_count);
  SnapshotBlockBuilder b0(SnapshotBlockKind::kAccounts, 0);
  for (uint64_t id : in_block0) {
    internal::SnapshotAccount a = SampleAccount(id, 10 * id);
    for (const HistoryEntry& e : history) {
      if (e.account_id == id) ++a.account.state.history_count;
    }
    b0.Account(a);
  }
  out += b0.Take();
  SnapshotBlockBuilder b1(SnapshotBlockKind::kAccounts, 1);
  for (uint64_t id : in_block1) b1.Account(SampleAccount(id, 10 * id));
  out += b1.Take();
  SnapshotBlockBuilder h(SnapshotBlockKind::kHistory, 0);
  for (const HistoryEntry& e : history) h.History(e);
  out += h.Take();
  // The op ids of seqs 1..100: a snapshot remembers up to its own seq.
  SnapshotBlockBuilder op_ids(SnapshotBlockKind::kOpIds,
                              internal::kSnapshotSourceSequencer);
  for (uint64_t seq = 1; seq <= 100; ++seq) {
    internal::OpIdTable::Record r;
    r.op_id = 1'000'000 + seq;
    r.seq = seq;
    r.done = true;
    op_ids.OpId(r);
  }
  out += op_ids.Take();
  out += SnapshotBlockBuilder(SnapshotBlockKind::kEnd, 0).Take();
  return out;
}

void WriteSnapshot(const std::string& dir, const std::string& payload) {
  auto w = wal::SnapshotFileWriter::Create(nullptr, dir, 100);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(payload).ok());
  ASSERT_TRUE((*w)->Finish().ok());
}

TEST(SnapshotIndexTest, VersionTwoBlocksComeInPayloadOrderWithTheHeader) {
  const std::string payload = Payload(2, {1, 2, 3}, {4}, {SampleEntry(9, 1)});
  auto layout = internal::IndexSnapshot(payload);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->seq, 100u);
  EXPECT_EQ(layout->last_timestamp_ns, 1'000u);
  EXPECT_EQ(layout->shard_count, 2u);
  ASSERT_EQ(layout->blocks.size(), 4u);
  EXPECT_EQ(layout->blocks[0].source, 0u);
  EXPECT_EQ(layout->blocks[1].source, 1u);
  EXPECT_EQ(layout->blocks[2].kind, SnapshotBlockKind::kHistory);
  EXPECT_EQ(layout->Records(SnapshotBlockKind::kAccounts), 4u);
  EXPECT_EQ(layout->Records(SnapshotBlockKind::kHistory), 1u);
  EXPECT_EQ(layout->Records(SnapshotBlockKind::kOpIds), 100u);
}

TEST(SnapshotIndexTest, VersionOneSectionsAreBlocksOfUnknownShardCount) {
  internal::SnapshotEncoder out(7, 70);
  out.BeginSection();
  out.Account(SampleAccount(1, 5));
  out.Account(SampleAccount(2, 5));
  out.EndSection();
  for (int section = 0; section < 3; ++section) {
    out.BeginSection();
    out.EndSection();
  }
  auto layout = internal::IndexSnapshot(out.bytes());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->seq, 7u);
  EXPECT_EQ(layout->shard_count, 0u);
  ASSERT_EQ(layout->blocks.size(), 4u);
  EXPECT_EQ(layout->Records(SnapshotBlockKind::kAccounts), 2u);
}

TEST(SnapshotIndexTest, ATruncatedPayloadIsDataLossAtEveryCut) {
  const std::string payload = Payload(2, {1, 2, 3}, {4}, {SampleEntry(9, 1)});
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    auto layout = internal::IndexSnapshot(payload.substr(0, cut));
    EXPECT_TRUE(absl::IsDataLoss(layout.status())) << "cut at " << cut;
  }
}

// The ids 1..n split by owner under two shards.
void SplitByShard(uint64_t n, std::vector<uint64_t>* on0,
                  std::vector<uint64_t>* on1) {
  for (uint64_t id = 1; id <= n; ++id) {
    (ShardOf(id, 2) == 0 ? on0 : on1)->push_back(id);
  }
}

TEST(SnapshotLoadTest, EachShardReadsItsOwnBlocksWhenTheCountMatches) {
  std::vector<uint64_t> on0, on1;
  SplitByShard(40, &on0, &on1);
  for (uint32_t shards : {1u, 2u, 3u}) {
    const std::string dir = FreshDir("snapload-own");
    WriteSnapshot(dir, Payload(2, on0, on1, {SampleEntry(50, on0[0])}));
    auto e = Engine::Create(Config(dir, shards));
    ASSERT_TRUE(e.ok()) << shards << " shards: " << e.status();
    EXPECT_EQ((*e)->recovery().snapshot_seq, 100u);
    for (uint64_t id = 1; id <= 40; ++id) {
      EXPECT_EQ(Balance(**e, id), static_cast<int64_t>(10 * id))
          << "account " << id << ", " << shards << " shards";
    }
    EXPECT_EQ(AllHistory(**e, on0[0]).size(), 1u);
    e->reset();
    RemoveIfPassed(dir);
  }
}

TEST(SnapshotLoadTest, AnAccountInAnotherShardsBlockIsDataLoss) {
  std::vector<uint64_t> on0, on1;
  SplitByShard(40, &on0, &on1);
  // Shard 1's account in shard 0's block: with the writer's count recorded
  // as 2, the two-shard load reads block 0 for shard 0 only.
  on0.push_back(on1.back());
  on1.pop_back();
  {
    const std::string dir = FreshDir("snapload-misplaced");
    WriteSnapshot(dir, Payload(2, on0, on1));
    auto e = Engine::Create(Config(dir, 2));
    ASSERT_TRUE(absl::IsDataLoss(e.status())) << e.status();
    EXPECT_NE(e.status().message().find("another shard owns"),
              std::string::npos)
        << e.status();
    RemoveIfPassed(dir);
  }
  {
    // The same blocks with the count unknown (as before it was recorded):
    // every shard reads every block, and the file is good.
    const std::string dir = FreshDir("snapload-unknown");
    WriteSnapshot(dir, Payload(0, on0, on1));
    auto e = Engine::Create(Config(dir, 2));
    ASSERT_TRUE(e.ok()) << e.status();
    for (uint64_t id = 1; id <= 40; ++id) {
      EXPECT_EQ(Balance(**e, id), static_cast<int64_t>(10 * id)) << id;
    }
    e->reset();
    RemoveIfPassed(dir);
  }
}

TEST(SnapshotLoadTest, HistoryOfAnAccountTheSnapshotLacksIsDataLoss) {
  const std::string dir = FreshDir("snapload-orphan");
  WriteSnapshot(dir, Payload(0, {1, 2}, {}, {SampleEntry(50, 999)}));
  auto e = Engine::Create(Config(dir, 2));
  ASSERT_TRUE(absl::IsDataLoss(e.status())) << e.status();
  EXPECT_NE(e.status().message().find("does not hold"), std::string::npos)
      << e.status();
  RemoveIfPassed(dir);
}

TEST(SnapshotLoadTest, ASnapshotRecordsTheShardCountThatWroteIt) {
  const std::string dir = FreshDir("snapload-count");
  {
    auto e = Engine::Create(Config(dir, 2));
    ASSERT_TRUE(e.ok()) << e.status();
    std::vector<Op> ops;
    for (uint64_t id = 1; id <= 50; ++id) ops.push_back(CreateAccount(id));
    for (const OpResult& r : (*e)->Apply(ops)) ASSERT_TRUE(r.ok());
    TakeSnapshot(**e);
  }
  auto snap = wal::ReadNewestSnapshot(nullptr, dir, nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto layout = internal::IndexSnapshot(snap->payload);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->shard_count, 2u);
  EXPECT_EQ(layout->Records(SnapshotBlockKind::kAccounts), 50u);
  RemoveIfPassed(dir);
}

}  // namespace
}  // namespace coffer::testing
