// In-process snapshots (engine/DESIGN.md "Snapshots"): a shard's walk saves
// every record as it was at the cut, whether the walk reaches it first or a
// change does; and an engine under load writes snapshots that recover to
// exactly the state it had.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/doorbell.h"
#include "engine/shard.h"
#include "engine/snapshot_codec.h"
#include "engine/snapshot_writer.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "wal/snapshot_file.h"

namespace coffer {
namespace {

using internal::Shard;
using internal::SnapshotAccount;
using internal::SnapshotHold;
using testing::FreshDir;

// A snapshot's records in one canonical form (accounts and holds by id, op
// ids by seq, history as written), as v1 payload bytes: two payloads hold
// the same records if and only if their canonical forms are equal.
std::string Canonical(std::string_view payload) {
  std::vector<SnapshotAccount> accounts;
  std::vector<SnapshotHold> holds;
  std::vector<HistoryEntry> history;
  std::vector<internal::OpIdTable::Record> op_ids;
  uint64_t seq = 0, ts = 0;
  internal::SnapshotVisitor v;
  v.header = [&](uint64_t s, uint64_t t) {
    seq = s;
    ts = t;
  };
  v.account = [&](const SnapshotAccount& a) { accounts.push_back(a); };
  v.hold = [&](const SnapshotHold& h) { holds.push_back(h); };
  v.history = [&](const HistoryEntry& e) { history.push_back(e); };
  v.op_id = [&](const internal::OpIdTable::Record& r) { op_ids.push_back(r); };
  absl::Status s = internal::DecodeSnapshot(payload, v);
  EXPECT_TRUE(s.ok()) << s;
  auto by_id = [](const auto& a, const auto& b) { return a.id < b.id; };
  std::sort(accounts.begin(), accounts.end(), by_id);
  std::sort(holds.begin(), holds.end(), by_id);
  std::sort(op_ids.begin(), op_ids.end(),
            [](const auto& a, const auto& b) { return a.seq < b.seq; });
  internal::SnapshotEncoder out(seq, ts);
  out.BeginSection();
  for (const auto& a : accounts) {
    EXPECT_EQ(a.account.state.flags & internal::kAccountFlagInternalMask, 0u)
        << "account " << a.id << " carries an internal flag bit";
    out.Account(a);
  }
  out.EndSection();
  out.BeginSection();
  for (const auto& h : holds) out.Hold(h);
  out.EndSection();
  out.BeginSection();
  for (const auto& e : history) out.History(e);
  out.EndSection();
  out.BeginSection();
  for (const auto& r : op_ids) out.OpId(r);
  out.EndSection();
  return out.bytes();
}

// Equal canonical forms, reported by size and first difference rather than
// as megabytes of bytes.
::testing::AssertionResult SameRecords(const std::string& written,
                                       const std::string& expected) {
  if (written == expected) return ::testing::AssertionSuccess();
  size_t at = 0;
  while (at < written.size() && at < expected.size() &&
         written[at] == expected[at]) {
    ++at;
  }
  return ::testing::AssertionFailure()
         << "the snapshot's records differ from the state at its seq: "
         << written.size() << " bytes against " << expected.size()
         << ", first difference at byte " << at;
}

// One shard driven by hand, the way the inline layout's sequencer drives it.
class ShardWalkTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kAccounts = 20000;  // several walk steps
  static constexpr uint64_t kTimeoutMs = 5;

  ShardWalkTest() : dir_(FreshDir("snapshot_walk")) {
    EngineConfig config;
    config.shard_count = 1;
    config.history_entries_per_shard_max = 1 << 16;
    shard_ = std::make_unique<Shard>(0, 1, config);
    internal::ShardWiring wiring;
    wiring.sequencer_bell = &bell_;
    shard_->Wire(std::move(wiring));
  }
  ~ShardWalkTest() override { testing::RemoveIfPassed(dir_); }

  void Apply(std::vector<Op> ops) {
    Request r;
    r.kind = RequestKind::kOps;
    r.ops = std::move(ops);
    shard_->ApplyInline(&r, next_seq_, ts_ns_);
    next_seq_ += r.ops.size();
    ts_ns_ += 1'000'000;  // 1 ms a request
  }

  // Accounts 1..kAccounts, every tenth with limits, each with a balance;
  // open holds on some, a few of which expire after kTimeoutMs.
  void Populate() {
    std::vector<Op> ops;
    for (uint64_t id = 1; id <= kAccounts; ++id) {
      ops.push_back(id % 10 == 0 ? testing::CreateAccount(id, 1, 50, 1 << 30)
                                 : testing::CreateAccount(id));
      ops.push_back(testing::Credit(id, 1000 + id));
    }
    for (uint64_t id = 1; id <= kAccounts; id += 97) {
      ops.push_back(testing::Hold(id, 10, id % 2 == 0 ? kTimeoutMs : 0));
    }
    Apply(std::move(ops));
  }

