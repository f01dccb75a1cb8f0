// Group commit: one thread that writes the sequencer's log records and
// fdatasyncs them, many records per sync. The sequencer fills a LogChunk
// while the previous sync is in progress and hands it over when the thread
// is ready, so the number of records per fsync grows with the load (the
// LevelDB DBImpl::Write idea, without its mutex). In the inline layout the
// sequencer syncs small passes itself (SyncNow) while the thread is idle.
//
// A write or sync error is fatal: the thread reports it through on_fatal and
// never advances durable_seq again, so nothing after the fault is ever
// acknowledged. The default on_fatal prints the error and exits the process
// (a restart recovers from the log); fsync is never retried.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/doorbell.h"
#include "engine/latency_histogram.h"
#include "engine/queues.h"
#include "wal/log_writer.h"

namespace coffer::internal {

struct LogChunk {
  struct Span {
    uint64_t first_seq;
    uint64_t last_seq;
    size_t offset;
    size_t size;
  };
  std::string bytes;
  std::vector<Span> records;
  void Clear() {
    bytes.clear();
    records.clear();
  }
  bool empty() const { return records.empty(); }
};

class LogThread {
 public:
  // Chunks circulate between the sequencer and this thread; more than this
  // many in flight means the sequencer keeps filling its current one.
  static constexpr uint32_t kChunks = 64;

  LogThread(std::unique_ptr<wal::LogWriter> writer, Doorbell* sequencer_bell,
            std::function<void(const absl::Status&)> on_fatal);
  ~LogThread();  // stops and joins the thread

  void Start();

  // Sequencer side. Returns a chunk to fill, or nullptr if all are busy.
  LogChunk* TakeFree();
  // Hands a filled chunk over; never fails (there are kChunks slots).
  void Submit(LogChunk* chunk);
  // The inline layout (engine/DESIGN.md "Threads"): writes and fdatasyncs
  // `chunk` on the calling thread, then recycles it, with the same contract
  // as the thread (durable_seq advances only after the sync; a failure is
  // fatal and sticky). Only while idle(): the writer then belongs to the
  // caller until its next Submit.
  void SyncNow(LogChunk* chunk);
  // Every submitted chunk is written, synced (or the log has failed) and
  // recycled, and the thread no longer touches the writer: true before
  // Start, and after the thread finished the last chunk it was handed
  // (acquire: its writes to the writer happen before the caller's). For
  // the submitting thread only: nobody else may Submit meanwhile.
  bool idle() const {
    return unsynced_chunks_.load(std::memory_order_acquire) == 0;
  }

  // Last seq known to be on stable storage.
  uint64_t durable_seq() const {
    return durable_seq_.load(std::memory_order_acquire);
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t records() const { return records_.load(std::memory_order_relaxed); }
  // Per successful sync: the time to write and fdatasync the batch, and
  // the ops it made durable. Written by whichever thread holds the writer
  // (the log thread, or SyncNow's caller while idle()).
  const LatencyHistogram& fsync_ns() const { return fsync_ns_; }
  const LatencyHistogram& batch_ops() const { return batch_ops_; }

 private:
  void Run();
  // Writes and syncs every record of `batch`, then recycles its chunks.
  // Returns whether it synced them (false once the log has failed).
  bool WriteAndSync(std::vector<LogChunk*>& batch);

  std::unique_ptr<wal::LogWriter> writer_;
  Doorbell* sequencer_bell_;
  std::function<void(const absl::Status&)> on_fatal_;
  std::vector<std::unique_ptr<LogChunk>> chunks_;
  boost::lockfree::spsc_queue<LogChunk*> filled_{kChunks};
  boost::lockfree::spsc_queue<LogChunk*> free_{kChunks};
  Doorbell bell_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> durable_seq_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> records_{0};
  // Chunks submitted and not yet recycled by the thread (idle()).
  std::atomic<uint32_t> unsynced_chunks_{0};
  LatencyHistogram fsync_ns_;
  LatencyHistogram batch_ops_;
  std::thread thread_;
  std::vector<LogChunk*> inline_batch_;  // SyncNow's, kept to reuse
};

}  // namespace coffer::internal
