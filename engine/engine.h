// Coffer's ledger engine: a sequencer thread and N shard threads joined by
// bounded lock-free queues. See engine/DESIGN.md.
//
//   coffer::Engine engine(config);
//   std::vector<coffer::OpResult> r = engine.Apply({debit_op});
//
// Thread safety: TrySubmit/Submit and the blocking helpers may be called
// from any number of threads at once. Destroying the engine while another
// thread still submits is not allowed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/backup.h"
#include "engine/config.h"
#include "engine/latency_histogram.h"
#include "engine/request.h"
#include "engine/stats.h"
#include "engine/types.h"

namespace coffer {

enum class SubmitResult : uint8_t {
  kAccepted = 0,
  kQueueFull = 1,  // nothing happened: try again later (back-pressure)
  kTooLarge = 2,   // more ops or ids than request_ops_max
  kClosed = 3,     // the engine is shutting down
  kInvalid = 4,    // the request's kind is not a RequestKind
};

// What start-up found in the data directory.
struct RecoveryReport {
  bool from_snapshot = false;
  uint64_t snapshot_seq = 0;
  uint64_t log_records = 0;  // records replayed after the snapshot
  uint64_t log_ops = 0;
  uint64_t last_seq = 0;           // the state now reflects ops 1..last_seq
  std::vector<std::string> notes;  // torn tails cut, damaged snapshots, ...
  double seconds = 0;              // start-up, from Create to ready
  // Of `seconds`: until the snapshot was loaded (or found absent), the
  // stores opened before it included; the rest is the log's replay.
  double snapshot_loaded_seconds = 0;
};

// One stage of the latency breakdown (engine/latency_histogram.h).
struct StageSnapshot {
  Stage stage = Stage::kTotal;
  HistogramSnapshot histogram;
};

class Engine {
 public:
  // Recovers the state from config.data_dir (if set) and starts the
  // threads. Fails on an invalid config or a damaged log or snapshot (the
  // error names the file and offset).
  static absl::StatusOr<std::unique_ptr<Engine>> Create(EngineConfig config);
  ~Engine();  // answers everything in flight, then stops the threads
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Hands a request to the engine without waiting. On kAccepted its
  // on_complete will be called exactly once; otherwise it never is.
  SubmitResult TrySubmit(Request* request);
  // Like TrySubmit, but while the queue is full it yields and tries again.
  SubmitResult Submit(Request* request);

  // Blocking helpers: submit and wait for the answer.
  SubmitResult Execute(Request& request);
  // `issued_ns`: Request::issued_ns (0: unknown).
  std::vector<OpResult> Apply(std::vector<Op> ops, uint64_t issued_ns = 0);
  std::vector<AccountInfo> Lookup(std::vector<uint64_t> account_ids);
  StateDigest Digest();

  // Asks for a snapshot now (with a data_dir); Stats().snapshots counts
  // the ones written.
  void RequestSnapshot();

  // Writes a consistent copy of the data directory to options.dir while
  // the engine serves, and returns when it is published (engine/backup.h
  // has the contract; engine/DESIGN.md "Backup" why it is consistent).
  // Blocks for as long as the copy takes: call it from a thread of your
  // own, never from an engine callback. FailedPrecondition without a
  // data_dir, read_only, or while another backup runs; the destination's
  // problems are named in the error.
  absl::StatusOr<BackupResult> Backup(const BackupOptions& options);

  uint32_t shard_count() const { return shard_count_; }
  // One shard: the sequencer's thread also applies and syncs the log, so a
  // request crosses two hand-offs (caller -> sequencer -> on_complete).
  bool inline_layout() const { return shard_count_ == 1; }
  const RecoveryReport& recovery() const { return recovery_; }
  const EngineConfig& config() const { return config_; }
  EngineStats Stats() const;
  // Files and bytes of the log, the archive and the snapshots, read from
  // the file system now (a directory listing and a stat per file; any
  // thread, never the engine's). Empty without a data_dir. Always through
  // the real file system, not config().storage, whose fault injection
  // counts calls from the log's threads only.
  absl::StatusOr<std::vector<DiskAreaUsage>> MeasureDisk() const;
  // The engine's stages since start: received_submitted (requests with a
  // received_ns), submitted_ordered, ordered_applied, applied_released (one
  // sample per request accepted by TrySubmit, recorded when it completes),
  // log_fsync and log_batch_ops (one per log sync; empty without a log).
  std::vector<StageSnapshot> Stages() const;

 private:
  explicit Engine(EngineConfig config);
  struct Threads;

  void StartThreads();
  absl::Status Recover();
  absl::Status OpenOpIdIndex();
  absl::Status OpenHistoryStore();
  absl::Status LoadSnapshot(uint64_t* last_seq, uint64_t* last_timestamp_ns);
  bool WriteSnapshot(uint64_t seq, uint64_t timestamp_ns);
  // Hands a request to the sequencer, waiting while the queue is full;
  // accepts engine-internal kinds.
  void SubmitInternal(Request* request);

  const EngineConfig config_;
  const uint32_t shard_count_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> backup_running_{false};
  std::unique_ptr<Threads> threads_;
  RecoveryReport recovery_;
};

}  // namespace coffer
