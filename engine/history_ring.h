// A shard's in-memory history: a ring of the newest entries of all its
// accounts, each linked to the previous entry of the same account. Memory is
// capacity * sizeof(Slot) (about 100 bytes an entry), fixed at start-up;
// older entries fall out of memory (the log keeps them: wal/FORMAT.md).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/chunked_array.h"
#include "engine/types.h"

namespace coffer::internal {

class HistoryRing {
 public:
  struct Slot {
    HistoryEntry entry;
    uint64_t prev_pos = 0;  // previous entry of the same account (0: none)
  };

  // Memory grows with use up to `capacity` slots, then the ring wraps.
  explicit HistoryRing(uint64_t capacity) : slots_(capacity) {}

  // Stores an entry; returns its position (1-based, increasing). With zero
  // capacity nothing is stored and 0 is returned.
  uint64_t Append(const HistoryEntry& entry, uint64_t prev_pos) {
    if (slots_.capacity() == 0) return 0;
    const uint64_t pos = next_pos_++;
    Slot& s = slots_.Touch((pos - 1) % slots_.capacity());
    s.entry = entry;
    s.prev_pos = prev_pos;
    return pos;
  }

  // The slot at `pos`, or nullptr if it has fallen out of memory.
  const Slot* At(uint64_t pos) const {
    if (pos == 0 || pos >= next_pos_ || next_pos_ - pos > slots_.capacity()) {
      return nullptr;
    }
    return slots_.Get((pos - 1) % slots_.capacity());
  }

  uint64_t capacity() const { return slots_.capacity(); }

  // Calls fn(entry) for every entry still in memory, oldest first.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    const uint64_t cap = slots_.capacity();
    if (cap == 0) return;
    const uint64_t first = next_pos_ > cap ? next_pos_ - cap : 1;
    for (uint64_t pos = first; pos < next_pos_; ++pos) fn(At(pos)->entry);
  }
  uint64_t appended() const { return next_pos_ - 1; }

 private:
  ChunkedArray<Slot> slots_;
  uint64_t next_pos_ = 1;
};

}  // namespace coffer::internal