  // The records as they are now, as the forked child would write them.
  std::string FrozenState() {
    internal::SnapshotEncoder out(next_seq_ - 1, ts_ns_);
    out.BeginSection();
    shard_->SaveAccounts(out);
    out.EndSection();
    out.BeginSection();
    shard_->SaveHolds(out);
    out.EndSection();
    out.BeginSection();
    shard_->SaveHistory(out);
    out.EndSection();
    out.BeginSection();
    out.EndSection();
    return Canonical(out.bytes());
  }

  // Changes every account that existed at the cut, adds enough new ones to
  // grow the account map (the walk starts over), and lets holds expire.
  void ChangeEverything(uint64_t round) {
    std::vector<Op> ops;
    for (uint64_t id = kAccounts; id >= 1; --id) {
      ops.push_back(id % 3 == 0 ? testing::Transfer(id, id % kAccounts + 1, 1)
                                : testing::Debit(id, 1));
    }
    const uint64_t base = kAccounts * (10 + round);
    for (uint64_t id = base; id < base + 3 * kAccounts; ++id) {
      ops.push_back(testing::CreateAccount(id));
    }
    ts_ns_ += 2 * kTimeoutMs * 1'000'000;
    Apply(std::move(ops));
  }

  // Steps the walk until this shard is done, with `between` run after
  // every step; then waits for the writer. Bounded.
  template <typename Fn>
  void Walk(internal::SnapshotWriter& writer, Fn&& between) {
    for (uint64_t i = 0; shard_->snapshot_pending(); ++i) {
      ASSERT_LT(i, uint64_t{50'000'000}) << "the walk does not end";
      if (!shard_->StepSnapshot()) std::this_thread::yield();  // writer full
      between();
    }
    for (uint64_t i = 0; !writer.done(); ++i) {
      ASSERT_LT(i, uint64_t{50'000'000}) << "the writer does not finish";
      std::this_thread::yield();
    }
    ASSERT_TRUE(writer.status().ok()) << writer.status();
  }

  std::string Written(uint64_t seq) {
    auto file =
        wal::ReadSnapshotFile(nullptr, dir_ + "/" + wal::SnapshotFileName(seq));
    EXPECT_TRUE(file.ok()) << file.status();
    return file.ok() ? Canonical(file->payload) : std::string();
  }

