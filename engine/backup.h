// Online backup: a consistent copy of a live engine's data directory, made
// while the engine serves (engine/DESIGN.md "Backup"; Engine::Backup, the
// protocol's BACKUP, `coffer backup DIR`).
//
// Contract:
// - What is copied: the newest snapshot that verifies (snap-S.snap, S = 0
//   if there is none), RocksDB checkpoints of the op-id index and the
//   history store, and the log segments from the one holding seq S + 1 to
//   the durable end D the backup read after those checkpoints, the last of
//   them cut just past D's record. Not the archive (old segments that
//   recovery never reads) and no log record beyond D (one the live log
//   could still lose, so the copy is always a prefix of what the live
//   server will ever hold).
// - Result: `Engine::Create` on the copy recovers exactly the state after
//   ops 1..seq (seq = max(S, D)): the state the live server had at seq,
//   with every op of 1..seq remembered for exactly-once answers. Why that
//   holds is in engine/DESIGN.md "Backup".
// - Atomic: everything is written into a temporary directory beside the
//   destination ("DIR.tmp-XXXXXX", holding kBackupIncompleteMarker until
//   the end), synced (every file and directory), then renamed to DIR and
//   the parent synced. A crash or an error before the rename leaves no DIR;
//   Engine::Create refuses a directory holding the marker, so a leftover
//   temporary directory is never mistaken for a backup. An error removes
//   the temporary directory.
// - Never on the money path: it runs on the caller's thread (never call it
//   from an engine thread or an io thread) and touches the engine only
//   through an atomic load (the durable seq) and RocksDB's checkpoints;
//   files are read through descriptors opened when chosen, so the
//   engine's snapshot clean-up and archiving may go on meanwhile.
// - One at a time per engine: a second call while one runs fails at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace coffer {

// In a backup's temporary directory until it is complete and renamed.
inline constexpr char kBackupIncompleteMarker[] = "BACKUP_INCOMPLETE";

struct BackupOptions {
  // Where the copy goes: an absolute path on this host that does not
  // exist or is an empty directory; its parent must exist.
  std::string dir;
  // Set by another thread to stop the backup at its next chunk (1 MiB);
  // it then fails with kCancelled and leaves nothing at `dir`.
  const std::atomic<bool>* cancel = nullptr;
  // Tests: called before each step with its name ("snapshot", "stores",
  // "log", "sync", "publish"); an error ends the backup there, as a
  // failure at that step would.
  std::function<absl::Status(std::string_view step)> before_step;
  // Tests: on failure, leave the temporary directory as a crash at that
  // point would (marker included) instead of removing it.
  bool keep_temp_on_failure = false;
};

struct BackupResult {
  std::string dir;            // the published copy (normalized)
  uint64_t seq = 0;           // the copy holds the state after ops 1..seq
  uint64_t snapshot_seq = 0;  // its snapshot's seq; 0: none (log from 1)
  uint64_t files = 0;
  uint64_t bytes = 0;  // of every file in the copy
  double seconds = 0;
};

}  // namespace coffer

namespace coffer::internal {

class OpIdIndex;
class HistoryStore;

// What a backup reads from the engine (Engine::Backup fills it).
struct BackupSources {
  std::string data_dir;
  // Where the engine moves old segments (may be empty): a segment chosen
  // but moved there before it was opened is found there.
  std::string archive_dir;
  // The log's durable end now (at least the seq recovery ended at).
  std::function<uint64_t()> durable_seq;
  OpIdIndex* op_id_index = nullptr;       // nullptr: none
  HistoryStore* history_store = nullptr;  // nullptr: none
};

absl::StatusOr<BackupResult> WriteBackup(const BackupSources& sources,
                                         const BackupOptions& options);

}  // namespace coffer::internal
