// recovery_bench: how long a restart takes. Builds a data directory with a
// large log, destroys the engine and times Engine::Create on the same
// directory, which replays the log (engine/engine.cc Engine::Recover). A
// plain main, not a Google Benchmark loop: one build takes minutes.
//
//   recovery_bench [--dir=D] [--accounts=N] [--log_records=N] [--shards=N]
//                  [--ops_per_request=N] [--in_flight=N]
//                  [--snapshot_variant=true|false] [--after_snapshot_ops=N]
//                  [--drop_page_cache=true|false] [--progress_seconds=S]
//                  [--keep=true|false]
//
// 1. Build: --accounts accounts created and funded (create + credit, so two
//    ops per account) by blocking Apply calls of --ops_per_request ops, then
//    --log_records ops (alternately debits and transfers of 1 between random
//    accounts) in requests of --ops_per_request ops, --in_flight requests
//    outstanding. Periodic snapshots are off (snapshot_every_log_bytes = 0),
//    so the log holds every op since the start.
// 2. Full replay: the state digest is taken, the engine destroyed, and
//    Engine::Create timed on the same directory; the digest after recovery
//    must equal the one before (exit status 1 otherwise).
// 3. Snapshot + tail (--snapshot_variant): on the recovered engine a
//    snapshot is requested (RequestSnapshot, then Stats().snapshots is
//    polled), --after_snapshot_ops more ops are logged, and the restart is
//    timed again: snapshot load plus replay of the records after it (the
//    older segments are still read and checksummed, not replayed).
//
// Note that --log_records counts ops, as the figure does: each
// request of many ops becomes one log record (EngineStats::log_records), so
// both records and ops are reported. With --drop_page_cache the directory's
// files are evicted from the page cache (posix_fadvise DONTNEED) before each
// timed restart, so the log is read from the disk, as after a reboot;
// without it the log is likely still cached, as after a process crash.
//
// The data directory is a fresh one under --dir (default /tmp), removed at
// the end unless --keep. Before building, the free space under --dir is
// checked against an estimate of the log and snapshot sizes.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
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
using coffer::StateDigest;
using coffer::SubmitResult;

constexpr uint32_t kCurrency = 1;
// Neither 50M debits of 1 nor transfers can run an account dry.
constexpr uint64_t kStartBalance = uint64_t{1} << 40;

struct Flags {
  std::string dir = "/tmp";
  uint64_t accounts = 10'000'000;
  uint64_t log_records = 50'000'000;  // ops, see the file comment
  uint32_t shards = 2;
  uint32_t ops_per_request = 4096;
  uint32_t in_flight = 8;
  bool snapshot_variant = true;
  uint64_t after_snapshot_ops = 0;  // 0: log_records / 10
  bool drop_page_cache = false;
  double progress_seconds = 5;
  bool keep = false;
};

}  // namespace

// Flags: Abseil flags, parsed by the programs' shared parser
// (net/program_flags.h): --help lists them, a bad value exits 2.
ABSL_FLAG(std::string, dir, "/tmp", "parent of the fresh data directory");
ABSL_FLAG(uint64_t, accounts, 10'000'000,
          "accounts created and funded, 2 ops each");
ABSL_FLAG(uint64_t, log_records, 50'000'000,
          "ops of debits/transfers logged after that; each request of "
          "--ops_per_request ops is one log record");
ABSL_FLAG(uint32_t, shards, 2, "EngineConfig::shard_count");
ABSL_FLAG(uint32_t, ops_per_request, 4096, "ops per request and log record");
ABSL_FLAG(uint32_t, in_flight, 8, "requests outstanding while logging");
ABSL_FLAG(bool, snapshot_variant, true,
          "also time snapshot load + replay of a log tail");
ABSL_FLAG(uint64_t, after_snapshot_ops, 0,
          "ops logged after the snapshot (0: log_records / 10)");
