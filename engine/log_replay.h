// Start-up's replay of the log after the snapshot (engine/DESIGN.md
// "Recovery"): records are read in seq order (wal::ReadLog checks each),
// merged into replay requests of at most 4,096 ops, and handed to the
// running pipeline with a few in flight; a progress report goes to
// EngineConfig::on_recovery_progress every recovery_progress_interval_ms.
//
// Contract:
// - Runs on the thread that creates the engine, after the engine's threads
//   started; `submit` hands one request to the sequencer (waiting while its
//   queue is full).
// - Returns once every replay request was answered (they live here), with
//   ReadLog's report, or the first error: a record of an unknown type, a
//   seq that does not follow the state (`after_seq`), undecodable contents,
//   or ReadLog's own.
// - report->log_records and log_ops count what was replayed, and
//   report->last_seq is the seq the state reflects now.
#pragma once

#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config.h"
#include "engine/engine.h"
#include "engine/log_codec.h"
#include "engine/request.h"
#include "wal/log_reader.h"

namespace coffer::internal {

class LogReplay {
 public:
  // `started`: when start-up began (progress counts seconds from there).
  LogReplay(const EngineConfig& config, std::function<void(Request*)> submit,
            std::chrono::steady_clock::time_point started);

  // Replays every record after `after_seq` (the snapshot's seq, 0: none).
  absl::StatusOr<wal::ReadReport> Run(uint64_t after_seq,
                                      RecoveryReport* report);

 private:
  // The replay requests: a few in flight, several log records merged into
  // each; reused as the sequencer answers them (on_complete, on its
  // thread).
  class Pool {
   public:
    static constexpr uint32_t kInFlight = 16;
    Pool();
    Request* Take();  // waits for a free one, emptied
    // Until every one is answered; the pool is empty afterwards.
    void WaitForAll();

   private:
    std::vector<std::unique_ptr<Request>> requests_;
    boost::lockfree::spsc_queue<Request*> free_{kInFlight};
  };

  // One record: checked, decoded and merged into the current request.
  absl::Status Add(const wal::Record& record, RecoveryReport* report);
  void Flush();  // hands the current request to the sequencer
  // Reports progress if the interval passed since the last report (or
  // `force`).
  void MaybeReport(RecoveryProgress::Phase phase, bool force);

  const EngineConfig& config_;
  const std::function<void(Request*)> submit_;
  const std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point replay_started_;
  std::chrono::steady_clock::time_point last_report_;
  uint64_t last_report_ops_ = 0;
  RecoveryProgress progress_;
  const size_t ops_per_request_;
  Pool pool_;
  Request* current_ = nullptr;
  uint64_t expect_ = 0;  // the seq the next record must start at
  LoggedRequest decoded_;
};

}  // namespace coffer::internal
