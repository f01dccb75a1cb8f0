// End-to-end throughput of the in-process engine: producer threads submit
// requests through the submit queue, the sequencer orders them, shard
// threads apply them, and on_complete hands them back.
//
// Each benchmark thread (->Threads(K), K producers) keeps kInFlight requests
// of kOpsPerRequest ops in flight: one benchmark iteration = wait for one of
// its requests to complete, check its results, refill it (fresh op ids,
// fresh random accounts) and resubmit it. items_per_second = ops completed
// per second over all producers (real time).
//
// Args: {shards, spin} = EngineConfig::shard_count and idle_spin_iterations.
// Before the timed loop, thread 0 fetches the engine for the configuration,
// built on first use: kAccounts accounts funded with kStartBalance (debits
// of 1 never fail) and a warm-up that fills the op-id table (see GetEngine).
// The engines are destroyed at the end of main.
//
//   BM_EngineDebit     debits of 1 on uniformly random accounts
//   BM_EngineTransfer  transfers of 1; the receiving account is on the same
//                      shard as the sender for half the ops and on another
//                      shard for the other half (all same-shard when
//                      shards == 1)
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/cpu_relax.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/partition.h"
#include "engine/request.h"
#include "engine/types.h"

namespace {

using coffer::Engine;
using coffer::EngineConfig;
using coffer::Op;
using coffer::OpKind;
using coffer::Request;
using coffer::SubmitResult;

constexpr uint32_t kOpsPerRequest = 1024;
constexpr uint32_t kInFlight = 8;  // requests in flight per producer
constexpr uint64_t kAccounts = 100'000;
constexpr uint64_t kStartBalance = uint64_t{1} << 40;
constexpr uint32_t kCurrency = 1;
// Random account choices pre-generated per producer (cycled).
constexpr size_t kStreamOps = size_t{1} << 20;

using coffer::CpuRelax;

// Op ids: the sequencer remembers them, so every op must carry a new one.
// Each run (and the warm-up) and each producer thread draw from disjoint
// ranges: (run << 40) | ((thread + 1) << 32) | counter.
std::atomic<uint64_t> g_run{0};
uint64_t OpIdBase(uint64_t run, uint64_t thread) {
  return (run << 40) | ((thread + 1) << 32);
}

// Engines are built once per {shards, spin} and kept (their threads sleep
// when idle) so that every run of a configuration measures the same warmed
// engine: accounts created and funded, and the sequencer's op-id table
// filled to its steady state (op_ids_remembered_max ids, then each new id
// evicts the oldest) by a warm-up of kWarmupExtraOps more ops than it holds.
// COFFER_BENCH_NO_WARMUP=1 skips that warm-up (cold, still-growing tables);
// COFFER_BENCH_OP_IDS=N sets op_ids_remembered_max (default 1<<22).
constexpr uint64_t kWarmupExtraOps = uint64_t{1} << 20;
std::mutex g_mu;
std::map<std::pair<uint32_t, uint32_t>, std::shared_ptr<Engine>> g_engines;
std::shared_ptr<Engine> g_engine;  // the one the current run uses

void CheckOk(const std::vector<coffer::OpResult>& results) {
  for (const auto& r : results) {
    if (!r.ok()) {
      fprintf(stderr, "setup op failed: %d\n", static_cast<int>(r.code));
      std::abort();
    }
  }
}

// Applies `total` debits of 1 on random accounts, kept 8 requests of 8192
// in flight.
void WarmUp(Engine& engine, uint64_t total) {
  constexpr uint32_t kDepth = 8, kOps = 8192;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> pick(1, kAccounts);
  uint64_t op_id = OpIdBase(g_run.fetch_add(1) + 1, 1001);
  std::vector<Request> reqs(kDepth);
  std::atomic<uint32_t> done{0};
  for (auto& r : reqs) {
    r.ops.resize(kOps);
    for (Op& op : r.ops) {
      op.kind = OpKind::kDebit;
      op.amount = 1;
    }
    r.on_complete = [&done](Request&) {
      done.fetch_add(1, std::memory_order_release);
      done.notify_one();
    };
  }
  for (uint64_t applied = 0; applied < total; applied += kDepth * kOps) {
    done.store(0);
    for (auto& r : reqs) {
      for (Op& op : r.ops) {
        op.op_id = ++op_id;
        op.account_id = pick(rng);
      }
      if (engine.Submit(&r) != SubmitResult::kAccepted) std::abort();
    }
    for (uint32_t d; (d = done.load(std::memory_order_acquire)) < kDepth;) {
      done.wait(d);
    }
    for (auto& r : reqs) CheckOk(r.results);
  }
}

std::shared_ptr<Engine> MakeEngine(uint32_t shards, uint32_t spin) {
  EngineConfig config;
  config.shard_count = shards;
  config.idle_spin_iterations = spin;
  config.history_entries_per_shard_max = 1 << 16;
  // Experiment knob: a smaller op-id window (it must stay >= the ops in
  // flight bound, so that one is lowered with it).
  if (const char* ids = getenv("COFFER_BENCH_OP_IDS"); ids != nullptr) {
    config.op_ids_remembered_max = std::strtoull(ids, nullptr, 10);
    if (config.ops_in_flight_max > config.op_ids_remembered_max) {
      config.ops_in_flight_max =
          static_cast<uint32_t>(config.op_ids_remembered_max);
    }
  }
  const uint64_t remembered = config.op_ids_remembered_max;
  auto created = Engine::Create(std::move(config));
  if (!created.ok()) {
    fprintf(stderr, "Engine::Create: %s\n",
            std::string(created.status().message()).c_str());
    std::abort();
  }
  std::shared_ptr<Engine> engine = std::move(created).value();
  // Accounts 1..kAccounts, created and funded in batches.
  uint64_t op_id = OpIdBase(g_run.fetch_add(1) + 1, 1000);
  std::vector<Op> ops;
  for (uint64_t first = 1; first <= kAccounts; first += 2048) {
    ops.clear();
    for (uint64_t id = first; id < first + 2048 && id <= kAccounts; ++id) {
      Op create;
      create.op_id = ++op_id;
      create.kind = OpKind::kCreateAccount;
      create.account_id = id;
      create.currency = kCurrency;
      ops.push_back(create);
      Op credit;
      credit.op_id = ++op_id;
      credit.kind = OpKind::kCredit;
      credit.account_id = id;
      credit.amount = kStartBalance;
      ops.push_back(credit);
    }
    CheckOk(engine->Apply(ops));
  }
  const char* no_warmup = getenv("COFFER_BENCH_NO_WARMUP");
  if (no_warmup == nullptr || std::string(no_warmup) != "1") {
    WarmUp(*engine, remembered + kWarmupExtraOps);
  }
  return engine;
}

std::shared_ptr<Engine> GetEngine(uint32_t shards, uint32_t spin) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& e = g_engines[{shards, spin}];
  if (!e) e = MakeEngine(shards, spin);
  return e;
}

