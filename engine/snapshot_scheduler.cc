#include "engine/snapshot_scheduler.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>

#include "common/assert.h"
#include "wal/archive.h"
#include "wal/log_reader.h"
#include "wal/snapshot_file.h"

namespace coffer::internal {
namespace {

uint64_t SteadyNs() {
  return static_cast<uint64_t>(
      std::chrono::steady_clock::now().time_since_epoch().count());
}

void Bump(std::atomic<uint64_t>& counter) {
  // Single writer: a plain load and store, no read-modify-write.
  counter.store(counter.load(std::memory_order_relaxed) + 1,
                std::memory_order_relaxed);
}

}  // namespace

bool SnapshotScheduler::HaveWork() const {
  switch (state_) {
    case State::kIdle:
      return requested_.load(std::memory_order_acquire);
    case State::kDraining:
      return true;
    case State::kWriting:
      return in_process_ != nullptr
                 ? in_process_->done() && in_process_->released()
                 : child_done_.load(std::memory_order_acquire);
  }
  return false;
}

bool SnapshotScheduler::Step(bool shards_idle, uint64_t seq, uint64_t ts_ns) {
  switch (state_) {
    case State::kIdle:
      if (!StartIfDue()) return false;
      if (!config_.snapshot_fork) StartInProcess(seq, ts_ns);
      return true;
    case State::kDraining:
      // Every ordered transaction must be applied (and nothing newer) so
      // the shards' state is exactly the state at `seq`.
      return shards_idle && Fork(seq, ts_ns);
    case State::kWriting:
      return in_process_ != nullptr ? ReapInProcess() : Reap();
  }
  return false;
}

bool SnapshotScheduler::StartIfDue() {
  if (!writer_) return false;
  const bool due =
      config_.snapshot_every_log_bytes != 0 &&
      log_bytes_since_snapshot_ >= config_.snapshot_every_log_bytes;
  if (!due && !requested_.load(std::memory_order_acquire)) return false;
  requested_.store(false, std::memory_order_relaxed);
  state_ = State::kDraining;
  drain_started_ns_ = SteadyNs();
  return true;
}

void SnapshotScheduler::StartInProcess(uint64_t seq, uint64_t ts_ns) {
  COFFER_ASSERT(begin_ != nullptr && !producer_bells_.empty());
  snapshot_seq_ = seq;
  // The producers are the shards, then the sequencer.
  const auto shard_count = static_cast<uint32_t>(producer_bells_.size() - 1);
  in_process_ = std::make_unique<SnapshotWriter>(
      config_.storage, config_.data_dir, seq, ts_ns, shard_count,
      producer_bells_, bell_);
  begin_(in_process_.get(), seq);
  // What ordering waited: the writer's start and the shards' signal (the
  // inline layout's shard copies its holds here too).
  counters_.snapshot_pause_us.store((SteadyNs() - drain_started_ns_) / 1000,
                                    std::memory_order_relaxed);
  log_bytes_since_snapshot_ = 0;
  state_ = State::kWriting;
}

bool SnapshotScheduler::ReapInProcess() {
  // Done, and no producer is still inside Finish (it rings this thread's
  // bell once out).
  if (!in_process_->done() || !in_process_->released()) return false;
  const absl::Status status = in_process_->status();
  const uint64_t bytes = in_process_->bytes_written();
  in_process_.reset();  // its thread has ended: the join is immediate
  if (status.ok()) {
    // One line per snapshot, as Redis logs each BGSAVE: an operator sees
    // how long they take and how large they are.
    std::fprintf(stderr,
                 "coffer: snapshot at seq %llu written: %.1f MB in %.2f s\n",
                 static_cast<unsigned long long>(snapshot_seq_),
                 static_cast<double>(bytes) / 1e6,
                 static_cast<double>(SteadyNs() - drain_started_ns_) / 1e9);
  } else {
    std::fprintf(stderr, "coffer: writing the snapshot: %s\n",
                 std::string(status.message()).c_str());
  }
  OnWritten(status.ok());
  state_ = State::kIdle;
  return true;
}

bool SnapshotScheduler::Fork(uint64_t seq, uint64_t ts_ns) {
  snapshot_seq_ = seq;
  // fork() copies the address space copy-on-write: the child writes the
  // frozen state at leisure while the shards carry on at once. Shards are
  // idle here (no request is with them), and glibc keeps malloc usable in
  // the child.
  const pid_t pid = fork();
  if (pid == 0) {
    const bool ok = writer_(seq, ts_ns);
    _exit(ok ? 0 : 1);
  }
  counters_.snapshot_pause_us.store((SteadyNs() - drain_started_ns_) / 1000,
                                    std::memory_order_relaxed);
  log_bytes_since_snapshot_ = 0;
  if (pid < 0) {
    std::perror("coffer: snapshot fork failed (the log keeps everything)");
    Bump(counters_.snapshot_failures);
    state_ = State::kIdle;
    return true;
  }
  child_done_.store(false, std::memory_order_relaxed);
  reaper_ = std::thread([this, pid] {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    child_status_.store(status, std::memory_order_relaxed);
    child_done_.store(true, std::memory_order_release);
    bell_->Ring();
  });
  state_ = State::kWriting;
  return true;
}

bool SnapshotScheduler::Reap() {
  if (!child_done_.load(std::memory_order_acquire)) return false;
  reaper_.join();
  child_done_.store(false, std::memory_order_relaxed);
  const int status = child_status_.load(std::memory_order_relaxed);
  OnWritten(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  state_ = State::kIdle;
  return true;
}

void SnapshotScheduler::OnWritten(bool ok) {
  if (!ok) {
    std::fprintf(stderr,
                 "coffer: snapshot at seq %llu failed; the log keeps "
                 "everything, will retry after more log\n",
                 static_cast<unsigned long long>(snapshot_seq_));
    Bump(counters_.snapshot_failures);
    return;
  }
  // Keep the two newest snapshots and the log after the older of them, so a
  // damaged newest snapshot can still be recovered from the one before.
  wal::Storage* storage = config_.storage;
  if (previous_snapshot_seq_ != 0) {
    auto removed =
        wal::RemoveSegmentsUpTo(config_.data_dir, previous_snapshot_seq_,
                                config_.wal_archive_dir, storage);
    if (!removed.ok()) {
      std::fprintf(stderr, "coffer: removing old log segments: %s\n",
                   std::string(removed.status().message()).c_str());
    }
    if (!config_.wal_archive_dir.empty()) {
      auto trimmed = wal::TrimArchive(storage, config_.wal_archive_dir,
                                      config_.wal_archive_bytes_max);
      if (!trimmed.ok()) {
        // The archive grows past its bound; the ledger is unaffected.
        std::fprintf(stderr, "coffer: trimming the log archive: %s\n",
                     std::string(trimmed.status().message()).c_str());
      }
    }
    if (absl::Status s = wal::RemoveSnapshotsBefore(storage, config_.data_dir,
                                                    previous_snapshot_seq_);
        !s.ok()) {
      // Harmless for correctness (recovery takes the newest snapshot), but
      // the disk fills: say so.
      std::fprintf(stderr, "coffer: removing old snapshots: %s\n",
                   std::string(s.message()).c_str());
    }
  }
  previous_snapshot_seq_ = snapshot_seq_;
  counters_.snapshot_seq.store(snapshot_seq_, std::memory_order_relaxed);
  Bump(counters_.snapshots);
}

}  // namespace coffer::internal
