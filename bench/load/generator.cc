#include "bench/load/generator.h"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/load/client_library.h"
#include "bench/load/shard_aware.h"

namespace coffer::bench {
namespace {

constexpr uint32_t kPipelineMax = 4096;
constexpr uint64_t kOpsInFlightMax = 64ull << 20;  // all connections
constexpr int64_t kPollSliceNs = 50'000'000;       // re-check the phase
constexpr int64_t kProgressMergeNs = 200'000'000;  // live p99 refresh
constexpr size_t kErrorMessagesMax = 10;

enum Phase : int { kWarmup = 0, kMeasure = 1, kStop = 2 };

int64_t NowNs() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

// State the main thread and the workers share.
struct Shared {
  std::atomic<int> phase{kWarmup};
  std::atomic<int64_t> measure_start_ns{0};
  std::atomic<uint64_t> answered_ops{0};
  std::atomic<uint64_t> errors{0};
  std::mutex progress_mu;
  LogHistogram progress_latency_ns;  // every request so far (live p99)
};

struct Slot {
  int64_t start_ns = 0;  // sent, or intended (open loop)
  uint32_t ops = 0;
  bool measured = false;
};

struct Conn {
  std::unique_ptr<LoadConnection> conn;
  std::unique_ptr<OpSource> source;
  // pipeline slots in send order (FIFO: answers come back in order), each
  // with room for one batch of ops and their resend flags.
  std::vector<Slot> slots;
  std::vector<LoadOp> ops;
  std::vector<uint8_t> is_retry;
  uint64_t head = 0;
  uint64_t tail = 0;
  uint64_t budget_ops = UINT64_MAX;  // measured ops left to send
  int64_t next_send_ns = 0;          // open loop
  int64_t interval_ns = 0;
  int64_t last_progress_ns = 0;
  bool pending_out = false;
  bool dead = false;
  uint64_t in_flight() const { return tail - head; }
};

// What one worker thread counted, merged by the main thread after join
// (MergeWorker). Both kinds of worker (connections, client library) keep
// one.
struct WorkerTally {
  WorkerTally(uint64_t first_account, uint64_t accounts)
      : deltas(first_account, accounts) {}
  LogHistogram latency_ns;
  std::array<uint64_t, 256> codes{};
  uint64_t ops = 0;
  uint64_t requests = 0;
  uint64_t ops_total = 0;
  uint64_t duplicates = 0;
  uint64_t unexpected_codes = 0;
  uint64_t errors = 0;
  int64_t last_measured_ns = 0;
  std::vector<std::string> error_messages;
  BalanceDeltas deltas;
  CheckLog log;
};

class Worker : public WorkerTally {
  const LoadConfig& config_;
  Shared& shared_;

 public:
  Worker(const LoadConfig& config, Shared& shared, uint64_t first_account)
      : WorkerTally(first_account, config.workload.accounts),
        config_(config),
        shared_(shared) {}

  std::vector<Conn> conns;

