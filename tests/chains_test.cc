// Linked chains: all or nothing, on one shard and across shards, alone and
// under concurrent load on overlapping accounts.
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace coffer::testing {
namespace {

constexpr uint32_t kShards = 4;
constexpr uint32_t kGems = 1;
constexpr uint32_t kItems = 2;

struct Layout {
  std::string name;
  uint64_t player_gems = 0;
  uint64_t shop_gems = 0;
  uint64_t player_items = 0;
  uint64_t missing = 0;  // never created
};

// All four ids on shard 0.
Layout OneShard() {
  Layout l{"one shard"};
  l.player_gems = IdOnShard(0, kShards, 100);
  l.shop_gems = IdOnShard(0, kShards, l.player_gems + 1);
  l.player_items = IdOnShard(0, kShards, l.shop_gems + 1);
  l.missing = IdOnShard(0, kShards, l.player_items + 1);
  return l;
}

// Each id on its own shard.
Layout SpanningShards() {
  Layout l{"spanning shards"};
  l.player_gems = IdOnShard(0, kShards, 100);
  l.shop_gems = IdOnShard(1, kShards, 100);
  l.player_items = IdOnShard(2, kShards, 100);
  l.missing = IdOnShard(3, kShards, 100);
  return l;
}

struct Snapshot {
  std::vector<AccountInfo> accounts;
  StateDigest digest;
};

Snapshot Take(Engine& e, const Layout& l) {
  return {e.Lookup({l.player_gems, l.shop_gems, l.player_items, l.missing}),
          e.Digest()};
}

void ExpectUnchanged(const Snapshot& before, const Snapshot& after) {
  EXPECT_EQ(before.digest, after.digest);
  ASSERT_EQ(before.accounts.size(), after.accounts.size());
  for (size_t i = 0; i < before.accounts.size(); ++i) {
    const AccountInfo& a = before.accounts[i];
    const AccountInfo& b = after.accounts[i];
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.balance, b.balance) << "account " << a.id;
    EXPECT_EQ(a.held, b.held) << "account " << a.id;
    EXPECT_EQ(a.history_count, b.history_count)
        << "account " << a.id << " got history from a failed chain";
  }
}

std::unique_ptr<Engine> SetUpShop(const Layout& l) {
  auto e = MakeEngine(kShards);
  for (const OpResult& r : e->Apply({CreateAccount(l.player_gems, kGems),
                                     CreateAccount(l.shop_gems, kGems),
                                     CreateAccount(l.player_items, kItems),
                                     Credit(l.player_gems, 200)})) {
    EXPECT_EQ(r.code, ResultCode::kOk);
  }
  return e;
}

// Buy an item: 50 gems from the player to the shop, 1 item token to the
// player (another currency), as one chain.
std::vector<Op> BuyItem(const Layout& l, uint64_t item_account) {
  return {Linked(WithCurrency(Debit(l.player_gems, 50), kGems)),
          Linked(WithCurrency(Credit(l.shop_gems, 50), kGems)),
          Credit(item_account, 1)};
}

class ChainLayouts : public ::testing::TestWithParam<bool> {
 protected:
  Layout layout() const { return GetParam() ? SpanningShards() : OneShard(); }
};

TEST_P(ChainLayouts, SucceedingChainAppliesAll) {
  const Layout l = layout();
  auto e = SetUpShop(l);
  const std::vector<OpResult> r = e->Apply(BuyItem(l, l.player_items));
  ASSERT_EQ(r.size(), 3u);
  for (const OpResult& x : r) EXPECT_EQ(x.code, ResultCode::kOk);
  EXPECT_EQ(r[0].balance_after, 150);
  EXPECT_EQ(r[1].balance_after, 50);
  EXPECT_EQ(r[2].balance_after, 1);
  EXPECT_EQ(r[1].seq, r[0].seq + 1);
  EXPECT_EQ(r[2].seq, r[0].seq + 2);
  EXPECT_EQ(Balance(*e, l.player_gems), 150);
  EXPECT_EQ(Balance(*e, l.shop_gems), 50);
  EXPECT_EQ(Balance(*e, l.player_items), 1);
  // One history entry per account, each with its op's seq.
  EXPECT_EQ(HistoryPage(*e, l.player_gems, 0, 1).history.at(0).seq, r[0].seq);
  EXPECT_EQ(HistoryPage(*e, l.shop_gems, 0, 1).history.at(0).seq, r[1].seq);
  EXPECT_EQ(HistoryPage(*e, l.player_items, 0, 1).history.at(0).seq, r[2].seq);
}

TEST_P(ChainLayouts, FailingLastOpLeavesEverythingUnchanged) {
  const Layout l = layout();
  auto e = SetUpShop(l);
  const Snapshot before = Take(*e, l);
  const std::vector<OpResult> r = e->Apply(BuyItem(l, l.missing));
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[1].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[2].code, ResultCode::kAccountNotFound);
  // Refused ops report the balances as they are (unchanged).
  EXPECT_EQ(r[0].balance_after, 200);
  EXPECT_EQ(r[1].balance_after, 0);
  ExpectUnchanged(before, Take(*e, l));
  EXPECT_EQ(AllHistory(*e, l.player_gems).size(), 2u);  // create, credit
  EXPECT_EQ(AllHistory(*e, l.shop_gems).size(), 1u);
  EXPECT_EQ(AllHistory(*e, l.player_items).size(), 1u);
}