ABSL_FLAG(bool, drop_page_cache, false,
          "evict the directory's files from the page cache before each "
          "timed restart");
ABSL_FLAG(double, progress_seconds, 5, "progress line interval");
ABSL_FLAG(bool, keep, false, "keep the data directory");

namespace {

Flags ParseFlags(int argc, char** argv) {
  const std::vector<std::string> rest = coffer::net::ParseProgramFlags(
      argc, argv,
      "Builds a data directory (accounts, then a long log, snapshots off) "
      "and times\nEngine::Create replaying it; then, with "
      "--snapshot_variant, a snapshot plus a\nlog tail. Fails (exit 1) if "
      "a state digest differs after recovery.\n"
      "Usage: recovery_bench [--flag=value ...]",
      "bench/recovery_bench");
  Flags f;
  f.dir = absl::GetFlag(FLAGS_dir);
  f.accounts = absl::GetFlag(FLAGS_accounts);
  f.log_records = absl::GetFlag(FLAGS_log_records);
  f.shards = absl::GetFlag(FLAGS_shards);
  f.ops_per_request = absl::GetFlag(FLAGS_ops_per_request);
  f.in_flight = absl::GetFlag(FLAGS_in_flight);
  f.snapshot_variant = absl::GetFlag(FLAGS_snapshot_variant);
  f.after_snapshot_ops = absl::GetFlag(FLAGS_after_snapshot_ops);
  f.drop_page_cache = absl::GetFlag(FLAGS_drop_page_cache);
  f.progress_seconds = absl::GetFlag(FLAGS_progress_seconds);
  f.keep = absl::GetFlag(FLAGS_keep);
  // Transfers need two distinct accounts; a request of create + credit
  // pairs needs an even size.
  if (!rest.empty() || f.accounts < 2 || f.shards == 0 ||
      f.ops_per_request < 2 || f.ops_per_request % 2 != 0 ||
      f.ops_per_request > EngineConfig{}.request_ops_max || f.in_flight == 0 ||
      !(f.progress_seconds > 0)) {
    std::fprintf(stderr,
                 "recovery_bench: need no positional arguments, accounts >= "
                 "2, shards >= 1, an even ops_per_request in [2, %u], "
                 "in_flight >= 1, progress_seconds > 0 (see --help)\n",
                 EngineConfig{}.request_ops_max);
    std::exit(2);
  }
  if (f.after_snapshot_ops == 0) f.after_snapshot_ops = f.log_records / 10;
  return f;
}

struct Rng {
  uint64_t state;
  uint64_t Next() {  // SplitMix64
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t Account(uint64_t accounts) { return 1 + Next() % accounts; }
};

// The sequencer remembers op ids (across restarts too: recovery rebuilds the
// table), so every op of the whole run takes a fresh one from here.
uint64_t g_next_op_id = 1;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// A /proc/self/status field in kB (VmRSS), or -1.
long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

// Bytes of the files in `dir` (segments count at their preallocated size:
// that is what they take on the disk).
uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

uint64_t SnapshotBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_regular_file(ec) && name.rfind("snap", 0) == 0) {
      total += e.file_size(ec);
    }
  }
  return total;
}

// Evicts the directory's files from the page cache. They are synced first
// (DONTNEED skips dirty pages); all of it is advice, so errors are ignored.
void DropPageCache(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

double GiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 30); }

void PrintDigest(const char* when, const StateDigest& d) {
  std::printf("digest %-22s lo=%016llx hi=%016llx accounts=%llu holds=%llu\n",
              when, static_cast<unsigned long long>(d.lo),
              static_cast<unsigned long long>(d.hi),
              static_cast<unsigned long long>(d.accounts),
              static_cast<unsigned long long>(d.holds));
  std::fflush(stdout);
}

// Prints a progress line every --progress_seconds.
class Progress {
 public:
  Progress(const char* phase, uint64_t total_ops, double every_s,
           const Engine& engine)
      : phase_(phase),
        total_ops_(total_ops),
        every_s_(every_s),
        engine_(engine),
        start_(Clock::now()),
        next_(every_s) {}

