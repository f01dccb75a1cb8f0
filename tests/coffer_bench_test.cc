// coffer-bench (bench/load/): the histogram's quantiles are within one
// bucket of the truth, the Zipf sampler draws the Zipf distribution, the
// checker catches a double application, a wrong code on a resend and a
// balance mismatch, and the generator runs every workload in closed and
// open loop against an in-process server with a passing check; the binary
// itself produces valid JSON.
#if defined(COFFER_HAVE_LOAD)

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bench/load/checker.h"
#include "bench/load/generator.h"
#include "bench/load/histogram.h"
#include "bench/load/random.h"
#include "bench/load/target.h"
#include "bench/load/workload.h"
#include "bench/load/zipf.h"
#include "gtest/gtest.h"
#include "net/local_server.h"

namespace coffer::bench {
namespace {

TEST(CofferBenchHistogram, BucketsCoverEveryValueWithinTheirWidth) {
  Rng rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const uint64_t v = rng.Next() >> rng.Below(64);
    const uint32_t b = LogHistogram::BucketOf(v);
    ASSERT_LT(b, LogHistogram::kBucketCount);
    ASSERT_LE(LogHistogram::BucketLow(b), v);
    ASSERT_GE(LogHistogram::BucketHigh(b), v);
    const uint64_t width =
        LogHistogram::BucketHigh(b) - LogHistogram::BucketLow(b) + 1;
    ASSERT_LE(width, std::max<uint64_t>(1, v / LogHistogram::kSubBuckets));
  }
  EXPECT_EQ(LogHistogram::BucketOf(UINT64_MAX), LogHistogram::kBucketCount - 1);
  for (uint64_t v = 0; v < 2 * LogHistogram::kSubBuckets; ++v) {
    EXPECT_EQ(LogHistogram::BucketOf(v), v);  // exact below 2 x kSubBuckets
  }
}

TEST(CofferBenchHistogram, QuantilesWithinOneBucketOfExact) {
  Rng rng(11);
  LogHistogram h;
  std::vector<uint64_t> values;
  for (int i = 0; i < 200'000; ++i) {
    // Log-uniform over 1 us .. 1 s in ns, like latencies.
    const uint64_t v = static_cast<uint64_t>(
        std::exp(std::log(1e3) + rng.Unit() * (std::log(1e9) - std::log(1e3))));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (const double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const size_t rank =
        std::max<size_t>(1, static_cast<size_t>(std::ceil(q * values.size())));
    const uint64_t exact = values[rank - 1];
    const uint64_t got = h.Quantile(q);
    EXPECT_GE(got, exact) << q;
    EXPECT_LE(got - exact, exact / LogHistogram::kSubBuckets) << q;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.min(), values.front());
  EXPECT_EQ(h.count(), values.size());

  // Add() of two halves equals one histogram of everything.
  LogHistogram a, b;
  for (size_t i = 0; i < values.size(); ++i) (i % 2 ? a : b).Record(values[i]);
  a.Add(b);
  for (const double q : {0.5, 0.99}) EXPECT_EQ(a.Quantile(q), h.Quantile(q));
  a.Reset();
  EXPECT_EQ(a.count(), 0u);
  EXPECT_EQ(a.Quantile(0.5), 0u);
}

// Frequencies of the first ranks against the exact probabilities, within
// six standard deviations (deterministic seed: the test cannot flake).
void ExpectZipf(uint64_t n, double s) {
  ZipfSampler z(n, s);
  Rng rng(1234);
  constexpr int kSamples = 400'000;
  constexpr uint64_t kTop = 20;
  std::array<int, kTop + 1> counts{};
  for (int i = 0; i < kSamples; ++i) {
    const uint64_t k = z.Sample(rng);
    ASSERT_GE(k, 1u);
    ASSERT_LE(k, n);
    if (k <= kTop) ++counts[k];
  }
  double norm = 0;
  for (uint64_t k = 1; k <= n; ++k) norm += std::pow(k, -s);
  for (uint64_t k = 1; k <= std::min(kTop, n); ++k) {
    const double p = std::pow(k, -s) / norm;
    const double sd = std::sqrt(kSamples * p * (1 - p));
    EXPECT_NEAR(counts[k], kSamples * p, 6 * sd + 1)
        << "n " << n << " s " << s << " rank " << k;
  }
}

TEST(CofferBenchZipf, MatchesTheDistribution) {
  ExpectZipf(1000, 1.0);  // the s = 1 special case of the integral
  ExpectZipf(1000, 0.6);
  ExpectZipf(100'000, 1.3);
  ExpectZipf(3, 2.0);
  ExpectZipf(1, 1.0);
}

TEST(CofferBenchChecker, BalanceMismatchAndNegativeFail) {
  BalanceDeltas deltas(100, 3);
  CheckLog log;
  LoadOp debit{LoadOpKind::kDebit, 1, 101, 0, 30};
  deltas.Apply(debit, LoadResult{ResultCode::kOk, false, 0}, &log);
  // A duplicate and a refusal change nothing.
  deltas.Apply(debit, LoadResult{ResultCode::kOk, true, 0}, &log);
  deltas.Apply(LoadOp{LoadOpKind::kDebit, 2, 102, 0, 5},
               LoadResult{ResultCode::kInsufficientFunds, false, 0}, &log);
  deltas.Apply(LoadOp{LoadOpKind::kTransfer, 3, 100, 102, 7},
               LoadResult{ResultCode::kOk, false, 0}, &log);
  EXPECT_EQ(log.failures(), 0u);

  const std::vector<int64_t> right = {93, 70, 107};
  CheckOutcome ok = CheckBalances(100, 100, deltas, right, log);
  EXPECT_TRUE(ok.ok) << (ok.details.empty() ? "" : ok.details[0]);
  EXPECT_EQ(ok.actual_total, 270);

  // The server charged the debit twice.
  const std::vector<int64_t> twice = {93, 40, 107};
  CheckOutcome bad = CheckBalances(100, 100, deltas, twice, log);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.mismatches, 1u);

  const std::vector<int64_t> negative = {-7, 70, 207};
  CheckOutcome neg = CheckBalances(100, 100, deltas, negative, log);
  EXPECT_FALSE(neg.ok);
  EXPECT_EQ(neg.negative, 1u);

  // An answer for an account outside the run's range is a failure too.
  deltas.Apply(LoadOp{LoadOpKind::kDebit, 4, 999, 0, 1},
               LoadResult{ResultCode::kOk, false, 0}, &log);
  EXPECT_EQ(log.failures(), 1u);
}

// Resends answered the way a broken server would: both answers new (applied
// twice), or a different code than the original's.
TEST(CofferBenchChecker, ResendCheckCatchesDoubleApplicationAndCodeChange) {
  WorkloadConfig wc;
  wc.kind = WorkloadKind::kRetry;
  wc.accounts = 50;
  wc.first_account = 1;
  wc.retry_pct = 100;
  auto tables = WorkloadTables::Build(wc);
  ASSERT_TRUE(tables.ok()) << tables.status();

  for (const int variant : {0, 1, 2}) {
    OpSource source(*tables, 0, 5, 99, 16);
    std::vector<LoadOp> ops(8);
    std::vector<uint8_t> retry(8);
    source.NextRequest(ops, retry);  // nothing to resend yet: all fresh
    CheckLog log;
    for (size_t i = 0; i < ops.size(); ++i) {
      ASSERT_EQ(retry[i], 0);
      source.OnAnswered(ops[i], false, LoadResult{ResultCode::kOk, false, 0},
                        &log);
    }
    std::set<uint64_t> first_ids;
    for (const LoadOp& op : ops) first_ids.insert(op.op_id);
    source.NextRequest(ops, retry);
    int resent = 0;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (!retry[i]) continue;
      ++resent;
      EXPECT_TRUE(first_ids.count(ops[i].op_id));
      LoadResult r{ResultCode::kOk, true, 0};  // correct: duplicate, same code
      if (variant == 1) r.duplicate = false;   // applied twice
      if (variant == 2) r.code = ResultCode::kInsufficientFunds;
      source.OnAnswered(ops[i], true, r, &log);
    }
    ASSERT_GT(resent, 0);
    if (variant == 0) {
      EXPECT_EQ(log.failures(), 0u);
    } else {
      EXPECT_EQ(log.failures(), static_cast<uint64_t>(resent)) << variant;
      ASSERT_FALSE(log.details().empty());
      EXPECT_NE(log.details()[0].find(variant == 1 ? "applied twice"
                                                   : "resend answered"),
                std::string::npos)
          << log.details()[0];
    }
  }
}

// An in-memory target whose ledger can be told to misbehave, so the whole
// run (not just the checker) is shown to refuse a wrong result.
// Shared by every connection of a run, and the generator drives connections
// from several threads: the fake serialises them (a real server would).
struct FakeLedger {
  std::mutex mu;
  std::map<uint64_t, int64_t> balances;
  std::set<uint64_t> applied;
  bool double_apply_retries = false;
};

class FakeConnection : public LoadConnection {
 public:
  explicit FakeConnection(FakeLedger* ledger)
      : ledger_(ledger), fd_(::eventfd(1, EFD_NONBLOCK)) {}
  ~FakeConnection() override { ::close(fd_); }
  absl::Status Send(std::span<const LoadOp> ops) override {
    std::vector<LoadResult> results;
    std::lock_guard<std::mutex> lock(ledger_->mu);
    for (const LoadOp& op : ops) {
      LoadResult r;
      int64_t& b = ledger_->balances[op.account_id];
      const bool seen = ledger_->applied.count(op.op_id) > 0;
      if (seen && !ledger_->double_apply_retries) {
        r.duplicate = true;  // (the fake remembers only successes)
      } else if (b < op.amount) {
        r.code = ResultCode::kInsufficientFunds;
      } else {
        b -= op.amount;
        ledger_->applied.insert(op.op_id);
      }
      results.push_back(r);
    }
    queued_.push_back(std::move(results));
    return absl::OkStatus();
  }
  absl::StatusOr<bool> Flush() override { return false; }
  absl::Status OnReadable(
      std::vector<std::vector<LoadResult>>* completed) override {
    for (auto& r : queued_) completed->push_back(std::move(r));
    queued_.clear();
    return absl::OkStatus();
  }
  int fd() const override { return fd_; }  // always readable