  void Run() {
    std::vector<pollfd> pfds(conns.size());
    std::vector<std::vector<LoadResult>> completed;
    int64_t last_merge_ns = NowNs();
    const int64_t stall_ns = int64_t{config_.stall_timeout_ms} * 1'000'000;
    for (;;) {
      const int phase = shared_.phase.load(std::memory_order_acquire);
      int64_t now = NowNs();
      int64_t wake_ns = now + kPollSliceNs;
      bool active = false;
      for (size_t i = 0; i < conns.size(); ++i) {
        Conn& c = conns[i];
        pfds[i].fd = -1;
        pfds[i].revents = 0;
        if (c.dead) continue;
        if (phase != kStop) TopUp(c, phase, now, &wake_ns);
        if (c.dead) continue;
        auto pending = c.conn->Flush();
        if (!pending.ok()) {
          Kill(c, pending.status());
          continue;
        }
        c.pending_out = *pending;
        const bool can_send = phase != kStop && c.budget_ops > 0;
        if (c.in_flight() == 0 && !can_send) continue;
        active = true;
        if (c.in_flight() > 0 && now - c.last_progress_ns > stall_ns) {
          Kill(c, absl::DeadlineExceededError(absl::StrCat(
                      "no answer for ", config_.stall_timeout_ms, " ms")));
          continue;
        }
        if (c.in_flight() == 0) c.last_progress_ns = now;
        pfds[i].fd = c.conn->fd();
        pfds[i].events =
            static_cast<short>(POLLIN | (c.pending_out ? POLLOUT : 0));
      }
      if (!active) break;
      const int64_t wait_ns = std::max<int64_t>(0, wake_ns - now);
      timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                  static_cast<long>(wait_ns % 1'000'000'000)};
      const int n = ::ppoll(pfds.data(), pfds.size(), &ts, nullptr);
      if (n < 0 && errno != EINTR) {
        for (Conn& c : conns) {
          if (!c.dead) Kill(c, absl::InternalError(std::strerror(errno)));
        }
        break;
      }
      if (n > 0) {
        now = NowNs();
        for (size_t i = 0; i < conns.size(); ++i) {
          if (pfds[i].fd < 0 ||
              !(pfds[i].revents & (POLLIN | POLLERR | POLLHUP))) {
            continue;
          }
          Conn& c = conns[i];
          completed.clear();
          absl::Status s = c.conn->OnReadable(&completed);
          // Answers that arrived before a failure still count.
          Complete(c, completed, now);
          if (!s.ok() && !c.dead) Kill(c, s);
        }
      }
      if (now - last_merge_ns > kProgressMergeNs) {
        MergeProgress();
        last_merge_ns = now;
      }
    }
    MergeProgress();
  }

  // Results beyond WorkerTally's, merged by the main thread after join.
  LogHistogram send_lag_ns;

 private:
  void TopUp(Conn& c, int phase, int64_t now, int64_t* wake_ns) {
    const uint32_t pipeline = config_.pipeline;
    if (config_.mode == LoopMode::kClosed) {
      while (c.in_flight() < pipeline && c.budget_ops > 0 && !c.dead) {
        SendRequest(c, phase, now);
      }
      return;
    }
    while (c.in_flight() < pipeline && c.budget_ops > 0 && !c.dead &&
           c.next_send_ns <= now) {
      SendRequest(c, phase, c.next_send_ns);
      c.next_send_ns += c.interval_ns;
    }
    if (c.in_flight() < pipeline && c.budget_ops > 0) {
      *wake_ns = std::min(*wake_ns, c.next_send_ns);
    }
  }

  void SendRequest(Conn& c, int phase, int64_t start_ns) {
    const bool measured = phase == kMeasure;
    uint32_t n = config_.batch;
    if (measured && c.budget_ops < n) n = static_cast<uint32_t>(c.budget_ops);
    const size_t at = (c.tail % config_.pipeline) * config_.batch;
    std::span<LoadOp> ops(c.ops.data() + at, n);
    c.source->NextRequest(ops, std::span<uint8_t>(c.is_retry.data() + at, n));
    if (absl::Status s = c.conn->Send(ops); !s.ok()) {
      Kill(c, s);
      return;
    }
    const int64_t now = NowNs();
    if (c.in_flight() == 0) c.last_progress_ns = now;
    if (measured && config_.mode == LoopMode::kOpen) {
      send_lag_ns.Record(
          static_cast<uint64_t>(std::max<int64_t>(0, now - start_ns)));
    }
    c.slots[c.tail % config_.pipeline] = Slot{start_ns, n, measured};
    ++c.tail;
    if (measured && c.budget_ops != UINT64_MAX) c.budget_ops -= n;
  }

  void Complete(Conn& c, const std::vector<std::vector<LoadResult>>& done,
                int64_t now) {
    for (const std::vector<LoadResult>& results : done) {
      if (c.dead) return;
      if (c.in_flight() == 0) {
        Kill(c, absl::DataLossError("an answer for no request in flight"));
        return;
      }
      const Slot& slot = c.slots[c.head % config_.pipeline];
      if (results.size() != slot.ops) {
        Kill(c, absl::DataLossError(absl::StrCat(results.size(),
                                                 " results for a request of ",
                                                 slot.ops, " ops")));
        return;
      }
      const size_t at = (c.head % config_.pipeline) * config_.batch;
      for (uint32_t i = 0; i < slot.ops; ++i) {
        const LoadOp& op = c.ops[at + i];
        const LoadResult& r = results[i];
        const uint16_t code = static_cast<uint16_t>(r.code);
        ++codes[std::min<uint16_t>(code, 255)];
        if (r.duplicate) ++duplicates;
        if (r.code != ResultCode::kOk &&
            (r.code != ResultCode::kInsufficientFunds ||
             op.kind == LoadOpKind::kLookup)) {
          ++unexpected_codes;
        }
        deltas.Apply(op, r, &log);
        c.source->OnAnswered(op, c.is_retry[at + i] != 0, r, &log);
      }
      const uint64_t latency =
          static_cast<uint64_t>(std::max<int64_t>(0, now - slot.start_ns));
      progress_delta_.Record(latency);
      if (slot.measured) {
        latency_ns.Record(latency);
        ops += slot.ops;
        ++requests;
        last_measured_ns = now;
      }
      ops_total += slot.ops;
      shared_.answered_ops.fetch_add(slot.ops, std::memory_order_relaxed);
      ++c.head;
      c.last_progress_ns = now;
    }
  }

  void Kill(Conn& c, const absl::Status& why) {
    c.dead = true;
    ++errors;
    shared_.errors.fetch_add(1, std::memory_order_relaxed);
    if (error_messages.size() < kErrorMessagesMax) {
      error_messages.push_back(why.ToString());
    }
  }

  void MergeProgress() {
    std::lock_guard<std::mutex> lock(shared_.progress_mu);
    shared_.progress_latency_ns.Add(progress_delta_);
    progress_delta_.Reset();
  }

  LogHistogram progress_delta_;
};

std::string FormatProgress(double elapsed_s, uint64_t ops_per_s,
                           uint64_t p99_ns, uint64_t errors, int phase) {
  return absl::StrFormat("[%6.1fs]%s %10u ops/s  p99 %9.3f ms  errors %u",
                         elapsed_s, phase == kWarmup ? " warmup" : "",
                         ops_per_s, p99_ns / 1e6, errors);
}

// Fields every kind of worker has, into the run's result.
void MergeWorker(const WorkerTally& w, RunResult* result,
                 BalanceDeltas* expected, CheckLog* log,
                 int64_t* last_measured_ns) {
  result->latency_ns.Add(w.latency_ns);
  for (size_t i = 0; i < w.codes.size(); ++i) result->codes[i] += w.codes[i];
  result->ops += w.ops;
  result->requests += w.requests;
  result->ops_total += w.ops_total;
  result->duplicates += w.duplicates;
  result->unexpected_codes += w.unexpected_codes;
  result->errors += w.errors;
  for (const std::string& m : w.error_messages) {
    if (result->error_messages.size() < kErrorMessagesMax) {
      result->error_messages.push_back(m);
    }
  }
  *last_measured_ns = std::max(*last_measured_ns, w.last_measured_ns);
  expected->Add(w.deltas);
  log->Add(w.log);
}

// The main thread while the workers run: phases and progress.
void DrivePhases(const LoadConfig& config, Shared& shared,
                 const std::atomic<uint32_t>& running, int64_t start_ns) {
  const int64_t warmup_end = start_ns + std::llround(config.warmup_s * 1e9);
  int64_t next_report = start_ns + 1'000'000'000;
  uint64_t last_ops = 0;
  int64_t last_report = start_ns;
  while (running.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int64_t now = NowNs();
    int phase = shared.phase.load();
    if (phase == kWarmup && now >= warmup_end) {
      shared.measure_start_ns.store(now);
      shared.phase.store(kMeasure, std::memory_order_release);
      phase = kMeasure;
    }
    if (phase == kMeasure && config.ops == 0 &&
        now >= shared.measure_start_ns.load() +
                   std::llround(config.duration_s * 1e9)) {
      shared.phase.store(kStop, std::memory_order_release);
    }
    if (now >= next_report) {
      const uint64_t answered = shared.answered_ops.load();
      uint64_t p99 = 0;
      {
        std::lock_guard<std::mutex> lock(shared.progress_mu);
        p99 = shared.progress_latency_ns.Quantile(0.99);
      }
      if (config.progress) {
        config.progress(FormatProgress(
            (now - start_ns) / 1e9,
            static_cast<uint64_t>((answered - last_ops) * 1e9 /
                                  std::max<int64_t>(1, now - last_report)),
            p99, shared.errors.load(), phase));
      }
      last_ops = answered;
      last_report = now;
      next_report += 1'000'000'000;
    }
  }
}

void SetRates(const Shared& shared, int64_t last_measured_ns, RunResult* out) {
  RunResult& result = *out;
  const int64_t measure_start = shared.measure_start_ns.load();
  if (result.ops > 0 && last_measured_ns > measure_start) {
    result.elapsed_s = (last_measured_ns - measure_start) / 1e9;
    result.ops_per_s = result.ops / result.elapsed_s;
    result.requests_per_s = result.requests / result.elapsed_s;
  }
}

// Reads the balances back, checks them and says whether the run is valid.
void FinishRun(LoadTarget& target, const LoadConfig& config,
               const BalanceDeltas& expected, const CheckLog& log,
               RunResult* out) {
  RunResult& result = *out;
  const uint64_t first = config.workload.first_account;
  const uint64_t accounts = config.workload.accounts;
  if (result.errors == 0) {
    auto balances = target.ReadBalances(first, accounts);
    if (!balances.ok()) {
      ++result.errors;
      result.error_messages.push_back(absl::StrCat(
          "reading balances back: ", balances.status().ToString()));
    } else {
      result.check = CheckBalances(first, config.initial_balance, expected,
                                   *balances, log);
    }
  }

  if (result.errors > 0) {
    result.invalid_reasons.push_back(absl::StrCat(
        result.errors, " failed request(s) or connection(s): ",
        result.error_messages.empty() ? std::string()
                                      : result.error_messages.front()));
  }
  if (result.unexpected_codes > 0) {
    std::string which;
    for (size_t i = 0; i < result.codes.size(); ++i) {
      const auto code = static_cast<ResultCode>(i);
      if (result.codes[i] == 0 || code == ResultCode::kOk ||
          code == ResultCode::kInsufficientFunds) {
        continue;
      }
      absl::StrAppend(&which, which.empty() ? "" : ", ",
                      std::string(ResultCodeName(code)), " x", result.codes[i]);
    }
    result.invalid_reasons.push_back(absl::StrCat(
        result.unexpected_codes, " unexpected result code(s): ", which));
  }
  if (!result.check.performed) {
    result.invalid_reasons.push_back(
        "correctness check not performed (the run failed first)");
  } else if (!result.check.ok) {
    result.invalid_reasons.push_back(absl::StrCat(
        "correctness check failed: ", result.check.failures, " problem(s)"));
  }
  if (result.ops == 0) {
    result.invalid_reasons.push_back("no measured op was answered");
  }
  result.valid = result.invalid_reasons.empty();
}

// Client mode: one caller thread making blocking calls of `batch` ops
// through the target's client library, one at a time.
class ClientWorker : public WorkerTally {
 public:
  ClientWorker(const LoadConfig& config, Shared& shared, uint32_t index,
               std::unique_ptr<OpSource> source, uint64_t budget_ops)
      : WorkerTally(config.workload.first_account, config.workload.accounts),
        config_(config),
        shared_(shared),
        index_(index),
        source_(std::move(source)),
        budget_ops_(budget_ops) {}

