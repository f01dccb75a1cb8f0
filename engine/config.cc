#include "engine/config.h"

#include <thread>

#include "absl/strings/str_cat.h"

namespace coffer {

uint32_t EngineConfig::ResolvedShardCount() const {
  if (shard_count != 0) return shard_count;
  const uint32_t n = std::thread::hardware_concurrency();
  // On 2 cores, two shard threads beside the sequencer, the log and the io
  // threads cost more in hand-offs (a futex wake is ~50 us there) than they
  // gain: one core applies millions of ops/s. bench/RESULTS.md has the
  // figures.
  return n <= 2 ? 1 : n;
}

absl::Status EngineConfig::Validate() const {
  const uint32_t shards = ResolvedShardCount();
  if (shards > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard_count ", shards, " exceeds the maximum of 64"));
  }
  if (submit_queue_capacity == 0 || submit_queue_capacity > 65535) {
    return absl::InvalidArgumentError(
        "submit_queue_capacity must be in [1, 65535]");
  }
  if (request_ops_max == 0) {
    return absl::InvalidArgumentError("request_ops_max must be positive");
  }
  if (ops_in_flight_max < request_ops_max) {
    return absl::InvalidArgumentError(
        "ops_in_flight_max must be >= request_ops_max");
  }
  if (op_ids_remembered_max < ops_in_flight_max) {
    return absl::InvalidArgumentError(
        "op_ids_remembered_max must be >= ops_in_flight_max: an op still in "
        "flight must never be forgotten");
  }
  if (op_id_retention_s > kOpIdRetentionMaxS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "op_id_retention_s ", op_id_retention_s, " exceeds the maximum of ",
        kOpIdRetentionMaxS, " (100 years); 0 means forever"));
  }
  if (store_compaction_write_bytes_per_s > kStoreCompactionWriteBytesPerSMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store_compaction_write_bytes_per_s ",
        store_compaction_write_bytes_per_s, " exceeds the maximum of ",
        kStoreCompactionWriteBytesPerSMax, " (1 TB/s); 0 means no limit"));
  }
  if (op_issued_future_max_ms > kOpIdRetentionMaxS) {
    return absl::InvalidArgumentError(
        absl::StrCat("op_issued_future_max_ms ", op_issued_future_max_ms,
                     " exceeds the maximum of ", kOpIdRetentionMaxS));
  }
  if (op_id_retention_s != 0 &&
      op_issued_future_max_ms >= op_id_retention_s * 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("op_issued_future_max_ms (", op_issued_future_max_ms,
                     ") must be less than op_id_retention_s (",
                     op_id_retention_s, ") in milliseconds"));
  }
  if (requests_in_flight_max == 0 || requests_in_flight_max > 1u << 20) {
    return absl::InvalidArgumentError(
        "requests_in_flight_max must be in [1, 1048576]");
  }
  if (history_backlog_entries_max == 0) {
    return absl::InvalidArgumentError(
        "history_backlog_entries_max must be >= 1");
  }
  if (peer_queue_capacity < 2) {
    return absl::InvalidArgumentError("peer_queue_capacity must be >= 2");
  }
  return absl::OkStatus();
}

}  // namespace coffer