 private:
  FakeLedger* ledger_;
  int fd_;
  std::vector<std::vector<LoadResult>> queued_;
};

class FakeTarget : public LoadTarget {
 public:
  FakeLedger ledger;
  int64_t read_back_error = 0;
  std::string name() const override { return "fake"; }
  std::string settings() const override { return "in memory"; }
  uint32_t max_batch_ops() const override { return 100; }
  absl::StatusOr<std::unique_ptr<LoadConnection>> Connect() override {
    return std::unique_ptr<LoadConnection>(
        std::make_unique<FakeConnection>(&ledger));
  }
  absl::Status CreateAccounts(uint64_t first, uint64_t count,
                              int64_t balance) override {
    std::lock_guard<std::mutex> lock(ledger.mu);
    for (uint64_t i = 0; i < count; ++i) ledger.balances[first + i] = balance;
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<int64_t>> ReadBalances(uint64_t first,
                                                    uint64_t count) override {
    std::lock_guard<std::mutex> lock(ledger.mu);
    std::vector<int64_t> out;
    for (uint64_t i = 0; i < count; ++i)
      out.push_back(ledger.balances[first + i]);
    out[0] += read_back_error;
    return out;
  }
};

LoadConfig SmallRun(WorkloadKind kind) {
  LoadConfig c;
  c.connections = 2;
  c.pipeline = 4;
  c.batch = 8;
  c.threads = 2;
  c.ops = 4000;
  c.warmup_s = 0;
  c.seed = 42;
  c.workload.kind = kind;
  c.workload.accounts = 200;
  c.workload.first_account = 1000;
  c.workload.retry_pct = 20;
  c.initial_balance = 10'000;
  return c;
}

TEST(CofferBenchGenerator, FakeTargetRunsValid) {
  FakeTarget target;
  auto r = RunLoad(target, SmallRun(WorkloadKind::kRetry));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->valid) << (r->invalid_reasons.empty() ? ""
                                                       : r->invalid_reasons[0]);
  EXPECT_GT(r->retries_sent, 0u);
  EXPECT_EQ(r->duplicates, r->retries_sent);
}

TEST(CofferBenchGenerator, DoubleApplicationMakesTheRunInvalid) {
  FakeTarget target;
  target.ledger.double_apply_retries = true;
  auto r = RunLoad(target, SmallRun(WorkloadKind::kRetry));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->valid);
  EXPECT_TRUE(r->check.performed);
  EXPECT_FALSE(r->check.ok);
  EXPECT_GT(r->check.failures, 0u);
}

