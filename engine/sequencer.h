// The sequencer: one thread that puts every request in a single total order.
// It stamps each transaction with its sequence numbers and time, decides
// exactly-once (new op, duplicate of a remembered op, or a reused id), splits
// requests by shard, and completes them when every shard has answered.
// It touches no account: its own state is the op-id table and the waiters.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/config.h"
#include "engine/doorbell.h"
#include "engine/latency_histogram.h"
#include "engine/log_thread.h"
#include "engine/op_id_table.h"
#include "engine/queues.h"
#include "engine/request.h"
#include "engine/shard.h"

namespace coffer::internal {

struct SequencerWiring {
  SubmitQueue* submit = nullptr;
  std::vector<RequestQueue*> to_shard;
  std::vector<RequestQueue*> from_shard;
  std::vector<Doorbell*> shard_bells;
  // The inline layout: the one shard, run on the sequencer's thread, and
  // the log synced there too (engine/DESIGN.md "Threads"). Null otherwise.
  Shard* inline_shard = nullptr;
  const std::atomic<bool>* stop = nullptr;  // finish in-flight work, return
};

struct SequencerCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> ops_sequenced{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> refused_before_ordering{0};
  std::atomic<uint64_t> last_seq{0};
  std::atomic<uint64_t> snapshots{0};
  std::atomic<uint64_t> snapshot_failures{0};
  std::atomic<uint64_t> snapshot_seq{0};
  std::atomic<uint64_t> snapshot_pause_us{0};  // last admission pause
};

// The stages the sequencer sees (it writes them, any thread may read).
// Recorded in Complete for requests that TrySubmit stamped.
struct SequencerStages {
  LatencyHistogram received_submitted_ns;  // only when received_ns != 0
  LatencyHistogram submitted_ordered_ns;
  LatencyHistogram ordered_applied_ns;
  LatencyHistogram applied_released_ns;
};

class Sequencer {
 public:
  Sequencer(const EngineConfig& config, uint32_t shard_count);
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  void Wire(SequencerWiring wiring) { wiring_ = std::move(wiring); }
  Doorbell& bell() { return bell_; }
  const SequencerCounters& counters() const { return counters_; }
  const SequencerStages& stages() const { return stages_; }

  // The worker loop; returns once stop is set and nothing is in flight.
  void Run();

  // Before the threads start: continue after a recovered state whose last
  // op had `last_seq` and last transaction `last_timestamp_ns`.
  void ResumeAfter(uint64_t last_seq, uint64_t last_timestamp_ns) {
    next_seq_ = last_seq + 1;
    last_timestamp_ns_ = last_timestamp_ns;
  }
  // Remembers an op id restored from a snapshot (before threads start).
  void RestoreOpId(const OpIdTable::Record& record) { op_ids_.Restore(record); }
  const OpIdTable& op_ids() const { return op_ids_; }

  // From now on every ordered transaction goes to the log, and no answer is
  // released before the log is durable up to it. Set once, after recovery
  // and before clients are let in.
  void AttachLog(LogThread* log) { log_.store(log, std::memory_order_release); }

  // Snapshots: `writer` runs in a forked child with the state frozen at
  // (seq, last timestamp) and returns whether the snapshot file is safely
  // written. Set before the threads start.
  using SnapshotWriter = std::function<bool(uint64_t seq, uint64_t ts_ns)>;
  void SetSnapshotWriter(SnapshotWriter writer, uint64_t last_snapshot_seq) {
    snapshot_writer_ = std::move(writer);
    previous_snapshot_seq_ = last_snapshot_seq;
  }
  // Asks for a snapshot as soon as possible (any thread).
  void RequestSnapshot() {
    snapshot_requested_.store(true, std::memory_order_release);
    bell_.Ring();
  }

 private:
  bool DrainDone();
  bool AdmitRequests();
  bool HaveWork() const;

  void Sequence(Request* r);
  void SequenceOps(Request* r);
  void SequenceChain(Request* r, uint32_t begin, uint32_t len);
  void AddRefusalReads(Request* r);
  void SequenceReplay(Request* r);
  void OrderTxn(Request* r, uint32_t begin, uint32_t len, uint64_t seq,
                uint64_t timestamp_ns);
  void LogRequest(const Request& r);
  void FlushLog();
  bool ReleaseDurable();
  bool StepSnapshot();
  void OnSnapshotWritten(bool ok);
  void Complete(Request* r);
  // Stamps r->released_ns and records the engine's stages of `r`.
  void RecordStages(Request* r);
  void FailChain(Request* r, uint32_t begin, uint32_t len, uint32_t bad,
                 ResultCode code);
  void AddTxn(Request* r, const Txn& x);
  void Dispatch(Request* r);
  void OnShardsDone(Request* r);
  void MaybeComplete(Request* r);
  uint64_t NextTimestamp();
  static uint32_t CostOf(const Request& r);

  const EngineConfig config_;
  const uint32_t shard_count_;
  SequencerWiring wiring_;
  Doorbell bell_;
  SequencerCounters counters_;
  SequencerStages stages_;

  OpIdTable op_ids_;
  // Duplicates waiting for an original still in flight: op id -> (request,
  // op index).
  absl::flat_hash_map<uint64_t,
                      absl::InlinedVector<std::pair<Request*, uint32_t>, 1>>
      waiters_;
  uint64_t next_seq_ = 1;
  uint64_t last_timestamp_ns_ = 0;
  uint32_t requests_in_flight_ = 0;
  uint64_t ops_in_flight_ = 0;
  Request* held_ = nullptr;  // taken from the queue, waiting for room

  // Durability: answered requests wait here until the log covers their seq.
  std::atomic<LogThread*> log_{nullptr};
  LogChunk* chunk_ = nullptr;  // records being gathered for the next sync
  LogChunk overflow_chunk_;    // used while every LogThread chunk is busy
  uint64_t log_bytes_since_snapshot_ = 0;

  // Snapshots.
  enum class SnapshotState { kIdle, kDraining, kWriting };
  SnapshotState snapshot_state_ = SnapshotState::kIdle;
  SnapshotWriter snapshot_writer_;
  std::atomic<bool> snapshot_requested_{false};
  uint32_t requests_at_shards_ = 0;
  uint64_t snapshot_seq_ = 0;
  uint64_t previous_snapshot_seq_ = 0;
  uint64_t drain_started_ns_ = 0;
  std::thread reaper_;
  std::atomic<bool> child_done_{false};
  std::atomic<int> child_status_{0};

  using Waiting = std::pair<uint64_t, Request*>;
  std::priority_queue<Waiting, std::vector<Waiting>, std::greater<Waiting>>
      durable_wait_;
};

}  // namespace coffer::internal
