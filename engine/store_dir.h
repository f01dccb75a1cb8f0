// What Coffer's two RocksDB stores (the op-id index, the history store) share
// before RocksDB opens them: the directory, the compactions' CPU priority
// and write limiter, the bound on open files, no write stalls.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace rocksdb {
class DB;
class RateLimiter;
struct Options;
}  // namespace rocksdb

namespace coffer::internal {

// Both stores write table files under this prefix, then ingest them.
inline constexpr char kIngestPrefix[] = "ingest-";

// Creates `dir` if missing (so that RocksDB does not report a new store's
// missing directory as an error), and deletes the table files a crash left
// between writing and ingesting them: what they held is written again from
// the log. Errors are left to RocksDB's open, which names them.
void PrepareStoreDir(const std::string& dir);

// RocksDB's compaction threads (one pool per process, shared by both stores)
// run at nice 19, so that the engine's threads get the CPU first. Why: every
// table file either store ingests overlaps every other file (the newest
// entries of many accounts; random op ids), so RocksDB merges each record
// several times, and at full batched load on 2 cores that merging took
// about 0.7 of a core from the threads that apply and log (perf,
// bench/RESULTS.md "Compactions behind the engine"). Not SCHED_IDLE: on a
// machine that other processes keep busy, an idle-class thread may never
// run. Under sustained full load the compactions fall behind (engine/
// DESIGN.md "History", Compactions). Idempotent.
void LowerCompactionPriority();

// Table files each store keeps open at once (RocksDB's default keeps every
// file open, and a store that compactions have fallen behind on holds
// hundreds): beyond it RocksDB closes the least recently used file and
// opens it again when it is read.
inline constexpr int kStoreOpenFilesMax = 512;

// The one limiter of the bytes per second that RocksDB's compactions (and
// flushes) of both stores may write, shared by every store opened with the
// same rate in this process; null for 0 (no limit). Why: the log's
// fdatasync shares the disk with those writes, and at full batched load on
// the 2-core VM its p50 doubled under them (1.6 to 3.1-3.7 ms per sync of
// about 41k ops), which costs the ledger throughput one for one; with 50 MB/s
// the sync stayed at 1.6-1.8 ms (bench/RESULTS.md "The disk behind the
// log"). At the bound compactions fall behind: lookups of ids beyond memory
// and history pages beyond memory probe more table files until the load
// drops. Table files the stores write themselves (before ingesting them)
// are not limited: they are the stores' intake, which must keep up.
std::shared_ptr<rocksdb::RateLimiter> SharedCompactionWriteLimiter(
    uint64_t bytes_per_s);

// Sets what both stores share: the open-file bound, the compactions' write
// limiter for `compaction_write_bytes_per_s`, and no write stalls. Why none:
// RocksDB's stalls (too many level-0 files, too many pending compaction
// bytes) delay writes through its memtable, which the stores never use, and
// never an ingestion; left on, they only printed "Stopping writes" warnings
// while nothing stopped.
void SetSharedStoreOptions(uint64_t compaction_write_bytes_per_s,
                           rocksdb::Options* options);

// A consistent copy of the live store `db` in the new directory `dir`
// (which must not exist; its parent must): RocksDB's checkpoint, which
// hard-links the table files when `dir` is on the same file system (they
// are immutable) and copies them otherwise. Safe while the store's writer
// ingests: the copy is the store as of one version, whole table files
// only, so its covered_seq is one the store really had (engine/backup.h).
absl::Status CheckpointStore(rocksdb::DB* db, const std::string& dir);

}  // namespace coffer::internal