  void Tick(uint64_t ops_done) {
    const double t = SecondsSince(start_);
    if (t < next_) return;
    next_ = t + every_s_;
    const EngineStats s = engine_.Stats();
    std::printf(
        "  [%s %6.1fs] %llu/%llu ops (%.1f%%) %.2fM ops/s; engine: "
        "log_records=%llu log_syncs=%llu durable_seq=%llu rss=%.2fGiB\n",
        phase_, t, static_cast<unsigned long long>(ops_done),
        static_cast<unsigned long long>(total_ops_),
        100.0 * static_cast<double>(ops_done) /
            static_cast<double>(std::max<uint64_t>(total_ops_, 1)),
        static_cast<double>(ops_done) / t / 1e6,
        static_cast<unsigned long long>(s.log_records),
        static_cast<unsigned long long>(s.log_syncs),
        static_cast<unsigned long long>(s.durable_seq),
        static_cast<double>(StatusKb("VmRSS")) / (1 << 20));
    std::fflush(stdout);
  }

  double Seconds() const { return SecondsSince(start_); }

 private:
  const char* phase_;
  uint64_t total_ops_;
  double every_s_;
  const Engine& engine_;
  Clock::time_point start_;
  double next_;
};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "recovery_bench: FAIL: %s\n", what.c_str());
  std::exit(1);
}

// Creates and funds accounts 1..n, ops_per_request/2 accounts per blocking
// Apply (one request, one log record each).
void CreateAccounts(Engine& engine, const Flags& f) {
  Progress progress("accounts", 2 * f.accounts, f.progress_seconds, engine);
  const uint64_t per_request = f.ops_per_request / 2;
  std::vector<Op> ops;
  for (uint64_t first = 1; first <= f.accounts; first += per_request) {
    ops.clear();
    for (uint64_t id = first; id < first + per_request && id <= f.accounts;
         ++id) {
      Op create;
      create.op_id = g_next_op_id++;
      create.kind = OpKind::kCreateAccount;
      create.account_id = id;
      create.currency = kCurrency;
      ops.push_back(create);
      Op credit;
      credit.op_id = g_next_op_id++;
      credit.kind = OpKind::kCredit;
      credit.account_id = id;
      credit.amount = kStartBalance;
      ops.push_back(credit);
    }
    const std::vector<coffer::OpResult> results = engine.Apply(ops);
    if (results.size() != ops.size()) Fail("Apply refused a setup request");
    for (const auto& r : results) {
      if (!r.ok()) {
        Fail("setup op failed: " + std::string(coffer::ResultCodeName(r.code)));
      }
    }
    progress.Tick(2 * std::min(f.accounts, first + per_request - 1));
  }
  std::printf("  accounts: %llu created+funded (%llu ops) in %.1f s\n",
              static_cast<unsigned long long>(f.accounts),
              static_cast<unsigned long long>(2 * f.accounts),
              progress.Seconds());
}

