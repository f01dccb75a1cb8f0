// The history store's reader: one thread that reads the part of a history
// page beyond memory, so that a page from the disk (milliseconds when cold,
// tens of them while compactions catch up: bench/RESULTS.md) never holds a
// shard, nor the sequencer that runs the shard in the inline layout.
//
// Contract:
// - A shard hands over a request whose page it has gathered from memory
//   (RequestState::history_store_below set), as its last touch of it. Each
//   shard is one lane: one single-producer queue of `requests_in_flight_max`
//   entries. A shard hands over at most one job per request it holds and
//   the sequencer admits at most that many, so Hand never finds a lane full
//   (asserted).
// - The reader appends the store's entries numbered below
//   `history_store_below` under the same rules (HistoryPage, counting the
//   entries the shard examined), clears `history_store_below`, pushes the
//   request to done() and rings the sequencer's bell. Every entry below
//   that number was in the store when the job was handed (an entry leaves
//   memory only once stored: engine/history_ring.h) and stored entries never
//   change, so the page is the one the shard would have read itself.
// - done(): one single-producer queue to the sequencer, of
//   `requests_in_flight_max` entries; a request there has finished its
//   shard, as if that shard had handed it back.
// - A store error is fatal (on_fatal, then abort): a page that cannot be
//   read must not be answered as the end of the history.
// - The destructor reads what was handed over, then stops the thread; the
//   sequencer must be stopped first (it waits for every request in flight,
//   those here included).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "engine/doorbell.h"
#include "engine/history_store.h"
#include "engine/queues.h"
#include "engine/request.h"

namespace coffer::internal {

class HistoryReader {
 public:
  // `lanes`: one per shard. `before_read`: tests only (called on the
  // reader's thread before each read; empty: nothing).
  HistoryReader(const HistoryStore* store, uint32_t lanes,
                uint32_t requests_in_flight_max, Doorbell* sequencer_bell,
                std::function<void(const absl::Status&)> on_fatal,
                std::function<void()> before_read = {});
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // Shard `lane`'s thread only (the sequencer's in the inline layout).
  void Hand(uint32_t lane, Request* r);
  // The sequencer's thread only: requests whose page is complete.
  RequestQueue* done() { return &done_; }

 private:
  void Run();
  // Completes the oldest request of lane `s`; false if its queue is empty.
  bool ReadOne(size_t s);

  const HistoryStore* const store_;
  Doorbell* const sequencer_bell_;
  const std::function<void(const absl::Status&)> on_fatal_;
  const std::function<void()> before_read_;
  std::vector<std::unique_ptr<RequestQueue>> lanes_;
  RequestQueue done_;
  std::atomic<bool> stop_{false};
  Doorbell bell_;  // rung when a request is handed over or at stop
  std::thread thread_;
};

}  // namespace coffer::internal