  void Run(BlockingCaller& caller) {
    std::vector<LoadOp> ops(config_.batch);
    std::vector<uint8_t> is_retry(config_.batch);
    int64_t last_merge_ns = NowNs();
    for (;;) {
      const int phase = shared_.phase.load(std::memory_order_acquire);
      if (phase == kStop || budget_ops_ == 0) break;
      const bool measured = phase == kMeasure;
      size_t n = config_.batch;
      if (measured && budget_ops_ < n) n = budget_ops_;
      source_->NextRequest(std::span<LoadOp>(ops.data(), n),
                           std::span<uint8_t>(is_retry.data(), n));
      const int64_t start_ns = NowNs();
      auto results =
          caller.Call(index_, std::span<const LoadOp>(ops.data(), n));
      const int64_t now = NowNs();
      if (results.ok() && results->size() != n) {
        results = absl::DataLossError("wrong number of results");
      }
      if (!results.ok()) {
        Fail(results.status());
        break;
      }
      Count(ops, is_retry, *results);
      const uint64_t latency = static_cast<uint64_t>(now - start_ns);
      progress_delta_.Record(latency);
      if (measured) {
        latency_ns.Record(latency);
        ops_measured(n, now);
        if (budget_ops_ != UINT64_MAX) budget_ops_ -= n;
      }
      ops_total += n;
      shared_.answered_ops.fetch_add(n, std::memory_order_relaxed);
      if (now - last_merge_ns > kProgressMergeNs) {
        MergeProgress();
        last_merge_ns = now;
      }
    }
    MergeProgress();
  }