TEST(CofferBenchGenerator, BalanceMismatchMakesTheRunInvalid) {
  FakeTarget target;
  target.read_back_error = 1;
  auto r = RunLoad(target, SmallRun(WorkloadKind::kDebit));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->valid);
  EXPECT_EQ(r->check.mismatches, 1u);
}

class CofferBenchServer : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineConfig ec;
    ec.shard_count = 2;
    ec.idle_spin_iterations = 64;  // tests share two cores
    net::ServerConfig sc;
    sc.port = 0;
    sc.io_threads = 1;
    auto local = net::LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local).value();
    const TargetFactory* factory = FindTarget("coffer");
    ASSERT_NE(factory, nullptr);
    TargetOptions options;
    options.port = server_->port();
    auto target = (*factory)(options);
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(target).value();
  }

  void ExpectValidRun(const LoadConfig& config) {
    auto r = RunLoad(*target_, config);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->valid) << (r->invalid_reasons.empty()
                                  ? ""
                                  : r->invalid_reasons[0]);
    EXPECT_TRUE(r->check.performed);
    EXPECT_TRUE(r->check.ok)
        << (r->check.details.empty() ? "" : r->check.details[0]);
    EXPECT_EQ(r->ops, config.ops);
    EXPECT_EQ(r->errors, 0u);
    EXPECT_EQ(r->shard_count, 2u);
    EXPECT_GT(r->latency_ns.count(), 0u);
  }

  std::unique_ptr<net::LocalServer> server_;
  std::unique_ptr<LoadTarget> target_;
};