enum class Workload { kDebit, kTransfer };

// (from, to) account pairs; to is 0 for debits.
struct Stream {
  std::vector<uint64_t> from, to;
  size_t next = 0;
};

Stream MakeStream(Workload w, uint32_t shards, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(1, kAccounts);
  Stream s;
  s.from.resize(kStreamOps);
  for (auto& a : s.from) a = pick(rng);
  if (w == Workload::kDebit) return s;
  std::vector<std::vector<uint64_t>> by_shard(shards);
  for (uint64_t id = 1; id <= kAccounts; ++id) {
    by_shard[coffer::ShardOf(id, shards)].push_back(id);
  }
  std::bernoulli_distribution cross(0.5);
  s.to.resize(kStreamOps);
  for (size_t i = 0; i < kStreamOps; ++i) {
    const uint32_t home = coffer::ShardOf(s.from[i], shards);
    uint32_t target = home;
    if (shards > 1 && cross(rng)) {
      target =
          static_cast<uint32_t>((home + 1 + rng() % (shards - 1)) % shards);
    }
    const auto& pool = by_shard[target];
    do {
      s.to[i] = pool[rng() % pool.size()];
    } while (s.to[i] == s.from[i]);
  }
  return s;
}

struct Slot {
  Request request;
  std::atomic<bool> done{false};
};

struct Producer {
  std::vector<std::unique_ptr<Slot>> slots;
  std::atomic<uint32_t> completions{0};  // bumped by the sequencer thread
  uint32_t consumed = 0;                 // completions handled
  uint64_t submitted = 0;
  uint64_t next_op_id = 0;
  uint64_t failed_ops = 0;
  coffer::EngineStats stats_before;
  Stream stream;
  Workload workload = Workload::kDebit;

  void Fill(Request& r) {
    for (Op& op : r.ops) {
      op.op_id = ++next_op_id;
      op.account_id = stream.from[stream.next];
      if (workload == Workload::kTransfer) {
        op.other_account_id = stream.to[stream.next];
      }
      if (++stream.next == kStreamOps) stream.next = 0;
    }
  }

  void Submit(Engine& engine, Slot& slot) {
    Fill(slot.request);
    if (engine.Submit(&slot.request) != SubmitResult::kAccepted) {
      fprintf(stderr, "Submit refused\n");
      std::abort();
    }
    ++submitted;
  }