  const OpSource& source() const { return *source_; }

  // Results (WorkerTally), merged by the main thread after join.

 private:
  void ops_measured(size_t n, int64_t now) {
    ops += n;
    ++requests;
    last_measured_ns = now;
  }

  void Count(const std::vector<LoadOp>& ops_sent,
             const std::vector<uint8_t>& is_retry,
             const std::vector<LoadResult>& results) {
    for (size_t i = 0; i < results.size(); ++i) {
      const LoadOp& op = ops_sent[i];
      const LoadResult& r = results[i];
      ++codes[std::min<uint16_t>(static_cast<uint16_t>(r.code), 255)];
      if (r.duplicate) ++duplicates;
      if (r.code != ResultCode::kOk &&
          (r.code != ResultCode::kInsufficientFunds ||
           op.kind == LoadOpKind::kLookup)) {
        ++unexpected_codes;
      }
      deltas.Apply(op, r, &log);
      source_->OnAnswered(op, is_retry[i] != 0, r, &log);
    }
  }

  void Fail(const absl::Status& why) {
    ++errors;
    shared_.errors.fetch_add(1, std::memory_order_relaxed);
    error_messages.push_back(why.ToString());
  }

  void MergeProgress() {
    std::lock_guard<std::mutex> lock(shared_.progress_mu);
    shared_.progress_latency_ns.Add(progress_delta_);
    progress_delta_.Reset();
  }

