// Concurrent clients: the balance guard holds under contention (no negative
// balance), and concurrent copies of one op apply exactly once (no double
// charge). Threads start together on a latch; nothing sleeps.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <future>
#include <latch>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

// 64 threads each send 10 debits of 1 (each its own request, unique op ids)
// against an account holding 100: exactly 100 succeed.
void NoNegativeBalance(uint32_t shards) {
  SCOPED_TRACE(::testing::Message() << "shards=" << shards);
  constexpr int kThreads = 64;
  constexpr int kDebitsPerThread = 10;
  constexpr uint64_t kAccount = 7;
  auto e = MakeEngine(shards);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kAccount, 100)), ResultCode::kOk);

  std::vector<std::vector<Op>> ops(kThreads);
  for (auto& list : ops) {
    for (int i = 0; i < kDebitsPerThread; ++i)
      list.push_back(Debit(kAccount, 1));
  }
  std::vector<std::vector<OpResult>> results(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (const Op& op : ops[t]) {
        std::vector<OpResult> r = e->Apply({op});
        results[t].push_back(r.empty() ? OpResult{} : r[0]);
      }
    });
  }
  for (auto& th : threads) th.join();

  int ok = 0;
  int insufficient = 0;
  std::set<int64_t> ok_balances;
  std::set<uint64_t> seqs;
  for (const auto& list : results) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kDebitsPerThread));
    for (const OpResult& r : list) {
      EXPECT_FALSE(r.duplicate());
      EXPECT_GE(r.balance_after, 0) << Describe(r);
      seqs.insert(r.seq);
      if (r.code == ResultCode::kOk) {
        ++ok;
        ok_balances.insert(r.balance_after);
      } else if (r.code == ResultCode::kInsufficientFunds) {
        ++insufficient;
        EXPECT_EQ(r.balance_after, 0) << "refused while funds remained";
      } else {
        ADD_FAILURE() << "unexpected " << Describe(r);
      }
    }
  }
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(insufficient, kThreads * kDebitsPerThread - 100);
  // Every successful debit saw a distinct balance: 99, 98, ..., 0.
  EXPECT_EQ(ok_balances.size(), 100u);
  if (!ok_balances.empty()) {
    EXPECT_EQ(*ok_balances.begin(), 0);
    EXPECT_EQ(*ok_balances.rbegin(), 99);
  }
  EXPECT_EQ(seqs.size(), static_cast<size_t>(kThreads * kDebitsPerThread));
  EXPECT_FALSE(seqs.contains(0u));

  const AccountInfo info = Account(*e, kAccount);
  EXPECT_EQ(info.balance, 0);
  EXPECT_EQ(info.held, 0u);

  const std::vector<HistoryEntry> history = AllHistory(*e, kAccount);
  ASSERT_EQ(history.size(), 102u);  // create + credit + 100 debits
  EXPECT_EQ(info.history_count, 102u);
  int debits = 0;
  int64_t previous_balance = -1;
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryEntry& h = history[i];
    EXPECT_EQ(h.number, history.size() - i);  // newest first, 102..1
    if (h.kind == EntryKind::kDebit) {
      ++debits;
      EXPECT_EQ(h.amount, -1);
      EXPECT_GE(h.balance_after, 0);
      // Newest first: balances grow as we walk back in time.
      EXPECT_EQ(h.balance_after, previous_balance + 1);
      previous_balance = h.balance_after;
    }
  }
  EXPECT_EQ(debits, 100);
  EXPECT_EQ(history[100].kind, EntryKind::kCredit);
  EXPECT_EQ(history[101].kind, EntryKind::kCreate);
}

TEST(ConcurrencyTest, NoNegativeBalance64ThreadsTwoShards) {
  NoNegativeBalance(2);
}

TEST(ConcurrencyTest, NoNegativeBalance64ThreadsFourShards) {
  NoNegativeBalance(4);
}

