// The sequencer: one thread that puts every request in a single total order.
// It stamps each transaction with its sequence numbers and time, decides
// exactly-once (new op, duplicate of a remembered op, or a reused id), splits
// requests by shard, and completes them when every shard has answered.
// Its own state is the op-id table and the waiters. Two more jobs run on its
// thread as components of their own: the durability gate (no answer before
// the log covers it, engine/durability_gate.h) and snapshot scheduling
// (engine/snapshot_scheduler.h). In the inline layout it also runs the one
// shard (Shard::ExecuteRequest).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/config.h"
#include "engine/doorbell.h"
#include "engine/durability_gate.h"
#include "engine/latency_histogram.h"
#include "engine/log_thread.h"
#include "engine/op_id_snapshot_walk.h"
#include "engine/op_id_table.h"
#include "engine/queues.h"
#include "engine/remembered_ops.h"
#include "engine/request.h"
#include "engine/shard.h"
#include "engine/snapshot_scheduler.h"

namespace coffer::internal {

struct SequencerWiring {
  SubmitQueue* submit = nullptr;
  std::vector<RequestQueue*> to_shard;
  // From each shard, then (AttachHistoryReader) from the history reader.
  std::vector<RequestQueue*> from_shard;
  std::vector<Doorbell*> shard_bells;
  // The inline layout: the one shard, run on the sequencer's thread, and
  // the log synced there too (engine/DESIGN.md "Threads"). Null otherwise.
  Shard* inline_shard = nullptr;
  // [s]: shard s's counters, for its history backlog (admission waits
  // while one is at history_backlog_entries_max).
  std::vector<const ShardCounters*> shard_counters;
  // [s]: shard s's history feeding, held still while a snapshot forks.
  std::vector<HistoryFeedPause*> feed_pauses;
  // [s]: how shard s is told to take an in-process snapshot (threaded
  // layout).
  std::vector<SnapshotAnnouncement*> snapshot_announcements;
  const std::atomic<bool>* stop = nullptr;  // finish in-flight work, return
};

struct SequencerCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> ops_sequenced{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> refused_before_ordering{0};
  std::atomic<uint64_t> last_seq{0};
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
  const SnapshotCounters& snapshot_counters() const {
    return snapshots_.counters();
  }
  const SequencerStages& stages() const { return stages_; }

  // The worker loop; returns once stop is set and nothing is in flight.
  void Run();

  // Before the threads start: continue after a recovered state whose last
  // op had `last_seq` and last transaction `last_timestamp_ns`.
  void ResumeAfter(uint64_t last_seq, uint64_t last_timestamp_ns) {
    next_seq_ = last_seq + 1;
    last_timestamp_ns_ = last_timestamp_ns;
  }
  // Before the threads start: op ids beyond the in-memory window go to
  // `index` (owned by the caller), which must outlive the sequencer's run.
  void AttachOpIdIndex(OpIdIndex* index) {
    remembered_.AttachIndex(index, &bell_);
  }
  // Before the threads start: requests whose history page the history
  // reader completed come back through `done` (engine/history_reader.h),
  // like a shard's. Drained with the shards' queues.
  void AttachHistoryReader(RequestQueue* done) {
    wiring_.from_shard.push_back(done);
  }
  // Puts back the op ids of a snapshot taken at (`seq`, `timestamp_ns`),
  // sorted by seq (before threads start).
  absl::Status RestoreOpIds(std::span<const OpIdTable::Record> records,
                            uint64_t seq, uint64_t timestamp_ns) {
    return remembered_.Restore(records, seq, timestamp_ns);
  }
  const OpIdTable& op_ids() const { return remembered_.table(); }
  const RememberedOpsCounters& remembered_counters() const {
    return remembered_.counters();
  }

  // From now on every ordered transaction goes to the log, and no answer is
  // released before the log is durable up to it. Set once, after recovery
  // and before clients are let in.
  // Every op with seq <= durable_seq() is durable in the log (any thread).
  const DurabilityGate& gate() const { return gate_; }
  void AttachLog(LogThread* log) {
    gate_.Attach(log, /*sync_inline=*/wiring_.inline_shard != nullptr);
  }

  // Snapshots. In process (the default) the shards and this thread's
  // op-id walk write them (BeginSnapshot); with config.snapshot_fork,
  // `fork_writer` runs in a forked child with the state frozen at (seq,
  // last timestamp) and returns whether the snapshot file is safely
  // written. Set before the threads start.
  void SetSnapshotWriter(SnapshotScheduler::Writer fork_writer,
                         uint64_t last_snapshot_seq);
  // Asks for a snapshot as soon as possible (any thread).
  void RequestSnapshot() {
    snapshots_.Request();
    bell_.Ring();
  }

 private:
  bool DrainDone();
  bool AdmitRequests();
  // Whether `r`, which takes `cost` seqs and ops, fits every admission
  // bound now: requests and ops in flight, and op-id ring room.
  bool Fits(uint32_t cost) const;
  // Steps the snapshot scheduler; a fork holds history feeding still.
  bool StepSnapshots();
  // The in-process snapshot at `seq` starts: every request ordered up to
  // it is with its shard (or applied, inline), none after it.
  void BeginSnapshot(SnapshotWriter* writer, uint64_t seq);
  // No shard's history backlog is at its bound.
  bool HistoryHasRoom() const;
  // Rings the shards whose history backlog holds admission up: the log may
  // have made more of it durable, so they can hand it over.
  void NudgeHistoryBacklogs();
  bool HaveWork() const;

  void Sequence(Request* r);
  void SequenceOps(Request* r);
  void SequenceChain(Request* r, uint32_t begin, uint32_t len);
  // Judges r->issued_ns (sets request_expired_, memory_only_); false if
  // the whole request is refused for it.
  bool JudgeIssueTime(Request* r);
  void AddRefusalReads(Request* r);
  void SequenceReplay(Request* r);
  void OrderTxn(Request* r, uint32_t begin, uint32_t len, uint64_t seq,
                uint64_t timestamp_ns);
  void Complete(Request* r);
  // Stamps r->released_ns and records the engine's stages of `r`.
  void RecordStages(Request* r);
  void FailChain(Request* r, uint32_t begin, uint32_t len, uint32_t bad,
                 ResultCode code);
  void AddTxn(Request* r, const Txn& x);
  void Dispatch(Request* r);
  // The inline layout: hands the pass's log records to the log thread first
  // when there are enough ops to overlap the sync with their apply, then
  // applies what the pass ordered (inline_ordered_), in seq order.
  void ApplyInlineOrdered();
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

  RememberedOps remembered_;
  // Duplicates waiting for an original still in flight: op id -> (request,
  // op index).
  absl::flat_hash_map<uint64_t,
                      absl::InlinedVector<std::pair<Request*, uint32_t>, 1>>
      waiters_;
  // Of the request being sequenced (JudgeIssueTime).
  bool request_expired_ = false;
  bool memory_only_ = false;
  uint64_t next_seq_ = 1;
  uint64_t last_timestamp_ns_ = 0;
  uint32_t requests_in_flight_ = 0;
  uint64_t ops_in_flight_ = 0;
  Request* held_ = nullptr;  // taken from the queue, waiting for room

  uint32_t requests_at_shards_ = 0;
  // The inline layout's requests ordered this pass and not yet applied:
  // at most one pass's (AdmitRequests' bound), emptied in the same pass.
  std::vector<Request*> inline_ordered_;

  DurabilityGate gate_;
  OpIdSnapshotWalk op_id_walk_;
  SnapshotScheduler snapshots_{config_, &bell_};
};

}  // namespace coffer::internal
