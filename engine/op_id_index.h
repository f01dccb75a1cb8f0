// The op-id index: the sequencer's memory of op ids beyond its in-memory
// window, on disk in RocksDB (engine/DESIGN.md "Exactly once").
//
// Contract:
// - Derived from the log. Only records of ops the log holds durably, with
//   their final results, are added (the sequencer's feeder checks both), so
//   the index never remembers an op the ledger could lose in a crash.
// - covered_seq(): every op with seq <= covered_seq() is in the index (or
//   was dropped from it for being older than the retention).
// - Each Add is one sorted table file, written, synced and ingested into
//   RocksDB (IngestExternalFile) with covered_seq inside it: atomic and
//   durable when Add returns. No memtable, no RocksDB log: an insert costs a
//   sort and a sequential write (perf: RocksDB's memtable skiplist insert
//   took most of the index's time). After any crash the index is a prefix
//   of what was added, and the sequencer completes it from the log it
//   replays.
// - Retention: a record added at engine time t is found until engine time
//   t + retention_ns (0: forever); after that Find treats it as unknown and
//   compactions delete it. Engine time is the latest `now_ns` given to Add.
// - Errors are returned, never hidden; the sequencer treats every one as
//   fatal (an op-id lookup that cannot be answered must not be guessed).
//
// Thread: one caller at a time (the index writer's thread, or recovery
// before it starts), but covered_seq() from any; RocksDB's own
// background threads flush and compact.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/op_id_table.h"

namespace rocksdb {
class DB;
struct Options;
class PinnableSlice;
class Slice;
class Status;
}  // namespace rocksdb

namespace coffer::internal {

struct OpIdIndexOptions {
  std::string dir;            // created if missing
  uint64_t retention_ns = 0;  // 0: forever
  // RocksDB's block cache (data blocks, filters, indexes): the index's
  // memory bound beyond its write buffers.
  uint64_t block_cache_bytes = uint64_t{64} << 20;
  // What RocksDB's compactions of both stores together may write, in bytes
  // per second (engine/store_dir.h); 0: no limit.
  uint64_t compaction_write_bytes_per_s = 0;
};

class OpIdIndex {
 public:
  // One remembered op as the index holds it.
  struct Entry {
    OpIdTable::Record record;
    uint64_t added_ns = 0;  // engine time when it was added
  };

  static absl::StatusOr<std::unique_ptr<OpIdIndex>> Open(
      const OpIdIndexOptions& options);
  ~OpIdIndex();
  OpIdIndex(const OpIdIndex&) = delete;
  OpIdIndex& operator=(const OpIdIndex&) = delete;

  // Every op with seq <= covered_seq() is in the index; 0 when new.
  // Any thread: the engine checks it after recovery while the writer thread
  // may still be adding (release/acquire: the records are in the index).
  uint64_t covered_seq() const {
    return covered_seq_.load(std::memory_order_acquire);
  }
  const std::string& dir() const { return dir_; }
  // Whether Open created it (no index was there before).
  bool created() const { return created_; }
  // A consistent copy of the index in the new directory `dir` while it
  // serves (engine/store_dir.h CheckpointStore): for an online backup. Any
  // thread.
  absl::Status Checkpoint(const std::string& dir) const;

  // Adds `records` (done, durable in the log) and moves covered_seq to
  // `covered_seq` (never backwards), in one atomic write; `now_ns` is the
  // engine time.
  absl::Status Add(std::span<const OpIdTable::Record> records,
                   uint64_t covered_seq, uint64_t now_ns);
  // Looks every id up; calls found(i, entry) for each ids[i] remembered and
  // inside the retention at engine time `now_ns`.
  absl::Status Find(std::span<const uint64_t> ids, uint64_t now_ns,
                    absl::FunctionRef<void(size_t, const Entry&)> found);

  // Size of one value on disk, before RocksDB's own overhead.
  static constexpr size_t kValueBytes = 48;

 private:
  class RetentionFilter;
  OpIdIndex();

  std::unique_ptr<RetentionFilter> filter_;
  std::unique_ptr<rocksdb::Options> options_;  // also for the table files
  std::unique_ptr<rocksdb::DB> db_;
  uint64_t files_written_ = 0;  // names the next table file
  std::string dir_;
  uint64_t retention_ns_ = 0;
  std::atomic<uint64_t> covered_seq_{0};  // written by Add's caller only
  bool created_ = false;
  // Add's records in key order: (op id, index into the batch), reused
  // (bounded by the largest batch).
  std::vector<std::pair<uint64_t, uint32_t>> order_;
  // Find's buffers, reused (bounded by the largest request).
  std::vector<std::string> keys_;
  std::vector<rocksdb::PinnableSlice> values_;
  std::vector<rocksdb::Slice> slices_;
  std::vector<rocksdb::Status> statuses_;
};

}  // namespace coffer::internal
