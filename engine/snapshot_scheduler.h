// When to take a snapshot, and what takes it: one job of the sequencer's
// thread, kept apart from ordering (engine/DESIGN.md "Snapshots").
//
// In process (the default):
//   idle ──(log bytes reach snapshot_every_log_bytes, or Request())──▶
//   start: a SnapshotWriter thread, and `begin` (the sequencer's) tells
//   every shard and the op-id walk to take the state at the last ordered
//   seq; nothing waits ──▶ writing ──(the writer published the file, or
//   failed)──▶ idle, old snapshots and log segments removed on success.
//
// With config.snapshot_fork:
//   idle ──(due)──▶ draining: admission pauses until no ordered request is
//   at a shard ──▶ fork: the child writes the state frozen at (seq,
//   timestamp), the parent goes on at once ──▶ writing ──(child exits: a
//   reaper thread waits for it)──▶ idle, as above.
//
// Every method but Request() runs on the sequencer's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "engine/config.h"
#include "engine/doorbell.h"
#include "engine/snapshot_writer.h"

namespace coffer::internal {

struct SnapshotCounters {
  std::atomic<uint64_t> snapshots{0};
  std::atomic<uint64_t> snapshot_failures{0};
  std::atomic<uint64_t> snapshot_seq{0};
  std::atomic<uint64_t> snapshot_pause_us{0};  // last admission pause
};

class SnapshotScheduler {
 public:
  // `writer` runs in the forked child and returns whether the snapshot
  // file is safely written.
  using Writer = std::function<bool(uint64_t seq, uint64_t ts_ns)>;
  // Starts an in-process snapshot at `seq` into `writer` (the sequencer's).
  using Begin = std::function<void(SnapshotWriter* writer, uint64_t seq)>;

  // `bell` is the sequencer's: rung when the child has exited.
  SnapshotScheduler(const EngineConfig& config, Doorbell* bell)
      : config_(config), bell_(bell) {}
  ~SnapshotScheduler() { Join(); }
  SnapshotScheduler(const SnapshotScheduler&) = delete;
  SnapshotScheduler& operator=(const SnapshotScheduler&) = delete;

  // Before the threads start.
  // `producer_bells`: one per SnapshotWriter producer (each shard, then the
  // sequencer), rung when the writer takes that producer's blocks.
  void SetWriter(Writer writer, Begin begin,
                 std::vector<Doorbell*> producer_bells,
                 uint64_t last_snapshot_seq) {
    writer_ = std::move(writer);
    begin_ = std::move(begin);
    producer_bells_ = std::move(producer_bells);
    previous_snapshot_seq_ = last_snapshot_seq;
  }
  // Any thread: take one as soon as possible.
  void Request() { requested_.store(true, std::memory_order_release); }

  void AddLogBytes(uint64_t bytes) { log_bytes_since_snapshot_ += bytes; }
  // While draining, nothing new is ordered.
  bool draining() const { return state_ == State::kDraining; }
  bool writing() const { return state_ == State::kWriting; }
  // Whether Step would make progress (for the sequencer's sleep decision).
  bool HaveWork() const;
  // One step. `shards_idle`: no ordered request is still at a shard, so the
  // state is exactly the state at (`seq`, `ts_ns`). Returns progress.
  bool Step(bool shards_idle, uint64_t seq, uint64_t ts_ns);
  // Waits for the reaper of a child still being written (at stop).
  void Join() {
    if (reaper_.joinable()) reaper_.join();
    in_process_.reset();
  }

  const SnapshotCounters& counters() const { return counters_; }

 private:
  enum class State { kIdle, kDraining, kWriting };

  bool StartIfDue();
  void StartInProcess(uint64_t seq, uint64_t ts_ns);
  bool Fork(uint64_t seq, uint64_t ts_ns);
  bool Reap();
  bool ReapInProcess();
  void OnWritten(bool ok);

  const EngineConfig& config_;
  Doorbell* const bell_;
  SnapshotCounters counters_;
  Writer writer_;
  Begin begin_;
  std::vector<Doorbell*> producer_bells_;
  std::unique_ptr<SnapshotWriter> in_process_;  // while one is written
  State state_ = State::kIdle;
  std::atomic<bool> requested_{false};
  uint64_t log_bytes_since_snapshot_ = 0;
  uint64_t snapshot_seq_ = 0;
  uint64_t previous_snapshot_seq_ = 0;
  uint64_t drain_started_ns_ = 0;
  std::thread reaper_;
  std::atomic<bool> child_done_{false};
  std::atomic<int> child_status_{0};
};

}  // namespace coffer::internal
