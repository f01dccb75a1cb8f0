// durable_bench: commit latency and throughput of the engine with its
// write-ahead log on (EngineConfig::data_dir set), where no answer leaves the
// engine before the fdatasync of the group commit that carries it. A plain
// main, not a Google Benchmark loop: the figures are latency distributions
// and fsync counts, which that framework does not report.
//
//   durable_bench [--dir=D] [--shards=N] [--seconds=S] [--writers=1,16,256]
//                 [--accounts=N] [--batch_writers=N] [--batch_ops=N]
//                 [--half_load=true|false] [--half_load_rate=OPS_PER_S]
//                 [--snapshot_every_log_mib=M] [--spin=N]
//
// Runs, one after another on the same engine:
//  1. closed loop, one op per request: for each W in --writers, W threads
//     each call engine->Apply({debit of 1}) on a random funded account, wait
//     for the answer, and go again, for --seconds;
//  2. closed loop, batched: --batch_writers threads each Apply a request of
//     --batch_ops debits (latency is per request);
//  3. open loop at half load: one pacer thread submits single-debit requests
//     at a fixed rate (half the ops/s of the W=16 single-op run unless
//     --half_load_rate is given) without waiting for answers. Latency is
//     measured from each op's intended send time, not from when it was
//     actually submitted, so a stall that delays later submissions shows up
//     in their latency (no coordinated omission).
// Per run: ops/s, requests/s, the engine's log_syncs and log_records deltas
// (so records and ops per fdatasync: how well group commit batches), and
// the p50/p99/p99.9/max commit latency.
//
// The engine lives in a fresh directory under --dir (default /tmp), removed
// at the end. Read the latencies against bench/disk_probe on the same disk:
// one fdatasync is the floor of every commit.
#include <stdlib.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/types.h"
#include "net/program_flags.h"

namespace {

using Clock = std::chrono::steady_clock;
using coffer::Engine;
using coffer::EngineConfig;
using coffer::EngineStats;
using coffer::Op;
using coffer::OpKind;
using coffer::Request;
using coffer::SubmitResult;

constexpr uint32_t kCurrency = 1;
// Debits of 1 never run an account dry within any run of this benchmark.
constexpr uint64_t kStartBalance = uint64_t{1} << 40;
// Setup batches: create + credit per account, 4096 ops per request.
constexpr uint64_t kSetupAccountsPerRequest = 2048;

struct Flags {
  std::string dir = "/tmp";
  uint32_t shards = 2;
  double seconds = 3.0;
  std::vector<uint32_t> writers = {1, 16, 256};
  uint64_t accounts = 100'000;
  uint32_t batch_writers = 16;
  uint32_t batch_ops = 1024;
  bool half_load = true;
  double half_load_rate = 0;  // ops/s; 0: half of the W=16 single-op run
  // The engine's own default, so that the batched run sees the periodic
  // snapshots a production engine would take.
  uint64_t snapshot_every_log_mib =
      EngineConfig{}.snapshot_every_log_bytes >> 20;
  uint32_t spin = EngineConfig{}.idle_spin_iterations;
  bool op_id_index = EngineConfig{}.op_id_index;
  bool issued = false;  // requests carry their issue time
  uint64_t op_ids_remembered_max = EngineConfig{}.op_ids_remembered_max;
};

}  // namespace

// Flags: Abseil flags, parsed by the programs' shared parser
// (net/program_flags.h): --help lists them, a bad value exits 2.
ABSL_FLAG(std::string, dir, "/tmp",
          "parent of the fresh data directory; removed at the end");
ABSL_FLAG(uint32_t, shards, 2, "EngineConfig::shard_count");
ABSL_FLAG(double, seconds, 3.0, "length of each run");
ABSL_FLAG(std::vector<std::string>, writers,
          std::vector<std::string>({"1", "16", "256"}),
          "closed-loop single-op runs, one per writer count");