// 32 threads send the same op (same id, same fields) at once: it applies
// once; every thread gets the same answer, 31 of them marked duplicate.
TEST(ExactlyOnceRace, SameOpFrom32ThreadsChargesOnce) {
  for (uint32_t shards : {2u, 4u}) {
    SCOPED_TRACE(::testing::Message() << "shards=" << shards);
    constexpr int kThreads = 32;
    constexpr uint64_t kAccount = 5;
    auto e = MakeEngine(shards);
    ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(kAccount, 1000)), ResultCode::kOk);
    const uint64_t duplicates_before = e->Stats().duplicates;

    const Op debit = Debit(kAccount, 10);
    std::vector<OpResult> results(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        std::vector<OpResult> r = e->Apply({debit});
        if (r.size() == 1) results[t] = r[0];
      });
    }
    for (auto& th : threads) th.join();

    int originals = 0;
    for (const OpResult& r : results) {
      EXPECT_EQ(r.code, ResultCode::kOk) << Describe(r);
      EXPECT_EQ(r.balance_after, 990) << Describe(r);
      EXPECT_EQ(r.seq, results[0].seq);
      if (!r.duplicate()) ++originals;
    }
    EXPECT_NE(results[0].seq, 0u);
    EXPECT_EQ(originals, 1);
    EXPECT_EQ(Balance(*e, kAccount), 990);
    EXPECT_EQ(e->Stats().duplicates - duplicates_before,
              static_cast<uint64_t>(kThreads - 1));
    const auto history = AllHistory(*e, kAccount);
    ASSERT_EQ(history.size(), 3u);  // create, credit, one debit
    EXPECT_EQ(history[0].kind, EntryKind::kDebit);
    EXPECT_EQ(history[0].op_id, debit.op_id);

    // A later retry still answers the same, without a second charge.
    const OpResult retry = e->Apply({debit})[0];
    EXPECT_TRUE(retry.duplicate());
    EXPECT_EQ(retry.seq, results[0].seq);
    EXPECT_EQ(retry.balance_after, 990);

    // A retry of that id with another amount is refused and changes nothing.
    const StateDigest digest = e->Digest();
    Op changed = debit;
    changed.amount = 20;
    const OpResult refused = e->Apply({changed})[0];
    EXPECT_EQ(refused.code, ResultCode::kOpIdReusedWithDifferentFields);
    EXPECT_EQ(refused.seq, 0u);
    EXPECT_EQ(e->Digest(), digest);
    EXPECT_EQ(Balance(*e, kAccount), 990);
    EXPECT_EQ(Account(*e, kAccount).history_count, 3u);
  }
}

// Half the threads send the op with one amount, half reuse the id with
// another amount, all at once: whichever version is ordered first wins; its
// group all answer ok (one original, the rest duplicates), the other group is
// refused as a reused id. Exactly one debit happens.
TEST(ExactlyOnceRace, SameIdDifferentFieldsConcurrently) {
  constexpr int kThreads = 32;
  constexpr uint64_t kAccount = 9;
  auto e = MakeEngine(3);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kAccount, 1000)), ResultCode::kOk);
  const Op ten = Debit(kAccount, 10);
  Op twenty = ten;
  twenty.amount = 20;

  std::vector<OpResult> results(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      std::vector<OpResult> r = e->Apply({t % 2 == 0 ? ten : twenty});
      if (r.size() == 1) results[t] = r[0];
    });
  }
  for (auto& th : threads) th.join();

  int winner_group = -1;
  int originals = 0;
  for (int t = 0; t < kThreads; ++t) {
    const OpResult& r = results[t];
    if (r.code == ResultCode::kOk) {
      if (winner_group == -1) winner_group = t % 2;
      EXPECT_EQ(t % 2, winner_group) << "both versions answered ok";
      if (!r.duplicate()) ++originals;
    } else {
      EXPECT_EQ(r.code, ResultCode::kOpIdReusedWithDifferentFields)
          << Describe(r);
      EXPECT_EQ(r.seq, 0u);
    }
  }
  ASSERT_NE(winner_group, -1);
  EXPECT_EQ(originals, 1);
  const int64_t expected = winner_group == 0 ? 990 : 980;
  for (int t = winner_group; t < kThreads; t += 2) {
    EXPECT_EQ(results[t].balance_after, expected);
  }
  EXPECT_EQ(Balance(*e, kAccount), expected);
  EXPECT_EQ(Account(*e, kAccount).history_count, 3u);
}

// A retry ordered in the same pass as its original, with a new op of its
// own: the sequencer is stalled (a completion callback that blocks runs on
// its thread) while both requests are queued, so that one pass admits them.
// The retry's answer leaves only once its new op is applied too: the
// callback copies the results it sees. One shard (the inline layout, where
// the pass is applied after it is ordered) and two; in memory and durable.
void RetryInThePassOfItsOriginal(uint32_t shards, bool durable) {
  SCOPED_TRACE(::testing::Message()
               << "shards=" << shards << " durable=" << durable);
  constexpr uint64_t kAccount = 11;
  EngineConfig config;
  std::string dir;
  if (durable) {
    dir = FreshDir("same-pass-retry");
    config.data_dir = dir;
  }
  auto e = MakeEngine(shards, config);
  ASSERT_EQ(Code(*e, CreateAccount(kAccount)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kAccount, 1000)), ResultCode::kOk);

  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  Request blocker;
  blocker.ops = {Credit(kAccount, 1)};
  blocker.on_complete = [&](Request&) {
    entered.set_value();
    released.wait();
  };
  ASSERT_EQ(e->TrySubmit(&blocker), SubmitResult::kAccepted);
  entered.get_future().wait();

  const Op original = Debit(kAccount, 10);
  const Op fresh = Debit(kAccount, 5);
  Request first;
  first.ops = {original};
  std::latch first_done(1);
  first.on_complete = [&](Request&) { first_done.count_down(); };
  Request retry;
  retry.ops = {original, fresh};
  std::vector<OpResult> seen_at_completion;
  std::latch retry_done(1);
  retry.on_complete = [&](Request& r) {
    seen_at_completion = r.results;
    retry_done.count_down();
  };
  ASSERT_EQ(e->TrySubmit(&first), SubmitResult::kAccepted);
  ASSERT_EQ(e->TrySubmit(&retry), SubmitResult::kAccepted);
  release.set_value();
  first_done.wait();
  retry_done.wait();

  ASSERT_EQ(first.results.size(), 1u);
  const OpResult& a = first.results[0];
  EXPECT_EQ(a.code, ResultCode::kOk) << Describe(a);
  EXPECT_FALSE(a.duplicate());
  EXPECT_EQ(a.balance_after, 991);
  ASSERT_EQ(seen_at_completion.size(), 2u);
  const OpResult& again = seen_at_completion[0];
  EXPECT_TRUE(again.duplicate()) << Describe(again);
  EXPECT_EQ(again.seq, a.seq);
  EXPECT_EQ(again.balance_after, 991);
  const OpResult& b = seen_at_completion[1];
  EXPECT_EQ(b.code, ResultCode::kOk) << Describe(b);
  EXPECT_FALSE(b.duplicate());
  EXPECT_GT(b.seq, a.seq) << "answered before its own op was applied";
  EXPECT_EQ(b.balance_after, 986);
  EXPECT_EQ(Balance(*e, kAccount), 986);
  e.reset();
  if (durable) RemoveIfPassed(dir);
}

