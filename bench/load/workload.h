// What coffer-bench sends: the workloads (issue 5) and the per-connection
// source of ops that produces them. A source is used by one generator
// thread; the shared tables (shard lists, the Zipf sampler) are read-only.
//
// Op ids: bit 63 clear (the coffer target's set-up ops set it), then a
// 19-bit run tag chosen at random per run, a 12-bit connection index and a
// 32-bit per-connection counter, so ids are unique within a run and across
// runs against a long-lived server with overwhelming probability.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/load/random.h"
#include "bench/load/target.h"
#include "bench/load/zipf.h"

namespace coffer::bench {

enum class WorkloadKind { kDebit, kTransfer, kHot, kMix, kRetry };

absl::StatusOr<WorkloadKind> ParseWorkload(std::string_view name);
std::string_view WorkloadName(WorkloadKind kind);

inline constexpr uint32_t kConnectionsMax = 4000;  // 12 bits of the op id

struct WorkloadConfig {
  WorkloadKind kind = WorkloadKind::kDebit;
  uint64_t accounts = 10'000;
  uint64_t first_account = 1;
  // Debit and transfer amounts are uniform in [1, amount_max].
  int64_t amount_max = 10;
  double cross_shard_pct = 50;  // transfer
  double zipf_s = 1.0;          // hot
  double read_pct = 20;         // mix
  double retry_pct = 10;        // retry
  // Shards of the target (0: it has none; transfer pairs are random).
  uint32_t shard_count = 0;
};

absl::Status ValidateWorkload(const WorkloadConfig& config);

// Read-only tables shared by every source of a run.
class WorkloadTables {
 public:
  static absl::StatusOr<std::shared_ptr<const WorkloadTables>> Build(
      const WorkloadConfig& config);

  const WorkloadConfig& config() const { return config_; }
  // transfer with shards: account indexes of each shard.
  const std::vector<std::vector<uint32_t>>& by_shard() const {
    return by_shard_;
  }
  // Shard of each account index (empty without shards).
  const std::vector<uint32_t>& shard_of() const { return shard_of_; }
  const ZipfSampler* zipf() const { return zipf_.get(); }

 private:
  WorkloadConfig config_;
  std::vector<std::vector<uint32_t>> by_shard_;
  std::vector<uint32_t> shard_of_;
  std::unique_ptr<ZipfSampler> zipf_;
};

// Where a retry problem is reported: the checker's log (checker.h).
class CheckLog;

// Produces the ops of one connection and, for the retry workload, decides
// which earlier ops to resend and checks each resend's answer against the
// original's. Requests complete in send order (target.h), which the retry
// bookkeeping relies on: an original is always answered before its resend
// on the same connection.
class OpSource {
 public:
  // `pipeline_ops_max`: most ops this connection can have in flight.
  OpSource(std::shared_ptr<const WorkloadTables> tables,
           uint32_t connection_index, uint64_t run_tag, uint64_t seed,
           uint64_t pipeline_ops_max);

  // Fills `ops` (one request) and sets `is_retry[i]` for resent ops.
  void NextRequest(std::span<LoadOp> ops, std::span<uint8_t> is_retry);
  // Every answered op of this connection, in send order.
  void OnAnswered(const LoadOp& op, bool is_retry, const LoadResult& result,
                  CheckLog* log);

  uint64_t retries_sent() const { return retries_sent_; }
  uint64_t retries_sent_in_flight() const { return retries_in_flight_; }
  uint64_t retries_checked() const { return retries_checked_; }

 private:
  struct Original {
    LoadOp op;
    bool answered = false;
    bool retried = false;
    bool duplicate = false;
    ResultCode code = ResultCode::kOk;
  };

  void FreshOp(LoadOp* op);
  uint64_t UniformAccount() { return rng_.Below(config_.accounts); }
  bool PickRetry(LoadOp* op);

  std::shared_ptr<const WorkloadTables> tables_;
  const WorkloadConfig& config_;
  Rng rng_;
  uint64_t op_id_prefix_;
  uint64_t fresh_ops_ = 0;  // originals generated (the op id counter)
  // Retry workload: the most recent originals, slot = counter mod size.
  std::vector<Original> ring_;
  uint64_t answered_ops_ = 0;       // originals answered (in order)
  uint64_t request_start_ops_ = 0;  // fresh_ops_ when this request began
  uint64_t retries_sent_ = 0;
  uint64_t retries_in_flight_ = 0;
  uint64_t retries_checked_ = 0;
};

}  // namespace coffer::bench