ABSL_FLAG(uint64_t, accounts, 100'000, "funded accounts the debits pick from");
ABSL_FLAG(uint32_t, batch_writers, 16,
          "writers of the batched closed-loop run");
ABSL_FLAG(uint32_t, batch_ops, 1024, "ops per request of the batched run");
ABSL_FLAG(bool, half_load, true,
          "open-loop run at --half_load_rate; latency from the intended "
          "send time");
ABSL_FLAG(double, half_load_rate, 0,
          "ops/s of the open-loop run; 0: half the ops/s of the W=16 "
          "single-op run");
ABSL_FLAG(uint64_t, snapshot_every_log_mib,
          coffer::EngineConfig{}.snapshot_every_log_bytes >> 20,
          "EngineConfig::snapshot_every_log_bytes in MiB (0: none)");
ABSL_FLAG(uint32_t, spin, coffer::EngineConfig{}.idle_spin_iterations,
          "EngineConfig::idle_spin_iterations");
ABSL_FLAG(bool, issued, false,
          "requests carry their issue time (Request::issued_ns = now), as a "
          "protocol client that stamps them would: fresh ones skip the "
          "op-id index");
ABSL_FLAG(bool, op_id_index, coffer::EngineConfig{}.op_id_index,
          "EngineConfig::op_id_index (op ids beyond memory on disk)");
ABSL_FLAG(uint64_t, op_ids_remembered_max,
          coffer::EngineConfig{}.op_ids_remembered_max,
          "EngineConfig::op_ids_remembered_max (the in-memory window)");

namespace {

// --issued: every request's Request::issued_ns is the wall clock at send.
bool g_stamp_issued = false;
uint64_t IssuedNow() {
  if (!g_stamp_issued) return 0;
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void FlagError(const char* what) {
  std::fprintf(stderr, "durable_bench: %s (see --help)\n", what);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  const std::vector<std::string> rest = coffer::net::ParseProgramFlags(
      argc, argv,
      "Commit latency and throughput of the engine with its write-ahead "
      "log on.\nUsage: durable_bench [--flag=value ...]",
      "bench/durable_bench");
  if (!rest.empty()) FlagError("unexpected argument");
  Flags f;
  f.dir = absl::GetFlag(FLAGS_dir);
  f.shards = absl::GetFlag(FLAGS_shards);
  f.seconds = absl::GetFlag(FLAGS_seconds);
  f.writers.clear();
  for (const std::string& w : absl::GetFlag(FLAGS_writers)) {
    uint32_t n = 0;
    if (!absl::SimpleAtoi(w, &n)) FlagError("--writers takes numbers");
    f.writers.push_back(n);
  }
  f.accounts = absl::GetFlag(FLAGS_accounts);
  f.batch_writers = absl::GetFlag(FLAGS_batch_writers);
  f.batch_ops = absl::GetFlag(FLAGS_batch_ops);
  f.half_load = absl::GetFlag(FLAGS_half_load);
  f.half_load_rate = absl::GetFlag(FLAGS_half_load_rate);
  f.snapshot_every_log_mib = absl::GetFlag(FLAGS_snapshot_every_log_mib);
  f.spin = absl::GetFlag(FLAGS_spin);
  f.op_id_index = absl::GetFlag(FLAGS_op_id_index);
  f.issued = absl::GetFlag(FLAGS_issued);
  g_stamp_issued = f.issued;
  f.op_ids_remembered_max = absl::GetFlag(FLAGS_op_ids_remembered_max);
  const bool zero_writer =
      std::find(f.writers.begin(), f.writers.end(), 0u) != f.writers.end();
  if (f.shards == 0 || !(f.seconds > 0) || f.accounts == 0 || zero_writer ||
      f.batch_writers == 0 || f.batch_ops == 0 || !(f.half_load_rate >= 0)) {
    FlagError(
        "shards, seconds, accounts, writers and batch sizes must be "
        "positive");
  }
  return f;
}

// A fast per-thread generator (SplitMix64): std::mt19937_64 would be fine
// too, but this keeps 256 writers' state to one word each.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Account(uint64_t accounts) { return 1 + Next() % accounts; }
};

// The sequencer remembers op ids, so every op needs a fresh one; all
// threads of all runs draw from this counter.
std::atomic<uint64_t> g_next_op_id{1};

Op Debit(uint64_t account) {
  Op op;
  op.op_id = g_next_op_id.fetch_add(1, std::memory_order_relaxed);
  op.kind = OpKind::kDebit;
  op.account_id = account;
  op.amount = 1;
  return op;
}

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          Clock::now().time_since_epoch())
          .count());
}