  const LoadConfig& config_;
  Shared& shared_;
  const uint32_t index_;
  std::unique_ptr<OpSource> source_;
  uint64_t budget_ops_;
  LogHistogram progress_delta_;
};

// The run after set-up, in client mode.
absl::StatusOr<RunResult> RunClientMode(
    LoadTarget& target, const LoadConfig& config,
    const std::shared_ptr<const WorkloadTables>& tables, RunResult result) {
  auto* library = dynamic_cast<ClientLibrary*>(&target);
  if (library == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("target ", target.name(), " has no client library"));
  }
  auto caller =
      library->OpenClients({config.connections, config.client_coalesce,
                            config.client_frames_in_flight_max});
  if (!caller.ok()) return caller.status();
  result.target_settings =
      absl::StrCat(result.target_settings, "; ", (*caller)->settings());
  result.threads = config.client_threads;
  Shared shared;
  const uint64_t seed = config.seed != 0 ? config.seed : RandomSeed();
  const uint64_t run_tag = RandomSeed();  // fresh op ids every run
  std::vector<std::unique_ptr<ClientWorker>> workers;
  for (uint32_t i = 0; i < config.client_threads; ++i) {
    uint64_t budget = UINT64_MAX;
    if (config.ops > 0) {
      budget = config.ops / config.client_threads +
               (i < config.ops % config.client_threads ? 1 : 0);
    }
    workers.push_back(std::make_unique<ClientWorker>(
        config, shared, i,
        std::make_unique<OpSource>(tables, i, run_tag, seed + 0x1000 * (i + 1),
                                   config.batch),
        budget));
  }
  const int64_t start_ns = NowNs();
  if (config.warmup_s <= 0) {
    shared.measure_start_ns.store(start_ns);
    shared.phase.store(kMeasure, std::memory_order_release);
  }
  std::atomic<uint32_t> running{config.client_threads};
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&w, &running, &caller] {
      w->Run(**caller);
      running.fetch_sub(1);
    });
  }
  DrivePhases(config, shared, running, start_ns);
  for (std::thread& t : threads) t.join();
  BalanceDeltas expected(config.workload.first_account,
                         config.workload.accounts);
  CheckLog log;
  int64_t last_measured_ns = 0;
  for (auto& w : workers) {
    MergeWorker(*w, &result, &expected, &log, &last_measured_ns);
    result.retries_sent += w->source().retries_sent();
    result.retries_sent_in_flight += w->source().retries_sent_in_flight();
  }
  SetRates(shared, last_measured_ns, &result);
  result.client_frames = (*caller)->frames();
  result.client_calls = (*caller)->calls();
  caller->reset();  // close the clients before reading back
  FinishRun(target, config, expected, log, &result);
  return result;
}
}  // namespace

