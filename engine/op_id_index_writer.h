// The op-id index's writer: one thread that adds the sequencer's batches
// of records to the index, so that RocksDB's memtable inserts (measured:
// 40% of the sequencer's time when done in place) run beside ordering,
// not in it.
//
// Contract:
// - Batches are handed over through a bounded single-producer queue
//   (kBatchesInFlightMax); TryHand returns false when it is full and the
//   caller keeps its batch and tries again later.
// - written_seq(): every record of every batch up to that covered seq is in
//   the index and visible to Find (acquire; the store follows the write).
// - The sequencer's bell rings after each batch is written.
// - An index error is fatal (on_fatal, then abort), like a failed log sync.
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
#include "engine/op_id_index.h"
#include "engine/op_id_table.h"

namespace coffer::internal {

class OpIdIndexWriter {
 public:
  struct Batch {
    std::vector<OpIdTable::Record> records;  // seqs increasing
    uint64_t covered_seq = 0;                // the last record's seq
    uint64_t now_ns = 0;                     // engine time
  };
  static constexpr size_t kBatchesInFlightMax = 8;

  OpIdIndexWriter(OpIdIndex* index, Doorbell* sequencer_bell,
                  std::function<void(const absl::Status&)> on_fatal);
  ~OpIdIndexWriter();
  OpIdIndexWriter(const OpIdIndexWriter&) = delete;
  OpIdIndexWriter& operator=(const OpIdIndexWriter&) = delete;

  // Hands `batch` over (taking it) unless the queue is full.
  bool TryHand(std::unique_ptr<Batch>& batch);
  bool full() const { return queue_.write_available() == 0; }
  uint64_t written_seq() const {
    return written_seq_.load(std::memory_order_acquire);
  }

 private:
  void Run();

  OpIdIndex* const index_;
  Doorbell* const sequencer_bell_;
  const std::function<void(const absl::Status&)> on_fatal_;
  boost::lockfree::spsc_queue<Batch*> queue_{kBatchesInFlightMax};
  std::atomic<uint64_t> written_seq_{0};
  std::atomic<bool> stop_{false};
  Doorbell bell_;  // rung when a batch is handed over or at stop
  std::thread thread_;
};

}  // namespace coffer::internal