struct RunResult {
  std::string mode;
  std::string writers;  // a count, or "pacer" for the open loop
  uint32_t ops_per_request = 1;
  double seconds = 0;
  uint64_t ops = 0;
  uint64_t requests = 0;
  uint64_t failed_ops = 0;
  uint64_t log_syncs = 0;
  uint64_t log_records = 0;
  uint64_t snapshots = 0;
  double target_ops_per_s = 0;         // open loop only
  std::vector<uint64_t> latencies_ns;  // one per request
  // Open loop only, to tell the engine's delay from the pacer's: submit to
  // answer, and intended send time to submit.
  std::vector<uint64_t> service_ns;
  std::vector<uint64_t> send_lag_ns;
};

void TakeDeltas(const EngineStats& before, const EngineStats& after,
                RunResult* r) {
  r->log_syncs = after.log_syncs - before.log_syncs;
  r->log_records = after.log_records - before.log_records;
  r->snapshots = after.snapshots - before.snapshots;
}

// Closed loop: `writers` threads, each with one request of `ops_per_request`
// debits outstanding at a time, for `seconds`.
RunResult ClosedLoop(Engine& engine, uint64_t accounts, uint32_t writers,
                     uint32_t ops_per_request, double seconds) {
  struct Writer {
    std::vector<uint64_t> latencies_ns;
    uint64_t requests = 0;
    uint64_t failed_ops = 0;
  };
  std::vector<Writer> w(writers);
  std::atomic<uint32_t> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(writers);
  for (uint32_t i = 0; i < writers; ++i) {
    threads.emplace_back([&, i] {
      Writer& me = w[i];
      Rng rng{0x5eed0000ull + i * 7919ull};
      me.latencies_ns.reserve(1 << 14);
      std::vector<Op> ops;
      ready.fetch_add(1, std::memory_order_release);
      ready.notify_one();
      // Sleep (not spin) at the start line: 256 spinning threads on a
      // small machine would delay the others' start.
      go.wait(false, std::memory_order_acquire);
      while (!stop.load(std::memory_order_relaxed)) {
        ops.clear();
        for (uint32_t k = 0; k < ops_per_request; ++k) {
          ops.push_back(Debit(rng.Account(accounts)));
        }
        const auto t0 = Clock::now();
        const std::vector<coffer::OpResult> results =
            engine.Apply(ops, IssuedNow());
        const auto t1 = Clock::now();
        me.latencies_ns.push_back(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0)
                .count()));
        ++me.requests;
        if (results.size() != ops.size()) {
          me.failed_ops += ops.size();
          continue;
        }
        for (const auto& r : results) me.failed_ops += !r.ok();
      }
    });
  }
  for (uint32_t n; (n = ready.load(std::memory_order_acquire)) < writers;) {
    ready.wait(n);
  }
  const EngineStats before = engine.Stats();
  const auto start = Clock::now();
  go.store(true, std::memory_order_release);
  go.notify_all();
  std::this_thread::sleep_until(start +
                                std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(seconds)));
  stop.store(true, std::memory_order_relaxed);
  // Each writer finishes the request it has in flight: those count, and so
  // does the time they take.
  for (auto& t : threads) t.join();
  const auto end = Clock::now();
  const EngineStats after = engine.Stats();

  RunResult r;
  r.mode = ops_per_request == 1 ? "closed" : "closed-batch";
  r.writers = std::to_string(writers);
  r.ops_per_request = ops_per_request;
  r.seconds = std::chrono::duration<double>(end - start).count();
  for (Writer& x : w) {
    r.requests += x.requests;
    r.failed_ops += x.failed_ops;
    r.latencies_ns.insert(r.latencies_ns.end(), x.latencies_ns.begin(),
                          x.latencies_ns.end());
  }
  r.ops = r.requests * ops_per_request;
  TakeDeltas(before, after, &r);
  return r;
}