absl::Status ValidateLoadConfig(const LoadConfig& c) {
  if (c.connections == 0 || c.connections > kConnectionsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--connections must be in 1..", kConnectionsMax));
  }
  if (c.pipeline == 0 || c.pipeline > kPipelineMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pipeline must be in 1..", kPipelineMax));
  }
  if (c.batch == 0) return absl::InvalidArgumentError("--batch must be >= 1");
  if (uint64_t{c.connections} * c.pipeline * c.batch > kOpsInFlightMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("connections x pipeline x batch above ", kOpsInFlightMax));
  }
  if (c.client_threads > kConnectionsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--client_threads must be in 0..", kConnectionsMax));
  }
  if (c.client_threads > 0 &&
      (c.mode != LoopMode::kClosed || c.pipeline != 1)) {
    return absl::InvalidArgumentError(
        "--client_threads: closed loop, --pipeline=1 (each call blocks)");
  }
  if (c.threads > c.connections) {
    return absl::InvalidArgumentError("--threads above --connections");
  }
  if (c.mode == LoopMode::kOpen &&
      (!std::isfinite(c.rate_ops_per_s) || c.rate_ops_per_s <= 0)) {
    return absl::InvalidArgumentError("open loop needs --rate > 0");
  }
  if (c.ops == 0 && (!std::isfinite(c.duration_s) || c.duration_s <= 0)) {
    return absl::InvalidArgumentError("--duration_s must be > 0 (or --ops)");
  }
  if (!std::isfinite(c.warmup_s) || c.warmup_s < 0) {
    return absl::InvalidArgumentError("--warmup_s must be >= 0");
  }
  if (c.initial_balance < 0) {
    return absl::InvalidArgumentError("--initial_balance must be >= 0");
  }
  return ValidateWorkload(c.workload);
}

