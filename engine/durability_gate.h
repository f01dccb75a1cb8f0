// The durability gate: no answer leaves the engine before the log holds
// everything it reflects. One job of the sequencer's thread, kept apart
// from ordering (engine/DESIGN.md "Durability").
//
// Append gathers the log records of each ordered request into a chunk;
// Flush hands the chunk to the log thread, or, in the inline layout, writes
// and syncs it right there. A request whose answer reflects seqs the log
// does not yet hold waits in Hold until Release finds the log durable up to
// its seq. Without a log (in memory) nothing waits.
//
// Every method runs on the sequencer's thread; Attach may be called once
// from the thread that recovers the engine while the sequencer runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <queue>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "engine/log_thread.h"
#include "engine/request.h"

namespace coffer::internal {

class DurabilityGate {
 public:
  // From now on every ordered transaction goes to `log`, and Hold keeps
  // every answer the log does not yet cover. `sync_inline`: Flush may sync
  // on the calling thread (see Flush).
  void Attach(LogThread* log, bool sync_inline) {
    sync_inline_ = sync_inline;
    log_.store(log, std::memory_order_release);
  }

  // Encodes the ordered transactions of `r` (every one of r.internal.txns:
  // call it before any read is added) into the chunk being gathered.
  // `next_seq` is the sequencer's next seq: the request must be the last
  // one ordered. Returns the bytes added (0: no log, or nothing ordered).
  uint64_t Append(const Request& r, uint64_t next_seq);
  // Hands what was gathered over to be made durable. In the inline layout
  // it syncs it here instead, unless `hand_over` (the caller has work to do
  // while the disk syncs) or the log thread is still syncing: then the log
  // thread syncs it (engine/DESIGN.md "Threads and queues").
  void Flush(bool hand_over);
  // Ops in the records gathered since the last Flush.
  uint64_t gathered_ops() const { return gathered_ops_; }
  // True if `r`, complete otherwise, must wait for the log to cover r.seq;
  // it is then kept and handed back by Release.
  bool Hold(Request* r);
  // Calls `release` for every kept request the log now covers, in seq
  // order. Returns whether it released any.
  bool Release(absl::FunctionRef<void(Request*)> release);
  // Something kept is now covered (for the sequencer's sleep decision).
  bool HaveWork() const;
  // Every op with seq <= this is durable in the log. Before a log is
  // attached (recovery's replay, or an engine without a log) everything
  // ordered is: UINT64_MAX.
  uint64_t durable_seq() const {
    LogThread* l = log();
    return l == nullptr ? UINT64_MAX : l->durable_seq();
  }

 private:
  LogThread* log() const { return log_.load(std::memory_order_acquire); }

  std::atomic<LogThread*> log_{nullptr};
  bool sync_inline_ = false;
  uint64_t gathered_ops_ = 0;
  LogChunk* chunk_ = nullptr;  // records being gathered for the next sync
  LogChunk overflow_chunk_;    // used while every LogThread chunk is busy
  // Bounded by the requests in flight (the sequencer's admission bound).
  using Waiting = std::pair<uint64_t, Request*>;
  std::priority_queue<Waiting, std::vector<Waiting>, std::greater<Waiting>>
      durable_wait_;
};

}  // namespace coffer::internal