// Open loop: op i is due at start + i / rate. The pacer submits it then (or
// at once if it is late) and never waits for answers; the engine thread that
// completes it records now - due.
RunResult OpenLoop(Engine& engine, uint64_t accounts, double ops_per_s,
                   double seconds) {
  const auto total = static_cast<uint64_t>(std::ceil(ops_per_s * seconds));
  // Requests in flight at once; the engine's own bound is
  // requests_in_flight_max (16384 by default). A slot still busy when its
  // turn comes round delays the pacer, and that delay is in the latency of
  // the ops that follow, because it is measured from their due time.
  constexpr uint32_t kSlots = 8192;
  struct Slot {
    Request request;
    uint64_t index = 0;
    uint64_t due_ns = 0;
    uint64_t submit_ns = 0;
    std::atomic<bool> busy{false};
  };
  std::vector<uint64_t> latencies_ns(total);
  std::vector<uint64_t> service_ns(total);
  std::vector<uint64_t> send_lag_ns(total);
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> last_done_ns{0};
  std::vector<std::unique_ptr<Slot>> slots;
  for (uint32_t i = 0; i < std::min<uint64_t>(kSlots, total); ++i) {
    auto s = std::make_unique<Slot>();
    s->request.kind = coffer::RequestKind::kOps;
    Slot* raw = s.get();
    s->request.on_complete = [raw, &latencies_ns, &service_ns, &completed,
                              &failed, &last_done_ns](Request& done) {
      // Runs on an engine thread: a few stores, nothing that blocks.
      const uint64_t now = NowNs();
      latencies_ns[raw->index] = now - raw->due_ns;
      service_ns[raw->index] = now - raw->submit_ns;
      if (done.results.size() != 1 || !done.results[0].ok()) {
        failed.fetch_add(1, std::memory_order_relaxed);
      }
      uint64_t last = last_done_ns.load(std::memory_order_relaxed);
      while (last < now && !last_done_ns.compare_exchange_weak(
                               last, now, std::memory_order_relaxed)) {
      }
      raw->busy.store(false, std::memory_order_release);
      completed.fetch_add(1, std::memory_order_release);
    };
    slots.push_back(std::move(s));
  }

  // sleep_until overshoots by the timer slack (50 us by default), which
  // would be added to every measured latency; 1 us keeps that small.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  Rng rng{0x09e1ull};
  const EngineStats before = engine.Stats();
  const uint64_t start_ns = NowNs();
  const double interval_ns = 1e9 / ops_per_s;
  for (uint64_t i = 0; i < total; ++i) {
    const uint64_t due_ns =
        start_ns + static_cast<uint64_t>(static_cast<double>(i) * interval_ns);
    if (const uint64_t now = NowNs(); now < due_ns) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(due_ns - now));
    }
    Slot& s = *slots[i % slots.size()];
    while (s.busy.load(std::memory_order_acquire)) std::this_thread::yield();
    s.index = i;
    s.due_ns = due_ns;
    s.request.ops.assign(1, Debit(rng.Account(accounts)));
    s.request.issued_ns = IssuedNow();
    s.busy.store(true, std::memory_order_relaxed);
    s.submit_ns = NowNs();
    send_lag_ns[i] = s.submit_ns - due_ns;
    if (engine.Submit(&s.request) != SubmitResult::kAccepted) {
      std::fprintf(stderr, "durable_bench: Submit refused\n");
      std::exit(1);
    }
  }
  while (completed.load(std::memory_order_acquire) < total) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  const EngineStats after = engine.Stats();
  prctl(PR_SET_TIMERSLACK, 0UL, 0UL, 0UL, 0UL);  // back to the default

  RunResult r;
  r.mode = "open-half";
  r.writers = "pacer";
  r.target_ops_per_s = ops_per_s;
  r.seconds = static_cast<double>(last_done_ns.load(std::memory_order_relaxed) -
                                  start_ns) /
              1e9;
  r.ops = total;
  r.requests = total;
  r.failed_ops = failed.load(std::memory_order_relaxed);
  r.latencies_ns = std::move(latencies_ns);
  r.service_ns = std::move(service_ns);
  r.send_lag_ns = std::move(send_lag_ns);
  TakeDeltas(before, after, &r);
  return r;
}