TEST_P(ChainLayouts, FailingFirstOrMiddleOp) {
  const Layout l = layout();
  auto e = SetUpShop(l);
  const Snapshot before = Take(*e, l);
  // First op fails: not enough gems.
  std::vector<OpResult> r =
      e->Apply({Linked(Debit(l.player_gems, 201)),
                Linked(Credit(l.shop_gems, 201)), Credit(l.player_items, 1)});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kInsufficientFunds);
  EXPECT_EQ(r[1].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[2].code, ResultCode::kLinkedOpFailed);
  ExpectUnchanged(before, Take(*e, l));
  // Middle op fails: wrong currency guard on the shop credit.
  r = e->Apply({Linked(Debit(l.player_gems, 50)),
                Linked(WithCurrency(Credit(l.shop_gems, 50), kItems)),
                Credit(l.player_items, 1)});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[1].code, ResultCode::kCurrencyMismatch);
  EXPECT_EQ(r[2].code, ResultCode::kLinkedOpFailed);
  ExpectUnchanged(before, Take(*e, l));
  // A later op depends on an earlier one of the same chain: the debit of
  // 250 only passes after the credit of 100 in the same chain, and the whole
  // chain still rolls back when its last op fails.
  r = e->Apply({Linked(Credit(l.player_gems, 100)),
                Linked(Debit(l.player_gems, 250)), Credit(l.missing, 1)});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[1].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ(r[2].code, ResultCode::kAccountNotFound);
  ExpectUnchanged(before, Take(*e, l));
  r = e->Apply({Linked(Credit(l.player_gems, 100)), Debit(l.player_gems, 250)});
  EXPECT_EQ(r[0].code, ResultCode::kOk);
  EXPECT_EQ(r[1].code, ResultCode::kOk);
  EXPECT_EQ(r[1].balance_after, 50);
}

// A chain that creates an account and funds it, then fails: the account is
// not created. Holds opened inside a failed chain are not left behind.
TEST_P(ChainLayouts, FailedChainCreatesNothing) {
  const Layout l = layout();
  auto e = SetUpShop(l);
  const Snapshot before = Take(*e, l);
  const Op hold = Hold(l.player_gems, 30);
  std::vector<OpResult> r =
      e->Apply({Linked(CreateAccount(l.missing, kGems)),
                Linked(Transfer(l.player_gems, l.missing, 20)), Linked(hold),
                Debit(l.shop_gems, 1)});  // the shop is empty
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[3].code, ResultCode::kInsufficientFunds);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(r[i].code, ResultCode::kLinkedOpFailed);
  ExpectUnchanged(before, Take(*e, l));
  EXPECT_EQ(Account(*e, l.missing).id, 0u);
  EXPECT_EQ(e->Digest().holds, 0u);
  EXPECT_EQ(Code(*e, Release(l.player_gems, hold.op_id)),
            ResultCode::kHoldNotFound);
  // The same chain without the failing op applies, hold included; then a
  // chain captures that hold into the new account.
  r = e->Apply({Linked(CreateAccount(l.missing, kGems)),
                Linked(Transfer(l.player_gems, l.missing, 20)),
                Hold(l.player_gems, 30)});
  for (const OpResult& x : r) EXPECT_EQ(x.code, ResultCode::kOk);
  EXPECT_EQ(Balance(*e, l.missing), 20);
  EXPECT_EQ(Account(*e, l.player_gems).held, 30u);
}