  std::string dir_;
  internal::Doorbell bell_;
  std::unique_ptr<Shard> shard_;
  uint64_t next_seq_ = 1;
  uint64_t ts_ns_ = 1'000'000'000;
};

TEST_F(ShardWalkTest, RecordsChangedBeforeTheWalkReachesThemAreSavedAsBefore) {
  Populate();
  const std::string expected = FrozenState();
  const uint64_t seq = next_seq_ - 1;
  internal::SnapshotWriter writer(nullptr, dir_, seq, ts_ns_, 1, {&bell_},
                                  &bell_);
  shard_->BeginSnapshot(&writer);
  // Before the first step: every saved account comes from its change.
  ChangeEverything(0);
  ASSERT_FALSE(SameRecords(FrozenState(), expected));  // the changes are real
  Walk(writer, [] {});
  EXPECT_TRUE(SameRecords(Written(seq), expected));
}

TEST_F(ShardWalkTest, ChangesBetweenStepsLeaveTheCutIntact) {
  Populate();
  const std::string expected = FrozenState();
  const uint64_t seq = next_seq_ - 1;
  internal::SnapshotWriter writer(nullptr, dir_, seq, ts_ns_, 1, {&bell_},
                                  &bell_);
  shard_->BeginSnapshot(&writer);
  // Some records are walked first, some changed first, some changed again
  // after they were walked.
  uint64_t step = 0;
  Walk(writer, [&] {
    if (++step % 2 == 0) {
      const uint64_t id = (step * 7919) % kAccounts + 1;
      Apply({testing::Debit(id, 1), testing::Credit(id % kAccounts + 1, 2)});
    }
  });
  EXPECT_TRUE(SameRecords(Written(seq), expected));
}

TEST_F(ShardWalkTest, TheNextSnapshotSeesTheChangesMadeDuringThisOne) {
  Populate();
  for (uint64_t round = 0; round < 3; ++round) {
    const std::string expected = FrozenState();
    const uint64_t seq = next_seq_ - 1;
    internal::SnapshotWriter writer(nullptr, dir_, seq, ts_ns_, 1, {&bell_},
                                    &bell_);
    shard_->BeginSnapshot(&writer);
    ChangeEverything(round);
    Walk(writer, [] {});
    EXPECT_TRUE(SameRecords(Written(seq), expected)) << "round " << round;
    // Accounts made during the walk were left out of it, and belong to the
    // next one.
  }
}

// --- an engine under load -------------------------------------------------

class SnapshotUnderLoadTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(SnapshotUnderLoadTest, RecoversToTheStateItHadWithLoadDuringTheWalk) {
  // Transfers within and across shards, new accounts and expiring holds go
  // on while the snapshot is taken; restarted from it and the log's tail
  // with one more shard, the engine reaches the same digest and answers
  // every retry with the original result.
  const uint32_t shards = GetParam();
  const std::string dir = FreshDir("snapshot_under_load");
  const uint64_t accounts =
      testing::TestScale("SNAPSHOT_LOAD_ACCOUNTS", 100000, 20000);
  // Engine time moves only with the load (1 ms a request), so that holds
  // expire at known ops and both digests are taken at the same time.
  testing::ManualClock clock;
  EngineConfig config;
  config.data_dir = dir;
  config.snapshot_every_log_bytes = 0;  // only when asked
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  StateDigest digest;
  std::vector<std::pair<Op, OpResult>> answered;
  {
    auto engine = testing::MakeEngine(shards, config);
    std::vector<Op> create;
    for (uint64_t id = 1; id <= accounts; ++id) {
      create.push_back(testing::CreateAccount(id));
      create.push_back(testing::Credit(id, 1'000'000));
      if (create.size() >= 4096) engine->Apply(std::exchange(create, {}));
    }
    engine->Apply(create);
    // Transfers across the whole id range, across shards, from threads
    // that keep several requests in flight (so a shard's queue is rarely
    // empty at the cut) until the snapshot is written and a little after.
    constexpr int kLoadThreads = 8;
    std::atomic<bool> snapshot_done{false};
    std::atomic<uint64_t> next_new{accounts + 1};
    std::vector<std::vector<std::pair<Op, OpResult>>> answers(kLoadThreads);
    std::vector<std::thread> load;
    for (int t = 0; t < kLoadThreads; ++t) {
      load.emplace_back([&, t] {
        uint64_t x = 88172645463325252ull + 7919 * static_cast<uint64_t>(t);
        for (int after = 0; after < 10;) {
          std::vector<Op> ops;
          for (int i = 0; i < 64; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const uint64_t from = x % accounts + 1;
            const uint64_t to = (x >> 32) % accounts + 1;
            switch (x % 16) {
              case 0:  // accounts made during the walk are not in it
                ops.push_back(testing::CreateAccount(next_new.fetch_add(1)));
                break;
              case 1:  // holds that expire at a later op's time
                ops.push_back(testing::Hold(from, 1, /*timeout_ms=*/1));
                break;
              default:
                ops.push_back(testing::Transfer(from, to, x % 7 + 1));
            }
          }
          clock.now_ns.fetch_add(1'000'000);
          std::vector<OpResult> results = engine->Apply(ops);
          answers[t].emplace_back(ops[t % ops.size()], results[t % ops.size()]);
          if (snapshot_done.load(std::memory_order_acquire)) ++after;
        }
      });
    }
    testing::TakeSnapshot(*engine);
    snapshot_done.store(true, std::memory_order_release);
    for (auto& th : load) th.join();
    for (const auto& a : answers)
      answered.insert(answered.end(), a.begin(), a.end());
    digest = engine->Digest();
    EXPECT_EQ(engine->Stats().snapshot_failures, 0u);
  }
  // Another shard count re-partitions the snapshot and the tail.
  auto engine = testing::MakeEngine(shards + 1, config);
  EXPECT_TRUE(engine->recovery().from_snapshot);
  EXPECT_GT(engine->recovery().last_seq, engine->recovery().snapshot_seq)
      << "the load went on after the cut, so the log has a tail";
  EXPECT_EQ(engine->Digest(), digest);
  // Retries of ops from before and after the cut get their answers.
  for (const auto& [op, result] : answered) {
    OpResult again = engine->Apply({op})[0];
    ASSERT_NE(again.flags & kResultFlagDuplicate, 0u);
    ASSERT_EQ(again.code, result.code);
    ASSERT_EQ(again.seq, result.seq);
  }
  engine.reset();
  testing::RemoveIfPassed(dir);
}

INSTANTIATE_TEST_SUITE_P(Layouts, SnapshotUnderLoadTest,
                         ::testing::Values(1u, 2u, 4u));

}  // namespace
}  // namespace coffer