// The latency below which a fraction p of the sorted samples lie, in us.
double PercentileUs(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank =
      static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e3;
}

void PrintHeader() {
  std::printf("%-12s %7s %7s %11s %10s %7s %9s %9s %5s %9s %9s %9s %9s\n",
              "mode", "writers", "ops/req", "ops/s", "req/s", "fsyncs",
              "rec/fsync", "ops/fsync", "snaps", "p50_us", "p99_us", "p99.9_us",
              "max_us");
}

void PrintRow(RunResult& r) {
  std::sort(r.latencies_ns.begin(), r.latencies_ns.end());
  const double syncs = static_cast<double>(std::max<uint64_t>(r.log_syncs, 1));
  std::printf(
      "%-12s %7s %7u %11.0f %10.0f %7llu %9.1f %9.1f %5llu %9.0f %9.0f %9.0f "
      "%9.0f\n",
      r.mode.c_str(), r.writers.c_str(), r.ops_per_request,
      static_cast<double>(r.ops) / r.seconds,
      static_cast<double>(r.requests) / r.seconds,
      static_cast<unsigned long long>(r.log_syncs),
      static_cast<double>(r.log_records) / syncs,
      static_cast<double>(r.ops) / syncs,
      static_cast<unsigned long long>(r.snapshots),
      PercentileUs(r.latencies_ns, 0.50), PercentileUs(r.latencies_ns, 0.99),
      PercentileUs(r.latencies_ns, 0.999), PercentileUs(r.latencies_ns, 1.0));
  if (r.failed_ops != 0) {
    std::printf("  !! %llu ops failed\n",
                static_cast<unsigned long long>(r.failed_ops));
  }
  std::fflush(stdout);
}

