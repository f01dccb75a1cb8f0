// Engine settings. Every bound here is what keeps memory and queues finite;
// engine/DESIGN.md says what happens when each is reached.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace coffer::wal {
class Storage;
}

namespace coffer {

// 100 years: op_id_retention_s in nanoseconds stays far inside 64 bits.
inline constexpr uint64_t kOpIdRetentionMaxS = uint64_t{100} * 365 * 86400;
// The highest store_compaction_write_bytes_per_s (1 TB/s): RocksDB's rate
// limiter takes a signed rate and multiplies it by its refill period.
inline constexpr uint64_t kStoreCompactionWriteBytesPerSMax =
    uint64_t{1'000'000'000'000};

// Where start-up stands, for EngineConfig::on_recovery_progress.
struct RecoveryProgress {
  enum class Phase : uint8_t {
    kSnapshotLoaded = 1,  // the newest snapshot is loaded (or there is none)
    kReplaying = 2,       // replaying the log after it (first: 0 ops)
    kReplayed = 3,        // the whole log is replayed (ops_total exact)
  };
  Phase phase = Phase::kSnapshotLoaded;
  uint64_t snapshot_seq = 0;  // the snapshot's state reflects ops 1..this
  uint64_t ops_replayed = 0;  // log ops after the snapshot replayed so far
  // Ops to replay, as the newest log records' headers claim before the
  // replay (wal::EstimateLastSeq); exact at kReplayed.
  uint64_t ops_total = 0;
  double seconds = 0;         // since start-up began
  double replay_seconds = 0;  // since the replay began
  // Replay rate since the previous report (at kReplayed: over the whole
  // replay), so that a slow start does not skew the estimate.
  double ops_per_s = 0;

  // Seconds left at the recent rate; 0 when done or not yet known.
  double eta_seconds() const {
    if (ops_per_s <= 0 || ops_replayed >= ops_total) return 0;
    return (ops_total - ops_replayed) / ops_per_s;
  }
};

struct EngineConfig {
  // --- Durability (wal/FORMAT.md, engine/DESIGN.md "Crash story") ---------
  // Directory of the write-ahead log and snapshots. Empty: in-memory only,
  // nothing is logged and answers are not durable (tests, benchmarks).
  std::string data_dir;
  // Preallocated size of each log segment.
  uint64_t wal_segment_bytes = 64ull << 20;
  // Recovery: a bad record followed by valid ones is corruption and stops
  // start-up; with wal_repair the log is cut at the bad record instead (what
  // follows it is lost, and reported).
  bool wal_repair = false;
  // Take a snapshot after this many bytes of log since the last one (0:
  // only when asked). Log segments are removed once two newer snapshots
  // cover them.
  uint64_t snapshot_every_log_bytes = 256ull << 20;
  // How a snapshot is taken. false (the default): in process, while the
  // shards go on; each record is saved by a walk or just before its first
  // change, whichever comes first (engine/DESIGN.md "Snapshots"). true: a
  // forked child writes the frozen state, after admission pauses for the
  // shards to drain (the older way, kept to compare against).
  bool snapshot_fork = false;
  // Recover the state from data_dir but never write there (no new segment,
  // no log, no snapshots): for audit tools. Writes apply in memory only.
  bool read_only = false;
  // If set, removed log segments are moved here instead, so the whole
  // history stays readable (wal/archive.h). Same file system as data_dir
  // (segments are renamed, not copied). cofferd sets DATA_DIR/archive by
  // default.
  std::string wal_archive_dir;
  // Bound on the archive's segment bytes: beyond it the oldest archived
  // segments are removed after each snapshot. 0: no bound (keep forever).
  uint64_t wal_archive_bytes_max = 0;
  // File system seam (fault injection in tests); nullptr: POSIX.
  wal::Storage* storage = nullptr;
  // Called once if a log write or fsync fails. Nothing is acknowledged after
  // the fault whatever it does; the default prints the error and exits the
  // process with status 70 (a restart recovers from the log).
  std::function<void(const absl::Status&)> on_fatal;
  // Called on the thread creating the engine while it recovers: once the
  // snapshot is loaded, when the replay starts, at most every
  // recovery_progress_interval_ms while it runs (0: after every record),
  // and when it is done. Unset: nothing is reported.
  std::function<void(const RecoveryProgress&)> on_recovery_progress;
  uint32_t recovery_progress_interval_ms = 1000;

