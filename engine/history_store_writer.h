// The history store's writer: one thread that writes the entries shards
// hand over as they leave memory (engine/history_ring.h), so that the
// store's synced writes never hold a shard or the sequencer.
//
// Contract:
// - One bounded single-producer queue per shard (kBatchesInFlightMax):
//   TryHand returns false when that shard's queue is full, and the shard
//   keeps the entries in memory and tries again later.
// - stored_pos(shard): every entry of every batch of that shard up to that
//   ring position is durable in the store (acquire; the store follows the
//   write).
// - covered_seq: every entry with a seq up to the smallest of the lanes'
//   Batch::through_seq is stored (lanes that wrote nothing yet count as the
//   store's covered_seq at start: entries written before a restart stay
//   written). Each Add records that bound in the store, so
//   that after a restart the shards need not write again the entries that
//   replay puts back in memory (Shard::CutHistoryBatch).
// - After each batch the writer rings the shard's bell: it may now let
//   entries go (and rings the sequencer, whose admission waits on shard
//   backlogs).
// - A store error is fatal (on_fatal, then abort), like a failed log sync.
// - The destructor writes what was handed over, then stops the thread.
#pragma once

#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/doorbell.h"
#include "engine/history_store.h"

namespace coffer::internal {

class HistoryStoreWriter {
 public:
  struct Batch {
    std::vector<HistoryEntry> entries;  // in ring order
    uint64_t last_pos = 0;              // ring position of the last entry
    // Every entry of the shard with a seq up to this one is in this batch
    // or an earlier one (0: no such claim; Shard::HistoryThroughSeq). Only
    // the inline layout claims it, where entries reach the ring in seq
    // order (a shard of the threaded layout applies later transactions
    // while an earlier one waits for a peer), and only past the entries a
    // snapshot of more shards restored out of seq order.
    uint64_t through_seq = 0;
  };
  static constexpr size_t kBatchesInFlightMax = 4;

  // `bells[s]`: the doorbell of shard s's thread (the sequencer's in the
  // inline layout).
  HistoryStoreWriter(HistoryStore* store, std::vector<Doorbell*> bells,
                     std::function<void(const absl::Status&)> on_fatal);
  ~HistoryStoreWriter();
  HistoryStoreWriter(const HistoryStoreWriter&) = delete;
  HistoryStoreWriter& operator=(const HistoryStoreWriter&) = delete;

  // Shard `shard`'s thread only: hands `batch` over (taking it) unless the
  // shard's queue is full.
  bool TryHand(uint32_t shard, std::unique_ptr<Batch>& batch);
  bool full(uint32_t shard) const {
    return lanes_[shard]->queue.write_available() == 0;
  }
  uint64_t stored_pos(uint32_t shard) const {
    return lanes_[shard]->stored_pos.load(std::memory_order_acquire);
  }

 private:
  struct Lane {
    boost::lockfree::spsc_queue<Batch*> queue{kBatchesInFlightMax};
    std::atomic<uint64_t> stored_pos{0};
    uint64_t stored_through_seq = 0;  // the writer thread's only
  };
  // The covered_seq that the store may record once lane `s` has written up
  // to seq `through` (the writer thread's only).
  uint64_t CoveredAfter(size_t s, uint64_t through);
  void Run();
  // Writes the oldest batch of lane `s`; false if its queue is empty.
  bool WriteOne(size_t s);

  HistoryStore* const store_;
  const std::vector<Doorbell*> bells_;
  const std::function<void(const absl::Status&)> on_fatal_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::atomic<bool> stop_{false};
  Doorbell bell_;  // rung when a batch is handed over or at stop
  std::thread thread_;
};

}  // namespace coffer::internal
