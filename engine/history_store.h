// The history store: every history entry that leaves a shard's memory, on
// disk in RocksDB (engine/DESIGN.md "History"), so that HISTORY pages go
// on past memory to an account's first entry.
//
// Contract:
// - Keys: the account id (8 bytes, big-endian), then the entry number's
//   complement (4 bytes, big-endian): an account's entries sit together,
//   newest first in key order, so a page is one seek and a forward scan.
//   Values: the 96-byte HistoryEntry, as snapshots hold it. One more key,
//   the single byte 0x00, holds covered_seq (8 bytes, little-endian): it
//   sorts before every entry key and inside no account's range.
// - Derived from the log. Only entries of ops the log holds durably are
//   added (the shard checks), and an entry's fields are a function of the
//   log, so adding one again (after a restart) writes the same bytes.
// - Each Add is one sorted table file, written, synced and ingested into
//   RocksDB (IngestExternalFile): durable when it returns. A shard lets an
//   entry leave memory only after that (engine/history_ring.h). No
//   memtable, no RocksDB log: perf showed RocksDB's skiplist inserts taking
//   most of an Add (7 us an entry) when entries went through a write batch.
// - Errors are returned, never hidden; the engine treats each as fatal.
//
// Thread: Add from one thread at a time (the store's writer); Read from any
// number of threads at once (RocksDB's reads are thread-safe).
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
#include "engine/types.h"

namespace rocksdb {
class DB;
struct Options;
}  // namespace rocksdb

namespace coffer::internal {

struct HistoryStoreOptions {
  std::string dir;  // created if missing
  // RocksDB's block cache (data and index blocks): the store's memory bound
  // beyond its write buffers.
  uint64_t block_cache_bytes = uint64_t{32} << 20;
  // What RocksDB's compactions of both stores together may write, in bytes
  // per second (engine/store_dir.h); 0: no limit.
  uint64_t compaction_write_bytes_per_s = 0;
};

class HistoryStore {
 public:
  static absl::StatusOr<std::unique_ptr<HistoryStore>> Open(
      const HistoryStoreOptions& options);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  const std::string& dir() const { return dir_; }

  // Adds (or writes again) `entries`, durably, and in the same table file
  // moves covered_seq to `covered_seq` (never backwards).
  absl::Status Add(std::span<const HistoryEntry> entries,
                   uint64_t covered_seq = 0);
  // Every entry of an op with seq <= covered_seq() is in the store (the
  // writer's claim, see HistoryStoreWriter); 0 for a new store or one
  // written before covered_seq existed. Read at Open, then Add's.
  uint64_t covered_seq() const {
    return covered_seq_.load(std::memory_order_acquire);
  }
  // Entries Add wrote since Open (any thread).
  uint64_t entries_written() const {
    return entries_written_.load(std::memory_order_relaxed);
  }
  // Calls fn(entry) for the entries of `account_id` numbered below `below`,
  // newest first, until fn returns false or none is left.
  absl::Status Read(uint64_t account_id, uint32_t below,
                    absl::FunctionRef<bool(const HistoryEntry&)> fn) const;

  // Compacts the whole store now and returns when done (for benchmarks and
  // tools: RocksDB compacts by itself as files come in).
  absl::Status CompactAll();

  // A consistent copy of the store in the new directory `dir` while it
  // serves (engine/store_dir.h CheckpointStore): for an online backup. Any
  // thread.
  absl::Status Checkpoint(const std::string& dir) const;

  static constexpr size_t kKeyBytes = 12;
  static constexpr size_t kValueBytes = sizeof(HistoryEntry);

 private:
  HistoryStore() = default;

  std::unique_ptr<rocksdb::Options> options_;  // also for the table files
  std::unique_ptr<rocksdb::DB> db_;
  std::string dir_;
  uint64_t files_written_ = 0;  // names the next table file
  // Written by Add's caller only; read from any thread.
  std::atomic<uint64_t> covered_seq_{0};
  std::atomic<uint64_t> entries_written_{0};
  std::vector<const HistoryEntry*> sorted_;  // Add's, reused
};

}  // namespace coffer::internal
