// The bank invariant under concurrent random transfers: money is neither
// created nor destroyed, no balance goes below zero, and every account ends
// exactly where the successful transfers (known from their results) put it.
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

TEST(BankInvariantStress, RandomTransfersAcrossFourShards) {
  constexpr uint32_t kShards = 4;
  constexpr int kAccounts = 1000;
  constexpr int64_t kInitial = 1000;
  constexpr int kThreads = 8;
  constexpr int kRounds = 3;
  constexpr int kRequestsPerRound = 40;  // per thread; 1..4 transfers each
  constexpr uint64_t kFirstId = 1'000;

  auto e = MakeEngine(kShards);
  ASSERT_EQ(e->shard_count(), kShards);

  std::vector<uint64_t> ids;
  std::vector<std::vector<int>> by_shard(kShards);  // account indexes
  for (int i = 0; i < kAccounts; ++i) {
    ids.push_back(kFirstId + i);
    by_shard[ShardOf(ids.back(), kShards)].push_back(i);
  }
  for (const auto& list : by_shard) ASSERT_GE(list.size(), 2u);
  {
    std::vector<Op> setup;
    for (uint64_t id : ids) setup.push_back(CreateAccount(id));
    for (uint64_t id : ids) setup.push_back(Credit(id, kInitial));
    for (const OpResult& r : e->Apply(setup))
      ASSERT_EQ(r.code, ResultCode::kOk);
  }
  const int64_t total = kInitial * kAccounts;
  std::vector<int64_t> expected(kAccounts, kInitial);

  struct Tally {
    int ok_same = 0, ok_cross = 0, insufficient = 0, other = 0;
    std::vector<int64_t> delta = std::vector<int64_t>(kAccounts, 0);
  };
  int ok_same = 0, ok_cross = 0, insufficient = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    // Plans are built up front (op ids are drawn once, deterministically).
    std::vector<std::vector<std::vector<Op>>> plans(kThreads);
    std::vector<std::vector<std::vector<bool>>> cross(kThreads);
    std::vector<std::vector<std::vector<std::pair<int, int>>>> legs(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      std::mt19937_64 rng(round * 1000 + t);
      for (int q = 0; q < kRequestsPerRound; ++q) {
        std::vector<Op> ops;
        std::vector<bool> x;
        std::vector<std::pair<int, int>> l;
        const int n = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < n; ++k) {
          const uint32_t s_from = rng() % kShards;
          const bool same = rng() % 2 == 0;
          uint32_t s_to = s_from;
          if (!same) s_to = (s_from + 1 + rng() % (kShards - 1)) % kShards;
          const auto& from_list = by_shard[s_from];
          const auto& to_list = by_shard[s_to];
          const int from = from_list[rng() % from_list.size()];
          int to = to_list[rng() % to_list.size()];
          while (to == from) to = to_list[rng() % to_list.size()];
          // Up to 1.5x the initial balance: some transfers must fail.
          const uint64_t amount = 1 + rng() % (kInitial * 3 / 2);
          ops.push_back(Transfer(ids[from], ids[to], amount));
          x.push_back(!same);
          l.emplace_back(from, to);
        }
        plans[t].push_back(std::move(ops));
        cross[t].push_back(std::move(x));
        legs[t].push_back(std::move(l));
      }
    }

    std::vector<Tally> tallies(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Tally& tally = tallies[t];
        for (size_t q = 0; q < plans[t].size(); ++q) {
          const std::vector<Op>& ops = plans[t][q];
          const std::vector<OpResult> results = e->Apply(ops);
          if (results.size() != ops.size()) {
            ++tally.other;
            continue;
          }
          for (size_t k = 0; k < ops.size(); ++k) {
            const OpResult& r = results[k];
            if (r.code == ResultCode::kOk) {
              (cross[t][q][k] ? tally.ok_cross : tally.ok_same)++;
              const auto amount = static_cast<int64_t>(ops[k].amount);
              tally.delta[legs[t][q][k].first] -= amount;
              tally.delta[legs[t][q][k].second] += amount;
            } else if (r.code == ResultCode::kInsufficientFunds) {
              ++tally.insufficient;
            } else {
              ++tally.other;
            }
            if (r.balance_after < 0) ++tally.other;
          }
        }
      });
    }
    for (auto& th : threads) th.join();

    // Quiescent point: every thread joined.
    for (const Tally& tally : tallies) {
      EXPECT_EQ(tally.other, 0);
      ok_same += tally.ok_same;
      ok_cross += tally.ok_cross;
      insufficient += tally.insufficient;
      for (int i = 0; i < kAccounts; ++i) expected[i] += tally.delta[i];
    }
    const std::vector<AccountInfo> accounts = e->Lookup(ids);
    ASSERT_EQ(accounts.size(), ids.size());
    int64_t sum = 0;
    for (int i = 0; i < kAccounts; ++i) {
      const AccountInfo& a = accounts[i];
      ASSERT_EQ(a.id, ids[i]);
      EXPECT_GE(a.balance, 0) << "account " << a.id;
      EXPECT_EQ(a.held, 0u);
      EXPECT_EQ(a.balance, expected[i]) << "account " << a.id;
      sum += a.balance;
    }
    EXPECT_EQ(sum, total);
    const StateDigest d = e->Digest();
    EXPECT_EQ(d.accounts, static_cast<uint64_t>(kAccounts));
    EXPECT_EQ(d.holds, 0u);
  }

  // The test proves something only if transfers both succeeded (on one shard
  // and across shards) and failed.
  EXPECT_GT(ok_same, 0);
  EXPECT_GT(ok_cross, 0);
  EXPECT_GT(insufficient, 0);

  const EngineStats stats = e->Stats();
  ASSERT_EQ(stats.shards.size(), kShards);
  uint64_t multi = 0;
  uint64_t accounts = 0;
  for (const auto& s : stats.shards) {
    EXPECT_GT(s.multi_shard_txns, 0u);
    multi += s.multi_shard_txns;
    accounts += s.accounts;
  }
  EXPECT_GT(multi, 0u);
  EXPECT_EQ(accounts, static_cast<uint64_t>(kAccounts));
}

}  // namespace
}  // namespace coffer::testing
