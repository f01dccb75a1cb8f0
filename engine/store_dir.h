// What Coffer's two RocksDB stores (the op-id index, the history store) share
// before RocksDB opens them: the directory, the compactions' CPU priority,
// the bound on open files.
#pragma once

#include <string>

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

}  // namespace coffer::internal
