// An array that grows in fixed-size chunks up to a capacity fixed at
// construction. Unlike std::vector it never copies on growth, so a ring that
// fills up over time costs one allocation per chunk and nothing else.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/assert.h"

namespace coffer::internal {

template <typename T, uint32_t kChunkShift = 14>
class ChunkedArray {
 public:
  static constexpr uint64_t kChunkSize = uint64_t{1} << kChunkShift;

  explicit ChunkedArray(uint64_t capacity) : capacity_(capacity) {
    chunks_.reserve((capacity + kChunkSize - 1) / kChunkSize);
  }

  uint64_t capacity() const { return capacity_; }

  // The element at `index` (< capacity), allocating its chunk on first use.
  T& Touch(uint64_t index) {
    COFFER_ASSERT(index < capacity_);
    const uint64_t c = index >> kChunkShift;
    while (chunks_.size() <= c) {
      chunks_.push_back(std::make_unique<T[]>(kChunkSize));
    }
    return chunks_[c][index & (kChunkSize - 1)];
  }

  // The element at `index`, or nullptr if its chunk was never allocated.
  const T* Get(uint64_t index) const {
    const uint64_t c = index >> kChunkShift;
    if (c >= chunks_.size()) return nullptr;
    return &chunks_[c][index & (kChunkSize - 1)];
  }
  T* Get(uint64_t index) {
    return const_cast<T*>(std::as_const(*this).Get(index));
  }

 private:
  uint64_t capacity_;
  std::vector<std::unique_ptr<T[]>> chunks_;
};

}  // namespace coffer::internal