// Logs `total_ops` ops, alternately a debit of 1 and a transfer of 1 between
// two random accounts, in requests of ops_per_request, in_flight of them
// outstanding. Requests complete in the order they were ordered, so the
// slots are refilled round-robin.
void LogOps(Engine& engine, const Flags& f, uint64_t total_ops,
            const char* phase, uint64_t seed) {
  struct Slot {
    Request request;
    std::atomic<bool> busy{false};
  };
  std::atomic<uint32_t> completions{0};
  std::atomic<uint64_t> failed_ops{0};
  std::vector<std::unique_ptr<Slot>> slots;
  for (uint32_t i = 0; i < f.in_flight; ++i) {
    auto s = std::make_unique<Slot>();
    s->request.kind = coffer::RequestKind::kOps;
    Slot* raw = s.get();
    s->request.on_complete = [raw, &completions, &failed_ops](Request& r) {
      // On an engine thread: count, release the slot, wake the producer.
      uint64_t failed = 0;
      for (const auto& res : r.results) failed += !res.ok();
      if (r.results.size() != r.ops.size()) failed += r.ops.size();
      if (failed != 0) failed_ops.fetch_add(failed, std::memory_order_relaxed);
      raw->busy.store(false, std::memory_order_release);
      completions.fetch_add(1, std::memory_order_release);
      completions.notify_one();
    };
    slots.push_back(std::move(s));
  }
  Rng rng{seed};
  Progress progress(phase, total_ops, f.progress_seconds, engine);
  uint64_t submitted_ops = 0;
  for (uint64_t i = 0; submitted_ops < total_ops; ++i) {
    Slot& s = *slots[i % slots.size()];
    for (uint32_t c; s.busy.load(std::memory_order_acquire);) {
      c = completions.load(std::memory_order_acquire);
      if (s.busy.load(std::memory_order_acquire)) completions.wait(c);
    }
    const uint64_t n =
        std::min<uint64_t>(f.ops_per_request, total_ops - submitted_ops);
    s.request.ops.resize(n);
    for (uint64_t k = 0; k < n; ++k) {
      Op& op = s.request.ops[k];
      op = Op{};
      op.op_id = g_next_op_id++;
      op.amount = 1;
      op.account_id = rng.Account(f.accounts);
      if ((submitted_ops + k) % 2 == 0) {
        op.kind = OpKind::kDebit;
      } else {
        op.kind = OpKind::kTransfer;
        do {
          op.other_account_id = rng.Account(f.accounts);
        } while (op.other_account_id == op.account_id);
      }
    }
    s.busy.store(true, std::memory_order_relaxed);
    if (engine.Submit(&s.request) != SubmitResult::kAccepted) {
      Fail("Submit refused a request");
    }
    submitted_ops += n;
    progress.Tick(submitted_ops);
  }
  for (auto& s : slots) {
    for (uint32_t c; s->busy.load(std::memory_order_acquire);) {
      c = completions.load(std::memory_order_acquire);
      if (s->busy.load(std::memory_order_acquire)) completions.wait(c);
    }
  }
  if (failed_ops.load() != 0) {
    Fail(std::to_string(failed_ops.load()) + " logged ops failed");
  }
  std::printf("  %s: %llu ops logged in %.1f s (%.2fM ops/s)\n", phase,
              static_cast<unsigned long long>(total_ops), progress.Seconds(),
              static_cast<double>(total_ops) / progress.Seconds() / 1e6);
}

std::unique_ptr<Engine> Open(const EngineConfig& config, double* wall_s) {
  const auto t0 = Clock::now();
  auto created = Engine::Create(config);
  *wall_s = SecondsSince(t0);
  if (!created.ok()) {
    Fail("Engine::Create: " + std::string(created.status().message()));
  }
  return std::move(created).value();
}

struct RestartResult {
  std::string variant;
  coffer::RecoveryReport report;
  double create_wall_s = 0;
  double shutdown_s = 0;
  uint64_t dir_bytes = 0;
  uint64_t snapshot_bytes = 0;
};