TEST_F(CofferBenchServer, ClosedLoopEveryWorkload) {
  uint64_t first = 1'000'000;
  for (const WorkloadKind kind :
       {WorkloadKind::kDebit, WorkloadKind::kTransfer, WorkloadKind::kHot,
        WorkloadKind::kMix, WorkloadKind::kRetry}) {
    SCOPED_TRACE(std::string(WorkloadName(kind)));
    LoadConfig c = SmallRun(kind);
    c.workload.first_account = first;
    c.initial_balance = 300;  // low: insufficient_funds happens too
    first += 10'000;
    ExpectValidRun(c);
  }
}

TEST_F(CofferBenchServer, OpenLoopEveryWorkload) {
  uint64_t first = 2'000'000;
  for (const WorkloadKind kind :
       {WorkloadKind::kDebit, WorkloadKind::kTransfer, WorkloadKind::kHot,
        WorkloadKind::kMix, WorkloadKind::kRetry}) {
    SCOPED_TRACE(std::string(WorkloadName(kind)));
    LoadConfig c = SmallRun(kind);
    c.mode = LoopMode::kOpen;
    c.rate_ops_per_s = 20'000;  // 2,000 ops: about 0.1 s
    c.ops = 2000;
    c.workload.first_account = first;
    first += 10'000;
    ExpectValidRun(c);
  }
}