absl::StatusOr<RunResult> RunLoad(LoadTarget& target,
                                  const LoadConfig& config_in) {
  LoadConfig config = config_in;
  if (config.threads == 0) config.threads = std::min(config.connections, 2u);
  if (auto* sharded = dynamic_cast<const ShardAware*>(&target)) {
    config.workload.shard_count = sharded->shard_count();
  }
  if (absl::Status s = ValidateLoadConfig(config); !s.ok()) return s;
  if (config.batch > target.max_batch_ops()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch above the target's limit of ",
                     target.max_batch_ops(), " ops per request"));
  }
  auto tables = WorkloadTables::Build(config.workload);
  if (!tables.ok()) return tables.status();

  RunResult result;
  result.target_name = target.name();
  result.target_settings = target.settings();
  result.shard_count = config.workload.shard_count;
  result.threads = config.threads;
  result.first_account = config.workload.first_account;
  const uint64_t first = config.workload.first_account;
  const uint64_t accounts = config.workload.accounts;

  const int64_t setup_start = NowNs();
  if (config.progress) {
    config.progress(absl::StrCat("creating and funding ", accounts,
                                 " accounts from ", first, " ..."));
  }
  if (absl::Status s =
          target.CreateAccounts(first, accounts, config.initial_balance);
      !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("creating accounts: ", s.message()));
  }
  result.setup_s = (NowNs() - setup_start) / 1e9;
  if (config.client_threads > 0) {
    return RunClientMode(target, config, *tables, std::move(result));
  }

  Shared shared;
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t t = 0; t < config.threads; ++t) {
    workers.push_back(std::make_unique<Worker>(config, shared, first));
  }
  const uint64_t seed = config.seed != 0 ? config.seed : RandomSeed();
  // Op ids are random per run even with a fixed --seed: a rerun must not
  // resend the ops of the last one.
  const uint64_t run_tag = RandomSeed();
  const uint64_t pipeline_ops = uint64_t{config.pipeline} * config.batch;
  const int64_t start_ns = NowNs();
  // Open loop: each connection's share of the rate, in requests.
  const double interval_ns_exact =
      config.mode == LoopMode::kOpen
          ? 1e9 * config.connections * config.batch / config.rate_ops_per_s
          : 0;
  for (uint32_t i = 0; i < config.connections; ++i) {
    auto conn = target.Connect();
    if (!conn.ok()) {
      return absl::Status(
          conn.status().code(),
          absl::StrCat("connection ", i, ": ", conn.status().message()));
    }
    Conn c;
    c.conn = std::move(conn).value();
    c.source = std::make_unique<OpSource>(
        *tables, i, run_tag, seed + 0x1000 * (i + 1), pipeline_ops);
    c.slots.resize(config.pipeline);
    c.ops.resize(pipeline_ops);
    c.is_retry.resize(pipeline_ops);
    if (config.ops > 0) {
      c.budget_ops = config.ops / config.connections +
                     (i < config.ops % config.connections ? 1 : 0);
    }
    c.interval_ns = std::max<int64_t>(1, std::llround(interval_ns_exact));
    workers[i % config.threads]->conns.push_back(std::move(c));
  }
  // Stagger the open-loop schedules across the first interval.
  const int64_t schedule_start = NowNs();
  for (uint32_t k = 0; k < config.connections; ++k) {
    Conn& c = workers[k % config.threads]->conns[k / config.threads];
    c.next_send_ns =
        schedule_start +
        static_cast<int64_t>(interval_ns_exact * k / config.connections);
  }
  if (config.warmup_s <= 0) {
    shared.measure_start_ns.store(NowNs());
    shared.phase.store(kMeasure, std::memory_order_release);
  }
  std::vector<std::thread> threads;
  std::atomic<uint32_t> running{config.threads};
  for (auto& w : workers) {
    threads.emplace_back([&w, &running] {
      w->Run();
      running.fetch_sub(1);
    });
  }

  DrivePhases(config, shared, running, start_ns);
  for (std::thread& t : threads) t.join();

  // Merge.
  BalanceDeltas expected(first, accounts);
  CheckLog log;
  int64_t last_measured_ns = 0;
  for (auto& w : workers) {
    MergeWorker(*w, &result, &expected, &log, &last_measured_ns);
    result.send_lag_ns.Add(w->send_lag_ns);
    for (const Conn& c : w->conns) {
      result.retries_sent += c.source->retries_sent();
      result.retries_sent_in_flight += c.source->retries_sent_in_flight();
    }
  }
  SetRates(shared, last_measured_ns, &result);
  // Close the connections before reading back.
  for (auto& w : workers) w->conns.clear();

  FinishRun(target, config, expected, log, &result);
  return result;
}

}  // namespace coffer::bench
