// coffer-demo: an in-process tour of the engine. It replays the two
// incidents Coffer exists to prevent, buys an item with a linked chain, and
// runs a short burst of concurrent transfers, printing what happened.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <random>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "engine/engine.h"
#include "engine/partition.h"
#include "net/program_flags.h"

ABSL_FLAG(uint32_t, shards, 0, "shard threads (0: one per core)");
ABSL_FLAG(uint32_t, racers, 64, "threads racing on one balance");
ABSL_FLAG(uint32_t, accounts, 10000, "accounts in the transfer burst");
ABSL_FLAG(uint32_t, transfers, 1000000, "transfers in the burst");
ABSL_FLAG(uint32_t, batch_ops, 1024, "transfers per request in the burst");

namespace {

using coffer::Op;
using coffer::OpKind;
using coffer::ResultCode;

std::atomic<uint64_t> next_op_id{1};

Op MakeOp(OpKind kind, uint64_t account, uint64_t amount, uint64_t other = 0) {
  Op op;
  op.op_id = next_op_id.fetch_add(1);
  op.kind = kind;
  op.account_id = account;
  op.other_account_id = other;
  op.amount = amount;
  if (kind == OpKind::kCreateAccount) {
    op.currency = static_cast<uint32_t>(amount);
    op.amount = 0;
  }
  return op;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "coffer-demo: FAILED: %s\n", what);
    std::exit(1);
  }
}

void NegativeBalanceIncident(coffer::Engine& e) {
  const uint64_t player = 1001;
  const uint32_t racers = absl::GetFlag(FLAGS_racers);
  e.Apply({MakeOp(OpKind::kCreateAccount, player, 1),
           MakeOp(OpKind::kCredit, player, 100)});
  std::atomic<int> ok{0}, refused{0};
  std::latch start(racers);
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < racers; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < 10; ++i) {
        auto r = e.Apply({MakeOp(OpKind::kDebit, player, 1)});
        (r[0].ok() ? ok : refused)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  const int64_t balance = e.Lookup({player})[0].balance;
  std::printf(
      "1. Negative balance: %u threads x 10 debits of 1 on a balance of 100\n"
      "   -> %d applied, %d refused (insufficient_funds), balance %" PRId64
      "\n",
      racers, ok.load(), refused.load(), balance);
  Check(ok == 100 && balance == 0, "exactly 100 debits apply");
}

void DoubleChargeIncident(coffer::Engine& e) {
  const uint64_t player = 1002;
  e.Apply({MakeOp(OpKind::kCreateAccount, player, 1),
           MakeOp(OpKind::kCredit, player, 1000)});
  const Op charge = MakeOp(OpKind::kDebit, player, 50);  // one room entry
  std::atomic<int> fresh{0}, duplicates{0};
  std::latch start(32);
  std::vector<std::thread> threads;
  for (int t = 0; t < 32; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      auto r = e.Apply({charge});
      (r[0].duplicate() ? duplicates : fresh)++;
    });
  }
  for (auto& t : threads) t.join();
  const int64_t balance = e.Lookup({player})[0].balance;
  std::printf(
      "2. Double charge: 32 concurrent copies of op %" PRIu64
      " (charge 50 of 1000)\n"
      "   -> applied %d time(s), %d answered as duplicates, balance %" PRId64
      "\n",
      charge.op_id, fresh.load(), duplicates.load(), balance);
  Check(fresh == 1 && balance == 950, "the charge applies exactly once");
}

void BuyItemChain(coffer::Engine& e) {
  const uint64_t gems = 2001, shop = 2002, tokens = 2003;
  e.Apply({MakeOp(OpKind::kCreateAccount, gems, 2),
           MakeOp(OpKind::kCreateAccount, shop, 2),
           MakeOp(OpKind::kCreateAccount, tokens, 3),
           MakeOp(OpKind::kCredit, gems, 120)});
  auto buy = [&](uint64_t price) {
    Op pay = MakeOp(OpKind::kTransfer, gems, price, shop);
    pay.flags = coffer::kOpFlagLinked;
    Op item = MakeOp(OpKind::kCredit, tokens, 1);
    return e.Apply({pay, item});
  };
  auto first = buy(50);
  auto second = buy(100);  // 70 gems left: the whole chain is refused
  auto a = e.Lookup({gems, shop, tokens});
  std::printf(
      "3. Buy an item (linked: pay gems to the shop + credit 1 item token)\n"
      "   first purchase: %s; second (price 100): %s / %s\n"
      "   -> gems %" PRId64 ", shop %" PRId64 ", tokens %" PRId64 "\n",
      std::string(coffer::ResultCodeName(first[0].code)).c_str(),
      std::string(coffer::ResultCodeName(second[0].code)).c_str(),
      std::string(coffer::ResultCodeName(second[1].code)).c_str(), a[0].balance,
      a[1].balance, a[2].balance);
  Check(a[0].balance == 70 && a[1].balance == 50 && a[2].balance == 1,
        "the refused chain leaves nothing behind");
}

