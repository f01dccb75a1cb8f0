// A shard's in-memory history: a ring of the newest entries of all its
// accounts, each linked to the previous entry of the same account.
//
// Contract:
// - Positions are 1-based and increasing; entries live at positions
//   [first_pos(), next_pos()).
// - Without a store (before KeepUntilStored) the ring holds at most
//   `capacity` entries and the oldest falls out as a new one comes in (the
//   log keeps it: wal/FORMAT.md).
// - With a store (engine/history_store.h) an entry leaves memory only once
//   MarkStored has covered its position, and only while the ring holds more
//   than `capacity`: so every entry not in memory is in the store. While the
//   store lags, the ring holds more than `capacity`; how far is bounded by
//   the sequencer's admission (engine/DESIGN.md "History").
// - While pinned at a position, entries at or after it stay in memory (an
//   in-process snapshot copies them; engine/DESIGN.md "Snapshots"): the
//   ring then grows past `capacity` by what comes in meanwhile.
// Memory is about 104 bytes an entry, in chunks of kChunkSlots, allocated as
// the ring fills and reused once emptied.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "common/assert.h"
#include "engine/types.h"

namespace coffer::internal {

class HistoryRing {
 public:
  struct Slot {
    HistoryEntry entry;
    uint64_t prev_pos = 0;  // previous entry of the same account (0: none)
  };
  static constexpr uint64_t kChunkSlots = 4096;

  explicit HistoryRing(uint64_t capacity) : capacity_(capacity) {}

  // From now on entries leave memory only once stored. Before the first
  // Append.
  void KeepUntilStored() {
    COFFER_ASSERT(next_pos_ == 1);
    keep_until_stored_ = true;
  }

  // Stores an entry; returns its position. Without a store and with zero
  // capacity nothing is stored and 0 is returned.
  uint64_t Append(const HistoryEntry& entry, uint64_t prev_pos) {
    if (capacity_ == 0 && !keep_until_stored_) return 0;
    const uint64_t index = next_pos_ - base_pos_;
    if (index / kChunkSlots == chunks_.size()) {
      if (spare_ != nullptr) {
        chunks_.push_back(std::move(spare_));
      } else {
        chunks_.push_back(std::make_unique<Slot[]>(kChunkSlots));
      }
    }
    Slot& s = chunks_[index / kChunkSlots][index % kChunkSlots];
    s.entry = entry;
    s.prev_pos = prev_pos;
    const uint64_t pos = next_pos_++;
    DropOld();
    return pos;
  }

  // The slot at `pos`, or nullptr if it is not in memory.
  const Slot* At(uint64_t pos) const {
    if (pos < first_pos_ || pos >= next_pos_) return nullptr;
    const uint64_t index = pos - base_pos_;
    return &chunks_[index / kChunkSlots][index % kChunkSlots];
  }

  // Every entry at a position <= pos is in the store: it may leave memory.
  void MarkStored(uint64_t pos) {
    COFFER_ASSERT_MSG(pos < next_pos_, "stored a history entry not appended");
    if (pos > stored_pos_) stored_pos_ = pos;
    DropOld();
  }

  // Keeps every entry at a position >= pos in memory; Pin(0) lets go.
  void Pin(uint64_t pos) {
    COFFER_ASSERT(pos == 0 || pos >= pin_pos_ || pin_pos_ == 0);
    pin_pos_ = pos;
    DropOld();
  }

  uint64_t capacity() const { return capacity_; }
  uint64_t first_pos() const { return first_pos_; }
  uint64_t next_pos() const { return next_pos_; }
  uint64_t size() const { return next_pos_ - first_pos_; }
  // Entries in memory beyond the capacity (waiting for the store).
  uint64_t backlog() const {
    return size() > capacity_ ? size() - capacity_ : 0;
  }

  // Calls fn(entry) for every entry in memory, oldest first.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (uint64_t pos = first_pos_; pos < next_pos_; ++pos) fn(At(pos)->entry);
  }

 private:
  void DropOld() {
    while (size() > capacity_ &&
           (!keep_until_stored_ || first_pos_ <= stored_pos_) &&
           (pin_pos_ == 0 || first_pos_ < pin_pos_)) {
      ++first_pos_;
      if (first_pos_ - base_pos_ == kChunkSlots) {
        spare_ = std::move(chunks_.front());  // one kept for reuse
        chunks_.pop_front();
        base_pos_ += kChunkSlots;
      }
    }
  }

  const uint64_t capacity_;
  bool keep_until_stored_ = false;
  std::deque<std::unique_ptr<Slot[]>> chunks_;
  std::unique_ptr<Slot[]> spare_;
  uint64_t base_pos_ = 1;  // position of chunks_[0][0]
  uint64_t first_pos_ = 1;
  uint64_t next_pos_ = 1;
  uint64_t stored_pos_ = 0;
  uint64_t pin_pos_ = 0;  // 0: not pinned
};

}  // namespace coffer::internal