// Digest, destroy, time the restart, digest again; fails on a mismatch.
std::unique_ptr<Engine> Restart(std::unique_ptr<Engine> engine,
                                const EngineConfig& config, const Flags& f,
                                const char* variant, RestartResult* out) {
  const StateDigest before = engine->Digest();
  const uint64_t last_seq = engine->Stats().last_seq;
  PrintDigest((std::string(variant) + " before").c_str(), before);
  auto t0 = Clock::now();
  engine.reset();  // answers everything, stops the log thread
  out->shutdown_s = SecondsSince(t0);
  out->variant = variant;
  out->dir_bytes = DirBytes(config.data_dir);
  out->snapshot_bytes = SnapshotBytes(config.data_dir);
  if (f.drop_page_cache) DropPageCache(config.data_dir);
  std::printf("  restarting (%s): %.2f GiB in the data directory%s\n", variant,
              GiB(out->dir_bytes),
              f.drop_page_cache ? ", evicted from the page cache" : "");
  std::fflush(stdout);
  engine = Open(config, &out->create_wall_s);
  out->report = engine->recovery();
  for (const std::string& note : out->report.notes) {
    std::printf("  recovery note: %s\n", note.c_str());
  }
  const StateDigest after = engine->Digest();
  PrintDigest((std::string(variant) + " after").c_str(), after);
  if (!(after == before)) Fail(std::string(variant) + ": digest differs");
  if (out->report.last_seq != last_seq) {
    Fail(std::string(variant) + ": recovered last_seq " +
         std::to_string(out->report.last_seq) +
         " != " + std::to_string(last_seq));
  }
  return engine;
}

// Removes the data directory however main exits (unless --keep).
struct TempDir {
  std::string path;
  bool keep = false;
  ~TempDir() {
    if (path.empty() || keep) return;
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  EngineConfig config;
  config.shard_count = f.shards;
  // Recovery must replay the whole log: no snapshot unless asked for.
  config.snapshot_every_log_bytes = 0;

  // Disk space: each op is logged as a 24-byte txn header plus the 64-byte
  // op (engine/log_codec.h), each record adds 40 bytes, each Engine::Create
  // preallocates a fresh segment, and the snapshot holds 56 bytes per
  // account plus the history rings and the op-id table.
  const uint64_t total_ops = 2 * f.accounts + f.log_records +
                             (f.snapshot_variant ? f.after_snapshot_ops : 0);
  const uint64_t records = total_ops / f.ops_per_request + 16;
  const uint64_t log_bytes =
      total_ops * (24 + 64) + records * 40 + 4 * config.wal_segment_bytes;
  const uint64_t snapshot_bytes =
      f.snapshot_variant ? f.accounts * (8 + 56) +
                               f.shards * config.history_entries_per_shard_max *
                                   sizeof(coffer::HistoryEntry) +
                               config.op_ids_remembered_max * 56
                         : 0;
  const uint64_t need_bytes =
      (log_bytes + snapshot_bytes) / 10 * 11 + (uint64_t{1} << 30);
  struct statvfs vfs;
  if (::statvfs(f.dir.c_str(), &vfs) != 0) {
    std::perror(("recovery_bench: statvfs " + f.dir).c_str());
    return 1;
  }
  const uint64_t free_bytes =
      static_cast<uint64_t>(vfs.f_bavail) * static_cast<uint64_t>(vfs.f_frsize);
  std::printf(
      "recovery_bench: accounts=%llu log_records(ops)=%llu "
      "after_snapshot_ops=%llu shards=%u ops_per_request=%u in_flight=%u "
      "hw_threads=%u\n",
      static_cast<unsigned long long>(f.accounts),
      static_cast<unsigned long long>(f.log_records),
      static_cast<unsigned long long>(f.snapshot_variant ? f.after_snapshot_ops
                                                         : 0),
      f.shards, f.ops_per_request, f.in_flight,
      std::thread::hardware_concurrency());
  std::printf(
      "disk: need about %.1f GiB (log %.1f GiB, snapshot %.1f GiB, 10%% + "
      "1 GiB margin), %.1f GiB free under %s\n",
      GiB(need_bytes), GiB(log_bytes), GiB(snapshot_bytes), GiB(free_bytes),
      f.dir.c_str());
  if (need_bytes > free_bytes) {
    std::fprintf(stderr,
                 "recovery_bench: not enough disk space under %s: the log "
                 "and snapshot need about %.1f GiB, %.1f GiB is free. Use "
                 "a smaller --accounts/--log_records or another --dir.\n",
                 f.dir.c_str(), GiB(need_bytes), GiB(free_bytes));
    return 1;
  }

  TempDir dir;
  dir.keep = f.keep;
  {
    std::string templ = f.dir + "/coffer_recovery_bench.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror(("recovery_bench: mkdtemp " + templ).c_str());
      return 1;
    }
    dir.path = templ;
  }
  config.data_dir = dir.path;
  std::printf("data dir: %s%s\n", dir.path.c_str(),
              f.keep ? " (kept)" : " (removed at the end)");
  std::fflush(stdout);