void TransferBurst(coffer::Engine& e) {
  const uint32_t accounts = absl::GetFlag(FLAGS_accounts);
  const uint32_t total = absl::GetFlag(FLAGS_transfers);
  const uint32_t batch = absl::GetFlag(FLAGS_batch_ops);
  const uint64_t base = 1'000'000, funding = 1'000'000;
  for (uint32_t i = 0; i < accounts; i += batch) {
    std::vector<Op> ops;
    for (uint32_t k = i; k < std::min(accounts, i + batch); ++k) {
      ops.push_back(MakeOp(OpKind::kCreateAccount, base + k, 1));
      ops.push_back(MakeOp(OpKind::kCredit, base + k, funding));
    }
    e.Apply(ops);
  }
  const auto before = e.Digest();
  const uint32_t producers = 2;
  std::atomic<uint64_t> ok{0};
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937_64 rng(p + 1);
      std::vector<Op> ops;
      for (uint32_t done = 0; done < total / producers; done += batch) {
        ops.clear();
        for (uint32_t k = 0; k < batch; ++k) {
          const uint64_t from = base + rng() % accounts;
          uint64_t to = base + rng() % accounts;
          if (to == from) to = base + (to - base + 1) % accounts;
          ops.push_back(MakeOp(OpKind::kTransfer, from, 1 + rng() % 100, to));
        }
        for (const auto& r : e.Apply(ops)) ok += r.ok() ? 1 : 0;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::vector<uint64_t> ids;
  for (uint32_t k = 0; k < accounts; ++k) ids.push_back(base + k);
  int64_t sum = 0;
  for (uint32_t i = 0; i < accounts; i += batch) {
    std::vector<uint64_t> part(ids.begin() + i,
                               ids.begin() + std::min(accounts, i + batch));
    for (const auto& a : e.Lookup(part)) sum += a.balance;
  }
  const auto stats = e.Stats();
  uint64_t multi = 0;
  for (const auto& s : stats.shards) multi += s.multi_shard_txns;
  const auto after = e.Digest();
  std::printf(
      "4. Transfer burst: %u transfers among %u accounts on %u shards, "
      "2 producers, %u per request\n"
      "   -> %.0f transfers/s (one call waits for its answer: see "
      "bench/ for pipelined figures), %" PRIu64 " applied, %" PRIu64
      " shard-side cross-shard runs\n"
      "   -> total %" PRId64 " (expected %" PRIu64 "), digest %016" PRIx64
      "%016" PRIx64 " (was %016" PRIx64 "%016" PRIx64 ")\n",
      total, accounts, e.shard_count(), batch, total / secs, ok.load(), multi,
      sum, uint64_t{accounts} * funding, after.hi, after.lo, before.hi,
      before.lo);
  Check(sum == static_cast<int64_t>(uint64_t{accounts} * funding),
        "transfers conserve the total");
}

}  // namespace

int main(int argc, char** argv) {
  // The programs' shared parser: --help exits 0 (Abseil's exits 1).
  if (!coffer::net::ParseProgramFlags(
           argc, argv,
           "An in-process tour of the Coffer engine: the two incidents it "
           "prevents, a linked purchase, and a transfer burst.\n"
           "Usage: coffer-demo [--shards=N] [--transfers=N] ...",
           "tools/")
           .empty()) {
    std::fprintf(stderr, "coffer-demo: takes only flags (see --help)\n");
    return 2;
  }

  coffer::EngineConfig config;
  config.shard_count = absl::GetFlag(FLAGS_shards);
  auto engine = coffer::Engine::Create(config);
  if (!engine.ok()) {
    std::fprintf(stderr, "coffer-demo: %s\n",
                 std::string(engine.status().message()).c_str());
    return 2;
  }
  coffer::Engine& e = **engine;
  std::printf("Coffer engine: %u shards\n", e.shard_count());
  NegativeBalanceIncident(e);
  DoubleChargeIncident(e);
  BuyItemChain(e);
  TransferBurst(e);
  std::printf("All checks held.\n");
  return 0;
}