TEST(ExactlyOnceRace, RetryInThePassOfItsOriginal) {
  for (uint32_t shards : {1u, 2u}) {
    for (bool durable : {false, true}) {
      RetryInThePassOfItsOriginal(shards, durable);
    }
  }
}

// Many threads create the same account with their own op ids: one creates
// it, every other gets account_exists, and nothing is duplicated.
TEST(ConcurrencyTest, ConcurrentCreateOfOneAccount) {
  constexpr int kThreads = 16;
  auto e = MakeEngine(2);
  std::vector<Op> creates;
  for (int t = 0; t < kThreads; ++t) creates.push_back(CreateAccount(77, 3));
  std::vector<ResultCode> codes(kThreads);
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      codes[t] = Code(*e, creates[t]);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(std::count(codes.begin(), codes.end(), ResultCode::kOk), 1);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), ResultCode::kAccountExists),
            kThreads - 1);
  EXPECT_EQ(Account(*e, 77).history_count, 1u);
  EXPECT_EQ(e->Digest().accounts, 1u);
}

// Reads running concurrently with cross-shard transfers never see money
// created or destroyed: every multi-account lookup sums to the total.
TEST(ConcurrencyTest, LookupsSeeConsistentTotalsDuringTransfers) {
  constexpr uint32_t kShards = 4;
  auto e = MakeEngine(kShards);
  std::vector<uint64_t> ids;
  for (uint32_t s = 0; s < kShards; ++s) {
    uint64_t from = 100;
    for (int k = 0; k < 2; ++k) {
      const uint64_t id = IdOnShard(s, kShards, from);
      ids.push_back(id);
      from = id + 1;
    }
  }
  for (uint64_t id : ids) {
    ASSERT_EQ(Code(*e, CreateAccount(id)), ResultCode::kOk);
    ASSERT_EQ(Code(*e, Credit(id, 100)), ResultCode::kOk);
  }
  const int64_t total = 100 * static_cast<int64_t>(ids.size());

  constexpr int kWriters = 3;
  constexpr int kTransfersPerWriter = 60;
  std::vector<std::vector<Op>> plans(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    for (int i = 0; i < kTransfersPerWriter; ++i) {
      const uint64_t from = ids[(w * 7 + i) % ids.size()];
      const uint64_t to = ids[(w * 3 + i * 5 + 1) % ids.size()];
      if (from == to) continue;
      plans[w].push_back(Transfer(from, to, 1 + (i * 13 + w) % 40));
    }
  }
  std::latch start(kWriters + 1);
  std::atomic<int> writers_left{kWriters};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      start.arrive_and_wait();
      for (const Op& op : plans[w]) {
        const ResultCode rc = Code(*e, op);
        EXPECT_TRUE(rc == ResultCode::kOk ||
                    rc == ResultCode::kInsufficientFunds)
            << ResultCodeName(rc);
      }
      writers_left.fetch_sub(1);
    });
  }
  start.arrive_and_wait();
  int reads = 0;
  // Read until the writers are done, and at least a few times.
  while (writers_left.load() > 0 || reads < 5) {
    const std::vector<AccountInfo> accounts = e->Lookup(ids);
    int64_t sum = 0;
    for (const AccountInfo& a : accounts) {
      EXPECT_GE(a.balance, 0);
      sum += a.balance;
    }
    EXPECT_EQ(sum, total) << "a read saw one leg of a transfer";
    ++reads;
  }
  for (auto& th : threads) th.join();
  EXPECT_GT(reads, 0);
}

}  // namespace
}  // namespace coffer::testing
