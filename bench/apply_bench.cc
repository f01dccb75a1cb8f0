// Apply rate of one shard core: Shard::ApplyInline on a single shard that is
// never started as a thread (no queues, no sequencer, no lock manager).
// Each benchmark iteration applies one Request of kOpsPerRequest ops; the
// reported items_per_second is ops applied per second on one core.
//
//   build/release/bench/apply_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
//
// Accounts are created (and funded) once per account count and shared by
// every benchmark with that count; balances start at kStartBalance so that
// debits and transfers of 1 never run out during a run.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/config.h"
#include "engine/request.h"
#include "engine/shard.h"
#include "engine/types.h"

namespace {

using coffer::EngineConfig;
using coffer::Op;
using coffer::OpKind;
using coffer::Request;
using coffer::ResultCode;
using coffer::internal::Shard;

constexpr uint32_t kOpsPerRequest = 1024;
constexpr int64_t kStartBalance = int64_t{1} << 40;
// A debit of this much always fails with insufficient_funds.
constexpr uint64_t kHugeAmount = uint64_t{1} << 62;
constexpr uint32_t kCurrency = 1;

// Pre-generated ops cycled through by the timed loop: large enough that the
// accounts it touches are not all cache-resident (up to 1M ops, 64 MiB).
uint64_t PoolOps(uint64_t accounts) {
  uint64_t ops = accounts < 65536 ? 65536 : accounts;
  if (ops > (uint64_t{1} << 20)) ops = uint64_t{1} << 20;
  return ops;
}

struct ShardState {
  std::unique_ptr<Shard> shard;
  uint64_t accounts = 0;  // ids 1..accounts
  uint64_t next_seq = 1;  // strictly increasing, as the sequencer would
  uint64_t next_ts = 1'000'000'000;
  uint64_t next_op_id = 1;