  double wall_s = 0;
  const auto build_start = Clock::now();
  std::unique_ptr<Engine> engine = Open(config, &wall_s);
  std::printf("build:\n");
  CreateAccounts(*engine, f);
  LogOps(*engine, f, f.log_records, "log", 0x10c0ffee);
  const EngineStats built = engine->Stats();
  std::printf(
      "  built in %.1f s: last_seq=%llu log_records=%llu log_syncs=%llu "
      "rss=%.2f GiB\n",
      SecondsSince(build_start),
      static_cast<unsigned long long>(built.last_seq),
      static_cast<unsigned long long>(built.log_records),
      static_cast<unsigned long long>(built.log_syncs),
      static_cast<double>(StatusKb("VmRSS")) / (1 << 20));

  std::vector<RestartResult> results;
  results.emplace_back();
  engine =
      Restart(std::move(engine), config, f, "full-replay", &results.back());

  if (f.snapshot_variant) {
    const EngineStats s0 = engine->Stats();
    const auto t0 = Clock::now();
    engine->RequestSnapshot();
    EngineStats s = s0;
    while (s.snapshots == s0.snapshots &&
           s.snapshot_failures == s0.snapshot_failures) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      s = engine->Stats();
    }
    if (s.snapshots == s0.snapshots) Fail("the snapshot failed");
    std::printf(
        "snapshot: at seq %llu, written in %.1f s (admission paused %.1f "
        "ms), %.2f GiB\n",
        static_cast<unsigned long long>(s.snapshot_seq), SecondsSince(t0),
        static_cast<double>(s.snapshot_pause_us) / 1e3,
        GiB(SnapshotBytes(config.data_dir)));
    LogOps(*engine, f, f.after_snapshot_ops, "tail", 0x5eed7a11);
    results.emplace_back();
    engine =
        Restart(std::move(engine), config, f, "snapshot+tail", &results.back());
  }
  engine.reset();

  std::printf("\n%-14s %8s %9s %12s %12s %9s %8s %12s %10s %10s %8s %8s\n",
              "variant", "dir_GiB", "snap_GiB", "records", "ops", "recov_s",
              "load_s", "replay_op/s", "records/s", "create_s", "shut_s",
              "snap_seq");
  for (const RestartResult& r : results) {
    const double load_s = r.report.snapshot_loaded_seconds;
    const double replay_s = std::max(r.report.seconds - load_s, 1e-9);
    std::printf(
        "%-14s %8.2f %9.2f %12llu %12llu %9.2f %8.2f %12.0f %10.0f %10.2f "
        "%8.2f %8llu\n",
        r.variant.c_str(), GiB(r.dir_bytes), GiB(r.snapshot_bytes),
        static_cast<unsigned long long>(r.report.log_records),
        static_cast<unsigned long long>(r.report.log_ops), r.report.seconds,
        load_s, static_cast<double>(r.report.log_ops) / replay_s,
        static_cast<double>(r.report.log_records) / replay_s, r.create_wall_s,
        r.shutdown_s, static_cast<unsigned long long>(r.report.snapshot_seq));
  }
  std::printf(
      "records/ops: replayed after the snapshot (if any); recov_s: "
      "RecoveryReport::seconds (snapshot load + replay); load_s: of it, until "
      "the snapshot was loaded (stores opened included); replay_op/s and "
      "records/s: over the rest; create_s: Engine::Create wall time (time to "
      "start); digests matched.\n");
  return 0;
}
