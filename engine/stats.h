// The engine's counters as plain values: what Engine::Stats() returns and
// what the protocol's STATS_REPLY carries. Kept apart from engine/engine.h
// so that the codec (net/codec.h) can hold the engine's own struct without
// pulling in the engine, and the figures reach the wire with no copy by
// hand that a new field could be forgotten in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coffer {

// One shard's counters at one moment. The live, atomic counterpart the
// shard's thread writes is internal::ShardCounters (engine/shard.h);
// Engine::Stats() reads it into this.
struct ShardStats {
  uint64_t txns_applied = 0;
  uint64_t multi_shard_txns = 0;
  uint64_t deferred_txns = 0;
  uint64_t accounts = 0;
  bool operator==(const ShardStats&) const = default;
};

struct EngineStats {
  uint64_t requests = 0;
  uint64_t ops_sequenced = 0;
  uint64_t duplicates = 0;
  uint64_t refused_before_ordering = 0;
  uint64_t last_seq = 0;
  uint64_t durable_seq = 0;  // 0 without a log
  uint64_t log_syncs = 0;    // 0 without a log
  uint64_t log_records = 0;  // 0 without a log
  uint64_t snapshots = 0;    // written since start
  uint64_t snapshot_failures = 0;
  uint64_t snapshot_seq = 0;  // seq of the newest one written
  // How long ordering stopped to start the last snapshot: in process, the
  // writer's start and the signal to the shards; with snapshot_fork, the
  // drain and the fork.
  uint64_t snapshot_pause_us = 0;
  // The op-id index (0 without one): every op up to op_ids_indexed_seq is
  // in it; ids looked up there (not in memory), and found there.
  uint64_t op_ids_indexed_seq = 0;
  uint64_t op_id_index_lookups = 0;
  uint64_t op_ids_found_on_disk = 0;
  // The history store (0 without one): every entry of an op up to
  // history_stored_seq is in it (the inline layout advances it; see
  // HistoryStoreWriter), and the entries written to it since start.
  uint64_t history_stored_seq = 0;
  uint64_t history_entries_stored = 0;
  std::vector<ShardStats> shards;  // one per shard, by shard index
  bool operator==(const EngineStats&) const = default;
  // Ops ordered but not yet fsynced (0 without a log).
  uint64_t durability_lag() const {
    return durable_seq == 0 || last_seq < durable_seq ? 0
                                                      : last_seq - durable_seq;
  }
};

// Disk use by area, as DISK_REPLY carries it (net/PROTOCOL.md). The
// numbers are wire format: never renumber, only append.
enum class DiskArea : uint16_t {
  kLog = 1,           // the live log's segments in data_dir
  kArchive = 2,       // archived segments (wal_archive_dir)
  kSnapshots = 3,     // snapshot files in data_dir, writes in progress included
  kOpIdIndex = 4,     // the on-disk op-id index (data_dir/op_ids, RocksDB)
  kHistoryStore = 5,  // history beyond memory (data_dir/history, RocksDB)
};

// The area's name in `coffer stats` and /metrics; "area_N" for a number
// that is not a DiskArea (a newer server's).
inline std::string DiskAreaName(DiskArea area) {
  switch (area) {
    case DiskArea::kLog:
      return "log";
    case DiskArea::kArchive:
      return "archive";
    case DiskArea::kSnapshots:
      return "snapshots";
    case DiskArea::kOpIdIndex:
      return "op_id_index";
    case DiskArea::kHistoryStore:
      return "history_store";
  }
  return "area_" + std::to_string(static_cast<uint16_t>(area));
}

struct DiskAreaUsage {
  DiskArea area = DiskArea::kLog;
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool operator==(const DiskAreaUsage&) const = default;
};

}  // namespace coffer