  // Shards. 0: one on a machine of at most 2 hardware threads, else one
  // per hardware thread. One shard means the inline layout: the sequencer's
  // thread applies, and syncs the log itself unless a pass is large, so
  // the hot path has no more busy threads than 2 cores (engine/DESIGN.md
  // "Threads").
  uint32_t shard_count = 0;

  // Requests accepted by TrySubmit but not yet taken by the sequencer. When
  // full, TrySubmit returns false and Submit waits. At most 65535 (the
  // lock-free queue's index width).
  uint32_t submit_queue_capacity = 4096;

  // Ops (and reads) ordered but not yet answered. The sequencer stops
  // taking requests from the submit queue while this many are in flight,
  // which is what bounds every queue behind it.
  uint32_t ops_in_flight_max = 1u << 20;

  // Largest request (ops, lookup ids) the engine accepts.
  uint32_t request_ops_max = 8192;

  // How many of the most recent ordered op ids are remembered for
  // exactly-once answers. Must be >= ops_in_flight_max.
  uint64_t op_ids_remembered_max = 1u << 22;

  // Exactly once beyond memory: op ids that leave the in-memory window
  // above are kept in an on-disk index (RocksDB, DATA_DIR/op_ids) for
  // op_id_retention_s. Only with a data_dir, and not read_only.
  bool op_id_index = true;
  // How long the index remembers an op id, in seconds of engine time from
  // when the op is indexed (at most a moment after it is ordered). 0:
  // forever. At most kOpIdRetentionMaxS.
  uint64_t op_id_retention_s = 24 * 3600;
  // How far ahead of the engine's clock a request's issue time
  // (Request::issued_ns) may be, in milliseconds: client clocks run fast. A
  // later one is refused (op_issued_in_future). It is also the margin by
  // which a request must be younger than the in-memory window for its ids
  // to skip the index, so keep it small: 2 s covers NTP-synced servers.
  // Less than op_id_retention_s.
  uint64_t op_issued_future_max_ms = 2000;
  // The index's RocksDB block cache (filters, indexes, data blocks): with
  // its write buffers, the index's memory bound.
  uint64_t op_id_index_cache_bytes = uint64_t{64} << 20;

  // History entries kept in memory per shard (about 104 bytes each).
  uint64_t history_entries_per_shard_max = 1u << 20;
  // History beyond memory: entries that leave it are kept in a store
  // (RocksDB, DATA_DIR/history) and HISTORY pages read on from there, to
  // an account's first entry. Only with a data_dir, and not read_only.
  // Off: they are dropped from memory (the log and archive still hold
  // their ops).
  bool history_store = true;
  // The most history entries a shard keeps in memory beyond
  // history_entries_per_shard_max while the store lags (about 104 bytes
  // each). At it the sequencer admits nothing new until the store catches
  // up; what is already in flight may add two entries per op and its
  // expired holds. At least 1.
  uint64_t history_backlog_entries_max = 1u << 18;
  // The store's RocksDB block cache: with its write buffers, its memory
  // bound.
  uint64_t history_store_cache_bytes = uint64_t{32} << 20;
  // What RocksDB's compactions of the op-id index and the history store
  // together may write to the disk, in bytes per second (0: no limit), so
  // that the log's fdatasync keeps the disk (engine/store_dir.h says what
  // was measured). At the bound the compactions fall behind under
  // sustained load and catch up when it drops. At most
  // kStoreCompactionWriteBytesPerSMax.
  uint64_t store_compaction_write_bytes_per_s = 50'000'000;

  // Requests in flight (each takes one slot in every queue it passes).
  uint32_t requests_in_flight_max = 16384;

  // A closed hold is remembered (a late capture gets hold_already_closed
  // rather than hold_not_found) until this many more ops have been ordered.
  // Counted in ops, not per shard, so the outcome never depends on the
  // shard count.
  uint64_t closed_hold_memory_ops = 1u << 22;

  // Capacity of each shard-to-shard message queue (messages beyond it wait
  // in the sender's backlog, itself bounded by ops_in_flight_max).
  uint32_t peer_queue_capacity = 1u << 16;

  // Iterations a worker polls its empty queues before it sleeps.
  uint32_t idle_spin_iterations = 2000;

  // Engine clock in nanoseconds since the Unix epoch; read only by the
  // sequencer when it stamps a transaction. Default: CLOCK_REALTIME.
  std::function<uint64_t()> clock_ns;

  // Checks the settings; an error names the offending field.
  absl::Status Validate() const;
  // shard_count with 0 resolved.
  uint32_t ResolvedShardCount() const;
};

}  // namespace coffer
