// Holds: reserve, capture (partial and full), release, expiry on a manual
// clock, and captures whose held account and destination live on different
// shards.
#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

constexpr uint64_t kNsPerMs = 1'000'000;

TEST(HoldsTest, HoldCaptureReleaseLifecycle) {
  auto e = MakeEngine(2);
  constexpr uint64_t kPlayer = 1;
  constexpr uint64_t kShop = 2;
  ASSERT_EQ(Code(*e, CreateAccount(kPlayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kShop)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPlayer, 500)), ResultCode::kOk);

  const Op hold = Hold(kPlayer, 100);
  const OpResult held = e->Apply({hold})[0];
  ASSERT_EQ(held.code, ResultCode::kOk);
  EXPECT_EQ(held.balance_after, 500);  // a hold moves no money
  AccountInfo a = Account(*e, kPlayer);
  EXPECT_EQ(a.balance, 500);
  EXPECT_EQ(a.held, 100u);
  EXPECT_EQ(a.available(), 400);
  EXPECT_EQ(e->Digest().holds, 1u);

  // The held amount is not available to a debit, a transfer or another hold.
  EXPECT_EQ(Code(*e, Debit(kPlayer, 450)), ResultCode::kInsufficientFunds);
  EXPECT_EQ(Code(*e, Transfer(kPlayer, kShop, 401)),
            ResultCode::kInsufficientFunds);
  EXPECT_EQ(Code(*e, Hold(kPlayer, 401)), ResultCode::kInsufficientFunds);
  EXPECT_EQ(Balance(*e, kPlayer), 500);

  // Capture 60 of the 100: the other 40 return to the available balance.
  const OpResult captured =
      e->Apply({Capture(kPlayer, hold.op_id, kShop, 60)})[0];
  ASSERT_EQ(captured.code, ResultCode::kOk);
  EXPECT_EQ(captured.balance_after, 440);
  a = Account(*e, kPlayer);
  EXPECT_EQ(a.balance, 440);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(a.available(), 440);
  EXPECT_EQ(Balance(*e, kShop), 60);
  EXPECT_EQ(e->Digest().holds, 0u);

  // History of the capture on both sides.
  const HistoryEntry out = HistoryPage(*e, kPlayer, 0, 1).history.at(0);
  EXPECT_EQ(out.kind, EntryKind::kCaptureOut);
  EXPECT_EQ(out.amount, -60);
  EXPECT_EQ(out.held_delta, -100);
  EXPECT_EQ(out.balance_after, 440);
  EXPECT_EQ(out.held_after, 0u);
  EXPECT_EQ(out.other_account_id, kShop);
  const HistoryEntry in = HistoryPage(*e, kShop, 0, 1).history.at(0);
  EXPECT_EQ(in.kind, EntryKind::kCaptureIn);
  EXPECT_EQ(in.amount, 60);
  EXPECT_EQ(in.other_account_id, kPlayer);
  EXPECT_EQ(in.seq, out.seq);

  // A closed hold cannot be captured or released again.
  const StateDigest digest = e->Digest();
  EXPECT_EQ(Code(*e, Capture(kPlayer, hold.op_id, kShop, 10)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(Code(*e, Capture(kPlayer, hold.op_id, kShop, 0)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(Code(*e, Release(kPlayer, hold.op_id)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(e->Digest(), digest);

  // Now all 440 is available.
  EXPECT_EQ(Code(*e, Debit(kPlayer, 440)), ResultCode::kOk);
  EXPECT_EQ(Balance(*e, kPlayer), 0);
}

TEST(HoldsTest, ReleaseThenCaptureIsAlreadyClosed) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 300)), ResultCode::kOk);
  const Op hold = Hold(1, 200);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  EXPECT_EQ(Account(*e, 1).available(), 100);
  ASSERT_EQ(Code(*e, Release(1, hold.op_id)), ResultCode::kOk);
  AccountInfo a = Account(*e, 1);
  EXPECT_EQ(a.balance, 300);
  EXPECT_EQ(a.held, 0u);
  const HistoryEntry rel = HistoryPage(*e, 1, 0, 1).history.at(0);
  EXPECT_EQ(rel.kind, EntryKind::kRelease);
  EXPECT_EQ(rel.amount, 0);
  EXPECT_EQ(rel.held_delta, -200);

  const StateDigest digest = e->Digest();
  EXPECT_EQ(Code(*e, Capture(1, hold.op_id, 2, 50)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(Code(*e, Release(1, hold.op_id)), ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(e->Digest(), digest);
  EXPECT_EQ(Balance(*e, 2), 0);
}

TEST(HoldsTest, CaptureZeroCapturesWholeHold) {
  auto e = MakeEngine(1);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const Op hold = Hold(1, 70);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  EXPECT_EQ(Code(*e, Capture(1, hold.op_id, 2, 71)),
            ResultCode::kCaptureExceedsHold);
  EXPECT_EQ(Code(*e, Capture(1, hold.op_id, 2, 0)), ResultCode::kOk);
  EXPECT_EQ(Balance(*e, 1), 30);
  EXPECT_EQ(Balance(*e, 2), 70);
  EXPECT_EQ(Account(*e, 1).held, 0u);
}

// Two holds on one account; closing one leaves the other reserved.
TEST(HoldsTest, SeveralHoldsOnOneAccount) {
  auto e = MakeEngine(2);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const Op h1 = Hold(1, 30);
  const Op h2 = Hold(1, 50);
  ASSERT_EQ(Code(*e, h1), ResultCode::kOk);
  ASSERT_EQ(Code(*e, h2), ResultCode::kOk);
  EXPECT_EQ(Code(*e, Hold(1, 21)), ResultCode::kInsufficientFunds);
  EXPECT_EQ(Account(*e, 1).held, 80u);
  EXPECT_EQ(e->Digest().holds, 2u);
  ASSERT_EQ(Code(*e, Capture(1, h2.op_id, 2, 50)), ResultCode::kOk);
  AccountInfo a = Account(*e, 1);
  EXPECT_EQ(a.balance, 50);
  EXPECT_EQ(a.held, 30u);
  EXPECT_EQ(Code(*e, Debit(1, 21)), ResultCode::kInsufficientFunds);
  EXPECT_EQ(Code(*e, Debit(1, 20)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Release(1, h1.op_id)), ResultCode::kOk);
  EXPECT_EQ(Account(*e, 1).available(), 30);
}

// Expiry on a manual clock: a hold with a 1000 ms timeout stops reserving
// funds once the engine time reaches its expiry.
TEST(HoldsTest, HoldExpiresOnManualClock) {
  ManualClock clock;
  EngineConfig config;
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  auto e = MakeEngine(2, config);
  constexpr uint64_t kPlayer = 1;
  constexpr uint64_t kShop = 2;
  ASSERT_EQ(Code(*e, CreateAccount(kPlayer)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(kShop)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(kPlayer, 500)), ResultCode::kOk);

  const Op hold = Hold(kPlayer, 100, /*timeout_ms=*/1000);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  const HistoryEntry hold_entry = HistoryPage(*e, kPlayer, 0, 1).history.at(0);
  ASSERT_EQ(hold_entry.kind, EntryKind::kHold);
  const uint64_t expires_at = hold_entry.timestamp_ns + 1000 * kNsPerMs;

  // Not yet expired just before its expiry time.
  clock.now_ns.store(expires_at - 10);
  AccountInfo a = Account(*e, kPlayer);
  EXPECT_EQ(a.held, 100u);
  EXPECT_EQ(e->Digest().holds, 1u);
  EXPECT_EQ(Code(*e, Debit(kPlayer, 500)), ResultCode::kInsufficientFunds);

  // Advance 2 s: the hold is expired (reads subtract it without mutating).
  clock.now_ns.store(hold_entry.timestamp_ns + 2000 * kNsPerMs);
  a = Account(*e, kPlayer);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(a.available(), 500);
  EXPECT_EQ(e->Digest().holds, 0u);
  EXPECT_EQ(Code(*e, Capture(kPlayer, hold.op_id, kShop, 50)),
            ResultCode::kHoldExpired);
  EXPECT_EQ(Code(*e, Release(kPlayer, hold.op_id)), ResultCode::kHoldExpired);
  EXPECT_EQ(Balance(*e, kShop), 0);

  // The full balance is available again.
  const OpResult debit = e->Apply({Debit(kPlayer, 500)})[0];
  EXPECT_EQ(debit.code, ResultCode::kOk);
  EXPECT_EQ(debit.balance_after, 0);

  // History: hold, hold_expired (written when an op first touched the
  // account after expiry), then the debit.
  const std::vector<HistoryEntry> h = AllHistory(*e, kPlayer);
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[0].kind, EntryKind::kDebit);
  EXPECT_EQ(h[1].kind, EntryKind::kHoldExpired);
  EXPECT_EQ(h[1].op_id, hold.op_id);
  EXPECT_EQ(h[1].held_delta, -100);
  EXPECT_EQ(h[2].kind, EntryKind::kHold);
  EXPECT_EQ(h[2].held_delta, 100);
}

// The expiry boundary is exact: expired iff expires_at <= transaction time.
TEST(HoldsTest, HoldExpiryBoundaryIsExact) {
  ManualClock clock;
  EngineConfig config;
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  auto e = MakeEngine(1, config);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  clock.now_ns.store(5'000'000'000);
  const Op hold = Hold(1, 100, /*timeout_ms=*/1);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  const HistoryEntry entry = HistoryPage(*e, 1, 0, 1).history.at(0);
  ASSERT_EQ(entry.timestamp_ns, 5'000'000'000u);
  const uint64_t expires_at = entry.timestamp_ns + kNsPerMs;

  clock.now_ns.store(expires_at - 100);
  EXPECT_EQ(Account(*e, 1).held, 100u);  // one ns before: still held
  // An op exactly one tick before expiry still sees the hold open.
  clock.now_ns.store(expires_at - 1);
  EXPECT_EQ(Code(*e, Debit(1, 1)), ResultCode::kInsufficientFunds);
  clock.now_ns.store(expires_at);
  EXPECT_EQ(Account(*e, 1).held, 0u);  // at expires_at: expired
  EXPECT_EQ(Code(*e, Capture(1, hold.op_id, 2, 1)), ResultCode::kHoldExpired);
}

// A hold with a timeout that is captured in time is not expired later.
TEST(HoldsTest, CapturedHoldDoesNotExpireLater) {
  ManualClock clock;
  EngineConfig config;
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  auto e = MakeEngine(2, config);
  ASSERT_EQ(Code(*e, CreateAccount(1)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(2)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(1, 100)), ResultCode::kOk);
  const Op hold = Hold(1, 40, 1000);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Capture(1, hold.op_id, 2, 40)), ResultCode::kOk);
  clock.now_ns.fetch_add(10'000 * kNsPerMs);
  EXPECT_EQ(Code(*e, Debit(1, 60)), ResultCode::kOk);
  EXPECT_EQ(Code(*e, Release(1, hold.op_id)), ResultCode::kHoldAlreadyClosed);
  AccountInfo a = Account(*e, 1);
  EXPECT_EQ(a.balance, 0);
  EXPECT_EQ(a.held, 0u);
  for (const HistoryEntry& h : AllHistory(*e, 1)) {
    EXPECT_NE(h.kind, EntryKind::kHoldExpired);
  }
}

// Held account and destination on different shards.
TEST(HoldsCrossShard, CaptureAcrossShards) {
  constexpr uint32_t kShards = 2;
  ManualClock clock;
  EngineConfig config;
  config.clock_ns = [&clock] { return clock.now_ns.load(); };
  auto e = MakeEngine(kShards, config);
  const uint64_t player = IdOnShard(0, kShards, 100);
  const uint64_t shop = IdOnShard(1, kShards, 100);
  ASSERT_NE(ShardOf(player, kShards), ShardOf(shop, kShards));
  ASSERT_EQ(Code(*e, CreateAccount(player)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, CreateAccount(shop)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(player, 500)), ResultCode::kOk);
  const auto multi = [&] {
    uint64_t n = 0;
    for (const auto& s : e->Stats().shards) n += s.multi_shard_txns;
    return n;
  };
  const uint64_t multi_before = multi();

  const Op hold = Hold(player, 100);
  ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
  EXPECT_EQ(Code(*e, Capture(player, hold.op_id, shop, 101)),
            ResultCode::kCaptureExceedsHold);
  const OpResult r = e->Apply({Capture(player, hold.op_id, shop, 60)})[0];
  ASSERT_EQ(r.code, ResultCode::kOk);
  EXPECT_EQ(r.balance_after, 440);
  AccountInfo a = Account(*e, player);
  EXPECT_EQ(a.balance, 440);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(Balance(*e, shop), 60);
  EXPECT_EQ(Code(*e, Capture(player, hold.op_id, shop, 10)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_EQ(Code(*e, Release(player, hold.op_id)),
            ResultCode::kHoldAlreadyClosed);
  EXPECT_GT(multi(), multi_before);

  // Expiry across shards: the held account's shard expires the hold before
  // it shares the record with the destination's shard.
  const Op hold2 = Hold(player, 400, 500);
  ASSERT_EQ(Code(*e, hold2), ResultCode::kOk);
  EXPECT_EQ(Account(*e, player).available(), 40);
  clock.now_ns.fetch_add(600 * kNsPerMs);
  EXPECT_EQ(Code(*e, Capture(player, hold2.op_id, shop, 10)),
            ResultCode::kHoldExpired);
  a = Account(*e, player);
  EXPECT_EQ(a.balance, 440);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(Balance(*e, shop), 60);

  // Release across nothing; capture of the whole hold to the other shard.
  const Op hold3 = Hold(player, 440);
  ASSERT_EQ(Code(*e, hold3), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Capture(player, hold3.op_id, shop, 0)), ResultCode::kOk);
  EXPECT_EQ(Balance(*e, player), 0);
  EXPECT_EQ(Balance(*e, shop), 500);
}

// Many threads try to capture (or release) the same hold, to destinations
// on every shard: exactly one wins; the others see hold_already_closed.
TEST(HoldsRace, ConcurrentCapturesOfOneHold) {
  constexpr uint32_t kShards = 4;
  constexpr int kThreads = 16;
  auto e = MakeEngine(kShards);
  const uint64_t player = IdOnShard(0, kShards, 500);
  std::vector<uint64_t> shops;
  for (uint32_t s = 0; s < kShards; ++s)
    shops.push_back(IdOnShard(s, kShards, 600));
  ASSERT_EQ(Code(*e, CreateAccount(player)), ResultCode::kOk);
  for (uint64_t shop : shops)
    ASSERT_EQ(Code(*e, CreateAccount(shop)), ResultCode::kOk);
  ASSERT_EQ(Code(*e, Credit(player, 1000)), ResultCode::kOk);

  for (int round = 0; round < 3; ++round) {
    const Op hold = Hold(player, 100);
    ASSERT_EQ(Code(*e, hold), ResultCode::kOk);
    std::vector<Op> ops;
    for (int t = 0; t < kThreads; ++t) {
      ops.push_back(t % 5 == 4
                        ? Release(player, hold.op_id)
                        : Capture(player, hold.op_id, shops[t % kShards], 100));
    }
    std::vector<ResultCode> codes(kThreads);
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        codes[t] = Code(*e, ops[t]);
      });
    }
    for (auto& th : threads) th.join();
    int winners = 0;
    for (ResultCode c : codes) {
      if (c == ResultCode::kOk) {
        ++winners;
      } else {
        EXPECT_EQ(c, ResultCode::kHoldAlreadyClosed) << ResultCodeName(c);
      }
    }
    EXPECT_EQ(winners, 1);
    EXPECT_EQ(Account(*e, player).held, 0u);
  }
  int64_t total = Balance(*e, player);
  for (uint64_t shop : shops) total += Balance(*e, shop);
  EXPECT_EQ(total, 1000);
}

}  // namespace
}  // namespace coffer::testing
