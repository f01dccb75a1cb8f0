#include "bench/load/workload.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "bench/load/checker.h"
#include "engine/partition.h"

namespace coffer::bench {
namespace {

constexpr uint64_t kCounterMask = 0xFFFF'FFFFull;
constexpr uint64_t kAccountsMax = uint64_t{1} << 31;  // uint32 indexes
constexpr uint32_t kShardsMax = 4096;

bool IsPercent(double v) { return std::isfinite(v) && v >= 0 && v <= 100; }

}  // namespace

absl::StatusOr<WorkloadKind> ParseWorkload(std::string_view name) {
  if (name == "debit") return WorkloadKind::kDebit;
  if (name == "transfer") return WorkloadKind::kTransfer;
  if (name == "hot") return WorkloadKind::kHot;
  if (name == "mix") return WorkloadKind::kMix;
  if (name == "retry") return WorkloadKind::kRetry;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown workload '", std::string(name),
                   "' (debit, transfer, hot, mix, retry)"));
}

std::string_view WorkloadName(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::kDebit:
      return "debit";
    case WorkloadKind::kTransfer:
      return "transfer";
    case WorkloadKind::kHot:
      return "hot";
    case WorkloadKind::kMix:
      return "mix";
    case WorkloadKind::kRetry:
      return "retry";
  }
  return "?";
}