// Client mode (--client_threads): threads of blocking calls through
// net::Client, checked like every other run, with coalescing on and off.
TEST_F(CofferBenchServer, ClientModeEveryWorkload) {
  uint64_t first = 3'000'000;
  for (const bool coalesce : {true, false}) {
    for (const WorkloadKind kind :
         {WorkloadKind::kDebit, WorkloadKind::kTransfer, WorkloadKind::kHot,
          WorkloadKind::kMix, WorkloadKind::kRetry}) {
      SCOPED_TRACE(std::string(WorkloadName(kind)) +
                   (coalesce ? " on" : " off"));
      LoadConfig c = SmallRun(kind);
      c.client_threads = 8;
      c.client_coalesce = coalesce;
      c.connections = 2;
      c.pipeline = 1;
      c.batch = 1;
      c.ops = 2000;
      c.initial_balance = 300;
      c.workload.first_account = first;
      first += 10'000;
      auto r = RunLoad(*target_, c);
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_TRUE(r->valid)
          << (r->invalid_reasons.empty() ? "" : r->invalid_reasons[0]);
      EXPECT_TRUE(r->check.performed && r->check.ok);
      EXPECT_EQ(r->ops, c.ops);
      EXPECT_EQ(r->requests, c.ops);  // one call per op
      EXPECT_EQ(r->threads, 8u);
      if (coalesce) {
        // Every call went through the queue, into some frame.
        EXPECT_EQ(r->client_calls, r->ops_total);
        EXPECT_LE(r->client_frames, r->client_calls);
      } else {
        EXPECT_EQ(r->client_calls, 0u);  // no queue: nothing counted
      }
    }
  }
}

TEST_F(CofferBenchServer, ExistingAccountsAreResetToTheInitialBalance) {
  LoadConfig c = SmallRun(WorkloadKind::kDebit);
  c.workload.first_account = 3'000'000;
  ExpectValidRun(c);
  c.initial_balance = 123;  // same range again, other balance
  ExpectValidRun(c);
  auto b = target_->ReadBalances(3'000'000, 200);
  ASSERT_TRUE(b.ok()) << b.status();
}

// A server whose engine queue is tiny and which answers ERROR busy after
// 1 ms:
// the target resends those requests (same op ids) and the run stays valid.
TEST(CofferBenchBusy, BusyAnswersAreResent) {
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  ec.submit_queue_capacity = 2;
  net::ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 2;
  sc.submit_retry_ms = 1;
  auto local = net::LocalServer::Start(ec, sc);
  ASSERT_TRUE(local.ok()) << local.status();
  TargetOptions options;
  options.port = (*local)->port();
  auto target = (*FindTarget("coffer"))(options);
  ASSERT_TRUE(target.ok()) << target.status();
  // Whether a 2-slot queue overflows depends on how the threads are
  // scheduled: a run in which the engine kept up sees no busy answer (seen
  // about once in five runs beside a heavy build). So up to kRuns runs,
  // each on fresh accounts and each checked, until one has seen busy
  // answers: the test fails only if all of them pass without one.
  constexpr int kRuns = 8;
  for (int run = 0; run < kRuns; ++run) {
    LoadConfig c = SmallRun(WorkloadKind::kRetry);
    c.connections = 2;
    c.pipeline = 8;
    c.batch = 4;
    c.ops = 2000;
    c.workload.first_account = 4'000'000 + uint64_t{100'000} * run;
    auto r = RunLoad(**target, c);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->valid) << (r->invalid_reasons.empty()
                                  ? ""
                                  : r->invalid_reasons[0]);
    if ((*local)->server->counters().busy_replies > 0) break;
  }
  EXPECT_GT((*local)->server->counters().busy_replies, 0u)
      << "no busy answer in " << kRuns << " runs";
}

TEST_F(CofferBenchServer, BinaryWritesValidJson) {
  const std::string cmd =
      std::string(COFFER_BENCH_BINARY) +
      " --port=" + std::to_string(server_->port()) +
      " --connections=3 --pipeline=2 --batch=4 --ops=600 --warmup_s=0"
      " --accounts=100 --workload=retry --quiet --json=- 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("\"valid\": true"), std::string::npos) << out;
  EXPECT_NE(out.find("\"ops_per_s\": "), std::string::npos) << out;
  EXPECT_NE(out.find("\"p999\": "), std::string::npos) << out;
  EXPECT_NE(out.find("\"check\": {\"performed\": true, \"ok\": true"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("\"nproc\": "), std::string::npos) << out;

  const std::string bad =
      std::string(COFFER_BENCH_BINARY) + " --workload=nonsense >/dev/null 2>&1";
  const int bad_status = std::system(bad.c_str());
  EXPECT_TRUE(WIFEXITED(bad_status));
  EXPECT_EQ(WEXITSTATUS(bad_status), 2);
}

}  // namespace
}  // namespace coffer::bench

#endif  // COFFER_HAVE_LOAD