// Removes the data directory however main exits.
struct TempDir {
  std::string path;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  TempDir dir;
  {
    std::string templ = flags.dir + "/coffer_durable_bench.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror(("durable_bench: mkdtemp " + templ).c_str());
      return 1;
    }
    dir.path = templ;
  }

  EngineConfig config;
  config.data_dir = dir.path;
  config.shard_count = flags.shards;
  config.idle_spin_iterations = flags.spin;
  config.op_id_index = flags.op_id_index;
  config.op_ids_remembered_max = flags.op_ids_remembered_max;
  config.ops_in_flight_max = static_cast<uint32_t>(std::min<uint64_t>(
      config.ops_in_flight_max, flags.op_ids_remembered_max));
  config.request_ops_max =
      std::min(config.request_ops_max, config.ops_in_flight_max);
  config.snapshot_every_log_bytes = flags.snapshot_every_log_mib << 20;
  auto created = Engine::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "durable_bench: Engine::Create: %s\n",
                 std::string(created.status().message()).c_str());
    return 1;
  }
  std::unique_ptr<Engine> engine = std::move(created).value();

  // Accounts 1..N, created and funded; every request here is one fsync.
  for (uint64_t first = 1; first <= flags.accounts;
       first += kSetupAccountsPerRequest) {
    std::vector<Op> ops;
    for (uint64_t id = first;
         id < first + kSetupAccountsPerRequest && id <= flags.accounts; ++id) {
      Op create;
      create.op_id = g_next_op_id.fetch_add(1, std::memory_order_relaxed);
      create.kind = OpKind::kCreateAccount;
      create.account_id = id;
      create.currency = kCurrency;
      ops.push_back(create);
      Op credit;
      credit.op_id = g_next_op_id.fetch_add(1, std::memory_order_relaxed);
      credit.kind = OpKind::kCredit;
      credit.account_id = id;
      credit.amount = kStartBalance;
      ops.push_back(credit);
    }
    for (const auto& r : engine->Apply(ops)) {
      if (!r.ok()) {
        std::fprintf(stderr, "durable_bench: setup op failed: %s\n",
                     std::string(coffer::ResultCodeName(r.code)).c_str());
        return 1;
      }
    }
  }

  std::printf(
      "durable_bench: dir=%s shards=%u accounts=%llu seconds=%.1f spin=%u "
      "snapshot_every_log_mib=%llu hw_threads=%u op_id_index=%d "
      "op_ids_remembered_max=%llu issued=%d\n",
      dir.path.c_str(), flags.shards,
      static_cast<unsigned long long>(flags.accounts), flags.seconds,
      flags.spin, static_cast<unsigned long long>(flags.snapshot_every_log_mib),
      std::thread::hardware_concurrency(), flags.op_id_index ? 1 : 0,
      static_cast<unsigned long long>(flags.op_ids_remembered_max),
      flags.issued ? 1 : 0);
  std::printf(
      "latency = submit to answer (answer only after the log fsync), per "
      "request; open-half: from the intended send time\n");
  PrintHeader();

  bool any_failed = false;
  double ops_per_s_w16 = 0;
  double ops_per_s_first = 0;
  for (uint32_t w : flags.writers) {
    RunResult r = ClosedLoop(*engine, flags.accounts, w, 1, flags.seconds);
    const double ops_per_s = static_cast<double>(r.ops) / r.seconds;
    if (ops_per_s_first == 0) ops_per_s_first = ops_per_s;
    if (w == 16) ops_per_s_w16 = ops_per_s;
    any_failed |= r.failed_ops != 0;
    PrintRow(r);
  }
  {
    RunResult r = ClosedLoop(*engine, flags.accounts, flags.batch_writers,
                             flags.batch_ops, flags.seconds);
    any_failed |= r.failed_ops != 0;
    PrintRow(r);
  }
  if (flags.half_load) {
    double rate = flags.half_load_rate;
    if (rate == 0) {
      rate = (ops_per_s_w16 != 0 ? ops_per_s_w16 : ops_per_s_first) / 2;
      if (ops_per_s_w16 == 0) {
        std::printf(
            "(no W=16 single-op run: half load is half of the W=%u run)\n",
            flags.writers.empty() ? 0 : flags.writers[0]);
      }
    }
    if (rate > 0) {
      RunResult r = OpenLoop(*engine, flags.accounts, rate, flags.seconds);
      any_failed |= r.failed_ops != 0;
      PrintRow(r);
      std::sort(r.service_ns.begin(), r.service_ns.end());
      std::sort(r.send_lag_ns.begin(), r.send_lag_ns.end());
      std::printf(
          "open-half: target %.0f ops/s; p99 from intended send time %.0f "
          "us\n"
          "  (submit->answer p50 %.0f p99 %.0f us; pacer lag intended->submit "
          "p50 %.0f p99 %.0f max %.0f us)\n",
          r.target_ops_per_s, PercentileUs(r.latencies_ns, 0.99),
          PercentileUs(r.service_ns, 0.5), PercentileUs(r.service_ns, 0.99),
          PercentileUs(r.send_lag_ns, 0.5), PercentileUs(r.send_lag_ns, 0.99),
          PercentileUs(r.send_lag_ns, 1.0));
    }
  }
  engine.reset();
  return any_failed ? 1 : 0;
}