  // Waits until completions > consumed: spin briefly, then futex-wait.
  void WaitForCompletion() {
    for (int i = 0; i < 256; ++i) {
      if (completions.load(std::memory_order_acquire) != consumed) return;
      CpuRelax();
    }
    for (;;) {
      const uint32_t c = completions.load(std::memory_order_acquire);
      if (c != consumed) return;
      completions.wait(c, std::memory_order_acquire);
    }
  }
};

void RunEngine(benchmark::State& state, Workload workload) {
  const auto shards = static_cast<uint32_t>(state.range(0));
  const auto spin = static_cast<uint32_t>(state.range(1));
  const auto thread = static_cast<uint64_t>(state.thread_index());

  if (state.thread_index() == 0) {
    auto engine = GetEngine(shards, spin);
    std::lock_guard<std::mutex> lock(g_mu);
    g_engine = std::move(engine);
    g_run.fetch_add(1);
  }

  Producer p;
  p.workload = workload;
  p.stream = MakeStream(workload, shards, 0xbe9c4 + thread * 7919);
  for (uint32_t i = 0; i < kInFlight; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->request.kind = coffer::RequestKind::kOps;
    slot->request.ops.resize(kOpsPerRequest);
    for (Op& op : slot->request.ops) {
      op.kind =
          workload == Workload::kDebit ? OpKind::kDebit : OpKind::kTransfer;
      op.amount = 1;
    }
    Slot* raw = slot.get();
    Producer* prod = &p;
    slot->request.on_complete = [raw, prod](Request&) {
      raw->done.store(true, std::memory_order_release);
      prod->completions.fetch_add(1, std::memory_order_release);
      prod->completions.notify_one();
    };
    p.slots.push_back(std::move(slot));
  }

  std::shared_ptr<Engine> engine;
  bool started = false;
  for (auto _ : state) {
    if (!started) {
      // After the start barrier: thread 0 has built the engine.
      started = true;
      std::lock_guard<std::mutex> lock(g_mu);
      engine = g_engine;
      p.next_op_id = OpIdBase(g_run.load(), thread);
      if (state.thread_index() == 0) p.stats_before = engine->Stats();
      for (auto& slot : p.slots) p.Submit(*engine, *slot);
    }
    p.WaitForCompletion();
    for (auto& slot : p.slots) {
      if (!slot->done.load(std::memory_order_acquire)) continue;
      slot->done.store(false, std::memory_order_relaxed);
      ++p.consumed;
      for (const auto& r : slot->request.results) p.failed_ops += !r.ok();
      p.Submit(*engine, *slot);
      break;
    }
  }
  // Drain what is still in flight (untimed) before the slots go away.
  while (p.consumed < p.submitted) {
    p.WaitForCompletion();
    p.consumed = p.completions.load(std::memory_order_acquire);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          kOpsPerRequest);
  state.counters["failed_ops"] = benchmark::Counter(
      static_cast<double>(p.failed_ops), benchmark::Counter::kAvgThreads);
  if (p.failed_ops != 0) state.SkipWithError("some ops failed");
  if (engine && state.thread_index() == 0) {
    // A cross-shard transfer has two participants, and each counts it in
    // multi_shard_txns. Other producers may still be draining: approximate.
    const auto stats = engine->Stats();
    uint64_t multi = 0;
    for (size_t i = 0; i < stats.shards.size(); ++i) {
      multi += stats.shards[i].multi_shard_txns;
      if (i < p.stats_before.shards.size()) {
        multi -= p.stats_before.shards[i].multi_shard_txns;
      }
    }
    const uint64_t ops = stats.ops_sequenced - p.stats_before.ops_sequenced;
    if (ops != 0) {
      state.counters["cross_shard_frac"] =
          static_cast<double>(multi) / 2.0 / static_cast<double>(ops);
    }
  }
  engine.reset();
}

void BM_EngineDebit(benchmark::State& state) {
  RunEngine(state, Workload::kDebit);
}
void BM_EngineTransfer(benchmark::State& state) {
  RunEngine(state, Workload::kTransfer);
}

// {shards, idle_spin_iterations}: shards 1, 2, the powers of two up to
// hardware_concurrency, and hardware_concurrency itself (the shard-scaling
// curve on a large machine); spin at the default (2000) and low (64).
void Args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"shards", "spin"});
  std::set<int64_t> shards = {1, 2};
  const unsigned hc = std::thread::hardware_concurrency();
  for (int64_t s = 4; s <= static_cast<int64_t>(hc); s *= 2) shards.insert(s);
  if (hc != 0) shards.insert(hc);
  for (int64_t s : shards) {
    for (int64_t spin : {2000, 64}) b->Args({s, spin});
  }
  b->Threads(1)->Threads(2)->UseRealTime();
}

BENCHMARK(BM_EngineDebit)->Apply(Args);
BENCHMARK(BM_EngineTransfer)->Apply(Args);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_engine.reset();
  g_engines.clear();
  return 0;
}