  void Apply(Request* r) {
    shard->ApplyInline(r, next_seq, next_ts);
    next_seq += r->ops.size();
    ++next_ts;
  }
};

EngineConfig BenchConfig(uint64_t history) {
  EngineConfig config;
  config.shard_count = 1;
  config.history_entries_per_shard_max = history;
  return config;
}

// One shard per (account count, history size), built on first use and kept
// for the rest of the process.
ShardState& GetShard(uint64_t accounts, uint64_t history) {
  static std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<ShardState>>
      shards;
  auto& slot = shards[{accounts, history}];
  if (slot) return *slot;
  slot = std::make_unique<ShardState>();
  ShardState& s = *slot;
  const EngineConfig config = BenchConfig(history);
  s.shard = std::make_unique<Shard>(0, 1, config);
  s.accounts = accounts;
  Request r;
  r.ops.reserve(kOpsPerRequest);
  for (uint64_t first = 1; first <= accounts; first += kOpsPerRequest / 2) {
    r.ops.clear();
    const uint64_t last =
        std::min<uint64_t>(accounts, first + kOpsPerRequest / 2 - 1);
    for (uint64_t id = first; id <= last; ++id) {
      Op create;
      create.op_id = s.next_op_id++;
      create.kind = OpKind::kCreateAccount;
      create.account_id = id;
      create.currency = kCurrency;
      r.ops.push_back(create);
      Op credit;
      credit.op_id = s.next_op_id++;
      credit.kind = OpKind::kCredit;
      credit.account_id = id;
      credit.amount = static_cast<uint64_t>(kStartBalance);
      r.ops.push_back(credit);
    }
    s.Apply(&r);
    for (const auto& res : r.results) {
      if (!res.ok()) {
        fprintf(stderr, "setup failed: %d\n", static_cast<int>(res.code));
        std::abort();
      }
    }
  }
  return s;
}

enum class Workload { kDebit, kDebitHalfFail, kCredit, kTransfer };

// Builds the request pool for one workload: random accounts (uniform over
// 1..accounts), op ids filled in by the timed loop.
std::vector<Request> MakePool(Workload w, uint64_t accounts, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(1, accounts);
  std::bernoulli_distribution coin(0.5);
  const uint64_t requests = PoolOps(accounts) / kOpsPerRequest;
  std::vector<Request> pool(requests);
  for (Request& r : pool) {
    r.ops.resize(kOpsPerRequest);
    r.results.resize(kOpsPerRequest);
    for (Op& op : r.ops) {
      op.account_id = pick(rng);
      op.amount = 1;
      switch (w) {
        case Workload::kDebit:
          op.kind = OpKind::kDebit;
          break;
        case Workload::kDebitHalfFail:
          op.kind = OpKind::kDebit;
          if (coin(rng)) op.amount = kHugeAmount;
          break;
        case Workload::kCredit:
          op.kind = OpKind::kCredit;
          break;
        case Workload::kTransfer:
          op.kind = OpKind::kTransfer;
          do {
            op.other_account_id = pick(rng);
          } while (op.other_account_id == op.account_id);
          break;
      }
    }
  }
  return pool;
}

void RunApply(benchmark::State& state, Workload w) {
  const uint64_t accounts = static_cast<uint64_t>(state.range(0));
  const uint64_t history =
      state.range(1) < 0 ? 0 : static_cast<uint64_t>(state.range(1));
  ShardState& s = GetShard(accounts, history);
  std::vector<Request> pool =
      MakePool(w, accounts, 0x5eed + static_cast<uint64_t>(w));
  size_t next = 0;
  for (auto _ : state) {
    Request& r = pool[next];
    // Fresh unique op ids (ApplyInline does not check them, but a real
    // request always carries new ones): 1024 stores, noise next to applying.
    for (Op& op : r.ops) op.op_id = s.next_op_id++;
    s.Apply(&r);
    if (++next == pool.size()) next = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          kOpsPerRequest);
  // Outcome check on the requests that ran (outside the timing).
  uint64_t ok = 0, insufficient = 0, other = 0;
  const size_t ran = std::min<size_t>(pool.size(), state.iterations());
  for (size_t i = 0; i < ran; ++i) {
    const Request& r = pool[i];
    for (const auto& res : r.results) {
      if (res.ok()) {
        ++ok;
      } else if (res.code == ResultCode::kInsufficientFunds) {
        ++insufficient;
      } else {
        ++other;
      }
    }
  }
  const double total = static_cast<double>(ok + insufficient + other);
  state.counters["ok_frac"] = static_cast<double>(ok) / total;
  if (other != 0) {
    state.SkipWithError("unexpected result code (not ok, not insufficient)");
  }
}

void BM_ApplyDebit(benchmark::State& state) {
  RunApply(state, Workload::kDebit);
}
void BM_ApplyDebitHalfFail(benchmark::State& state) {
  RunApply(state, Workload::kDebitHalfFail);
}
void BM_ApplyCredit(benchmark::State& state) {
  RunApply(state, Workload::kCredit);
}
void BM_ApplyTransfer(benchmark::State& state) {
  RunApply(state, Workload::kTransfer);
}

// Args: {accounts, history_entries_per_shard_max}. The main runs use a
// modest history ring (1<<16); history 0 isolates the cost of history.
void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"accounts", "history"});
  b->Args({10'000, 1 << 16});
  b->Args({1'000'000, 1 << 16});
}
void ArgsWithNoHistory(benchmark::internal::Benchmark* b) {
  Args(b);
  b->Args({1'000'000, 0});
}

BENCHMARK(BM_ApplyDebit)->Apply(ArgsWithNoHistory);
BENCHMARK(BM_ApplyDebitHalfFail)->Apply(Args);
BENCHMARK(BM_ApplyCredit)->Apply(Args);
BENCHMARK(BM_ApplyTransfer)->Apply(Args);

}  // namespace

BENCHMARK_MAIN();