// Hold and capture in the same chain, across accounts and currencies.
TEST_P(ChainLayouts, HoldAndCaptureInOneChain) {
  const Layout l = layout();
  auto e = SetUpShop(l);
  const Op hold = Hold(l.player_gems, 80);
  std::vector<OpResult> r =
      e->Apply({Linked(hold),
                Linked(Capture(l.player_gems, hold.op_id, l.shop_gems, 50)),
                Credit(l.player_items, 2)});
  for (const OpResult& x : r) EXPECT_EQ(x.code, ResultCode::kOk) << Describe(x);
  AccountInfo a = Account(*e, l.player_gems);
  EXPECT_EQ(a.balance, 150);
  EXPECT_EQ(a.held, 0u);
  EXPECT_EQ(Balance(*e, l.shop_gems), 50);
  EXPECT_EQ(Balance(*e, l.player_items), 2);
  EXPECT_EQ(e->Digest().holds, 0u);
  EXPECT_EQ(Code(*e, Release(l.player_gems, hold.op_id)),
            ResultCode::kHoldAlreadyClosed);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ChainLayouts, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? std::string("SpanningShards")
                                             : std::string("OneShard");
                         });

// Several threads submit succeeding and failing chains on overlapping
// accounts spread over shards. Every chain is all or nothing, so the final
// balances follow exactly from the number of chains that succeeded.
TEST(ChainConcurrency, AllOrNothingUnderLoad) {
  constexpr int kPlayers = 8;
  constexpr int kThreads = 4;
  constexpr int kChainsPerThread = 50;
  constexpr int64_t kStartGems = 100;
  constexpr int64_t kPrice = 10;
  auto e = MakeEngine(kShards);
  const uint64_t shop = 5000;
  const uint64_t missing = 5001;
  std::vector<uint64_t> gems, items;
  std::vector<Op> setup = {CreateAccount(shop, kGems)};
  for (int p = 0; p < kPlayers; ++p) {
    gems.push_back(6000 + p);
    items.push_back(7000 + p);
    setup.push_back(CreateAccount(gems.back(), kGems));
    setup.push_back(CreateAccount(items.back(), kItems));
    setup.push_back(Credit(gems.back(), kStartGems));
  }
  for (const OpResult& r : e->Apply(setup)) ASSERT_EQ(r.code, ResultCode::kOk);
  // The chains span shards.
  bool spans = false;
  for (int p = 0; p < kPlayers; ++p) {
    spans |= ShardOf(gems[p], kShards) != ShardOf(shop, kShards) ||
             ShardOf(items[p], kShards) != ShardOf(shop, kShards);
  }
  ASSERT_TRUE(spans);

  enum Kind { kBuy, kBuyThenFail, kGift };
  struct Planned {
    Kind kind;
    int player;
    int other;
    std::vector<Op> ops;
  };
  std::vector<std::vector<Planned>> plans(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937 rng(t + 7);
    for (int i = 0; i < kChainsPerThread; ++i) {
      Planned c;
      c.kind = static_cast<Kind>(rng() % 3);
      c.player = static_cast<int>(rng() % kPlayers);
      c.other =
          static_cast<int>((c.player + 1 + rng() % (kPlayers - 1)) % kPlayers);
      switch (c.kind) {
        case kBuy:  // fails only when the player is out of gems
          c.ops = {Linked(Debit(gems[c.player], kPrice)),
                   Linked(Credit(shop, kPrice)), Credit(items[c.player], 1)};
          break;
        case kBuyThenFail:  // always fails at its last op
          c.ops = {Linked(Debit(gems[c.player], kPrice)),
                   Linked(Credit(shop, kPrice)),
                   Linked(Credit(items[c.player], 1)), Credit(missing, 1)};
          break;
        case kGift:  // player gives an item and 5 gems to another player
          c.ops = {Linked(Transfer(gems[c.player], gems[c.other], 5)),
                   Linked(Transfer(items[c.player], items[c.other], 1)),
                   Linked(Debit(gems[c.other], 1)), Credit(shop, 1)};
          break;
      }
      plans[t].push_back(std::move(c));
    }
  }

  struct Outcome {
    int ok = 0, failed = 0, bad = 0;
    std::vector<int64_t> gems_delta = std::vector<int64_t>(kPlayers, 0);
    std::vector<int64_t> items_delta = std::vector<int64_t>(kPlayers, 0);
    int64_t shop_delta = 0;
    int shop_entries = 0;
  };
  std::vector<Outcome> outcomes(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Outcome& o = outcomes[t];
      for (const Planned& c : plans[t]) {
        const std::vector<OpResult> r = e->Apply(c.ops);
        if (r.size() != c.ops.size()) {
          ++o.bad;
          continue;
        }
        int oks = 0;
        int linked_failed = 0;
        size_t failing = r.size();
        for (size_t i = 0; i < r.size(); ++i) {
          if (r[i].ok()) {
            ++oks;
          } else if (r[i].code == ResultCode::kLinkedOpFailed) {
            ++linked_failed;
          } else {
            failing = i;
          }
        }
        if (oks == static_cast<int>(r.size())) {
          if (c.kind == kBuyThenFail) ++o.bad;
          ++o.ok;
          ++o.shop_entries;
          if (c.kind == kBuy) {
            o.gems_delta[c.player] -= kPrice;
            o.items_delta[c.player] += 1;
            o.shop_delta += kPrice;
          } else {
            o.gems_delta[c.player] -= 5;
            o.gems_delta[c.other] += 5 - 1;
            o.items_delta[c.player] -= 1;
            o.items_delta[c.other] += 1;
            o.shop_delta += 1;
          }
          continue;
        }
        // A failed chain: exactly one op with its own code, the rest
        // linked_op_failed.
        ++o.failed;
        if (oks != 0 || linked_failed != static_cast<int>(r.size()) - 1 ||
            failing == r.size()) {
          ++o.bad;
          continue;
        }
        const ResultCode code = r[failing].code;
        switch (c.kind) {
          case kBuy:
            if (failing != 0 || code != ResultCode::kInsufficientFunds) ++o.bad;
            break;
          case kBuyThenFail:
            if (failing == 3) {
              if (code != ResultCode::kAccountNotFound) ++o.bad;
            } else if (failing != 0 || code != ResultCode::kInsufficientFunds) {
              ++o.bad;
            }
            break;
          case kGift:
            if (code != ResultCode::kInsufficientFunds || failing == 3) ++o.bad;
            break;
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  int ok = 0;
  int failed = 0;
  int shop_entries = 0;
  int64_t shop_delta = 0;
  std::vector<int64_t> gems_delta(kPlayers, 0), items_delta(kPlayers, 0);
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.bad, 0);
    ok += o.ok;
    failed += o.failed;
    shop_delta += o.shop_delta;
    shop_entries += o.shop_entries;
    for (int p = 0; p < kPlayers; ++p) {
      gems_delta[p] += o.gems_delta[p];
      items_delta[p] += o.items_delta[p];
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
  EXPECT_EQ(ok + failed, kThreads * kChainsPerThread);

  EXPECT_EQ(Balance(*e, shop), shop_delta);
  EXPECT_EQ(Account(*e, shop).history_count,
            static_cast<uint32_t>(1 + shop_entries));
  int64_t total_gems = Balance(*e, shop);
  for (int p = 0; p < kPlayers; ++p) {
    const AccountInfo g = Account(*e, gems[p]);
    const AccountInfo it = Account(*e, items[p]);
    EXPECT_EQ(g.balance, kStartGems + gems_delta[p]) << "player " << p;
    EXPECT_EQ(it.balance, items_delta[p]) << "player " << p;
    EXPECT_GE(g.balance, 0);
    EXPECT_GE(it.balance, 0);
    total_gems += g.balance;
  }
  // Gems only move, except the 1 gem per gift that is debited and the same 1
  // credited to the shop: the total is constant.
  EXPECT_EQ(total_gems, kStartGems * kPlayers);
  EXPECT_EQ(Account(*e, missing).id, 0u);
}

}  // namespace
}  // namespace coffer::testing