absl::Status ValidateWorkload(const WorkloadConfig& c) {
  if (c.accounts == 0 || c.accounts > kAccountsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--accounts must be in 1..", kAccountsMax));
  }
  if (c.kind == WorkloadKind::kTransfer && c.accounts < 2) {
    return absl::InvalidArgumentError("transfer needs --accounts >= 2");
  }
  if (c.first_account == 0 || c.first_account + c.accounts < c.first_account) {
    return absl::InvalidArgumentError(
        "--first_account must be >= 1 and the range must not overflow");
  }
  if (c.amount_max < 1) {
    return absl::InvalidArgumentError("amount_max must be >= 1");
  }
  if (!IsPercent(c.cross_shard_pct) || !IsPercent(c.read_pct) ||
      !IsPercent(c.retry_pct)) {
    return absl::InvalidArgumentError(
        "--cross_shard_pct, --read_pct and --retry_pct must be in 0..100");
  }
  if (!std::isfinite(c.zipf_s) || c.zipf_s <= 0 || c.zipf_s > 10) {
    return absl::InvalidArgumentError("--zipf_s must be in (0, 10]");
  }
  if (c.shard_count > kShardsMax) {
    return absl::InvalidArgumentError("more shards than the bench handles");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const WorkloadTables>> WorkloadTables::Build(
    const WorkloadConfig& config) {
  if (absl::Status s = ValidateWorkload(config); !s.ok()) return s;
  auto t = std::make_shared<WorkloadTables>();
  t->config_ = config;
  if (config.kind == WorkloadKind::kTransfer && config.shard_count > 1) {
    t->by_shard_.resize(config.shard_count);
    t->shard_of_.resize(config.accounts);
    for (uint64_t i = 0; i < config.accounts; ++i) {
      const uint32_t s = ShardOf(config.first_account + i, config.shard_count);
      t->shard_of_[i] = s;
      t->by_shard_[s].push_back(static_cast<uint32_t>(i));
    }
  }
  if (config.kind == WorkloadKind::kHot) {
    t->zipf_ = std::make_unique<ZipfSampler>(config.accounts, config.zipf_s);
  }
  return std::shared_ptr<const WorkloadTables>(std::move(t));
}

OpSource::OpSource(std::shared_ptr<const WorkloadTables> tables,
                   uint32_t connection_index, uint64_t run_tag, uint64_t seed,
                   uint64_t pipeline_ops_max)
    : tables_(std::move(tables)),
      config_(tables_->config()),
      rng_(seed),
      op_id_prefix_(((run_tag & ((uint64_t{1} << 19) - 1)) << 44) |
                    (uint64_t{connection_index & 0xFFF} << 32)) {
  if (config_.kind == WorkloadKind::kRetry) {
    // Large enough that an original is still in the ring when its resend is
    // answered: resends pick from the newest half, and at most
    // pipeline_ops_max ops are sent before an answer arrives.
    ring_.resize(std::bit_ceil(std::max<uint64_t>(4096, 4 * pipeline_ops_max)));
  }
}

void OpSource::FreshOp(LoadOp* op) {
  op->op_id = op_id_prefix_ | (++fresh_ops_ & kCounterMask);
  op->amount = 1 + static_cast<int64_t>(
                       rng_.Below(static_cast<uint64_t>(config_.amount_max)));
  op->to_account_id = 0;
  uint64_t from = 0;
  switch (config_.kind) {
    case WorkloadKind::kHot:
      from = tables_->zipf()->Sample(rng_) - 1;
      op->kind = LoadOpKind::kDebit;
      break;
    case WorkloadKind::kTransfer: {
      from = UniformAccount();
      uint64_t to = from;
      const auto& by_shard = tables_->by_shard();
      if (!by_shard.empty()) {
        const uint32_t shards = static_cast<uint32_t>(by_shard.size());
        const uint32_t home = tables_->shard_of()[from];
        uint32_t target = home;
        if (rng_.Percent(config_.cross_shard_pct)) {
          target = static_cast<uint32_t>((home + 1 + rng_.Below(shards - 1)) %
                                         shards);
        }
        const auto& list = by_shard[target];
        // Bounded: a shard with only `from` in it falls back to any account.
        for (int tries = 0; tries < 8 && to == from && !list.empty(); ++tries) {
          to = list[rng_.Below(list.size())];
        }
      }
      while (to == from) to = UniformAccount();  // accounts >= 2
      op->kind = LoadOpKind::kTransfer;
      op->to_account_id = config_.first_account + to;
      break;
    }
    default:
      from = UniformAccount();
      op->kind = LoadOpKind::kDebit;
      break;
  }
  op->account_id = config_.first_account + from;
  if (!ring_.empty()) {
    Original& o = ring_[fresh_ops_ & (ring_.size() - 1)];
    o.op = *op;
    o.answered = false;
    o.retried = false;
  }
}

bool OpSource::PickRetry(LoadOp* op) {
  const uint64_t half = ring_.size() / 2;
  const uint64_t in_flight = request_start_ops_ - answered_ops_;
  uint64_t n = 0;
  bool chose_in_flight = false;
  if (in_flight > 0 && (rng_.Next() & 1)) {
    n = answered_ops_ + 1 + rng_.Below(in_flight);
    chose_in_flight = true;
  } else {
    const uint64_t answered = std::min(answered_ops_, half);
    if (answered == 0) return false;
    n = answered_ops_ - rng_.Below(answered);
  }
  Original& o = ring_[n & (ring_.size() - 1)];
  if (o.retried || (o.op.op_id & kCounterMask) != (n & kCounterMask)) {
    return false;
  }
  o.retried = true;
  *op = o.op;
  ++retries_sent_;
  if (chose_in_flight) ++retries_in_flight_;
  return true;
}

void OpSource::NextRequest(std::span<LoadOp> ops, std::span<uint8_t> is_retry) {
  request_start_ops_ = fresh_ops_;
  if (config_.kind == WorkloadKind::kMix && rng_.Percent(config_.read_pct)) {
    // A read request: every op a lookup (one LOOKUP frame for Coffer).
    for (size_t i = 0; i < ops.size(); ++i) {
      ops[i] = LoadOp{};
      ops[i].kind = LoadOpKind::kLookup;
      ops[i].account_id = config_.first_account + UniformAccount();
      is_retry[i] = 0;
    }
    return;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    is_retry[i] = 0;
    if (config_.kind == WorkloadKind::kRetry &&
        rng_.Percent(config_.retry_pct) && PickRetry(&ops[i])) {
      is_retry[i] = 1;
      continue;
    }
    FreshOp(&ops[i]);
  }
}

void OpSource::OnAnswered(const LoadOp& op, bool is_retry,
                          const LoadResult& result, CheckLog* log) {
  if (ring_.empty()) return;
  const uint64_t n = op.op_id & kCounterMask;
  Original& o = ring_[n & (ring_.size() - 1)];
  if (!is_retry) {
    ++answered_ops_;
    if (o.op.op_id == op.op_id) {
      o.answered = true;
      o.code = result.code;
      o.duplicate = result.duplicate;
    }
    return;
  }
  ++retries_checked_;
  if (o.op.op_id != op.op_id || !o.answered) {
    log->Fail(absl::StrCat("op id ", op.op_id,
                           ": resend answered but its original is unknown"));
    return;
  }
  if (o.code != result.code) {
    log->Fail(absl::StrCat("op id ", op.op_id, ": resend answered ",
                           std::string(ResultCodeName(result.code)),
                           ", original ", std::string(ResultCodeName(o.code))));
  }
  if (!o.duplicate && !result.duplicate) {
    log->Fail(absl::StrCat("op id ", op.op_id,
                           ": both answers new, not duplicate (applied "
                           "twice)"));
  } else if (o.duplicate && result.duplicate) {
    log->Fail(absl::StrCat("op id ", op.op_id,
                           ": both answers duplicate (no original)"));
  }
}

}  // namespace coffer::bench
