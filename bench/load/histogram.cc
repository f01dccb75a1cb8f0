#include "bench/load/histogram.h"

#include <algorithm>
#include <cmath>

namespace coffer::bench {

uint32_t LogHistogram::BucketOf(uint64_t value) {
  if (value < 2 * kSubBuckets) return static_cast<uint32_t>(value);
  const uint32_t msb = 63 - static_cast<uint32_t>(__builtin_clzll(value));
  const uint32_t shift = msb - kSubBucketBits;  // value >> shift in [S, 2S)
  return static_cast<uint32_t>((shift + 1) * kSubBuckets +
                               ((value >> shift) - kSubBuckets));
}

uint64_t LogHistogram::BucketLow(uint32_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint32_t shift = index / kSubBuckets - 1;
  const uint64_t top = kSubBuckets + index % kSubBuckets;
  return top << shift;
}

uint64_t LogHistogram::BucketHigh(uint32_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint32_t shift = index / kSubBuckets - 1;
  return BucketLow(index) + ((uint64_t{1} << shift) - 1);
}

void LogHistogram::RecordN(uint64_t value, uint64_t n) {
  if (n == 0) return;
  const uint32_t i = BucketOf(value);
  buckets_[i] += n;
  count_ += n;
  sum_ += static_cast<unsigned __int128>(value) * n;
  max_ = std::max(max_, value);
  min_ = std::min(min_, value);
  lowest_index_ = std::min(lowest_index_, i);
  highest_index_ = std::max(highest_index_, i);
}

void LogHistogram::Add(const LogHistogram& other) {
  if (other.count_ == 0) return;
  for (uint32_t i = other.lowest_index_; i <= other.highest_index_; ++i) {
    buckets_[i] += other.buckets_[i];
  }
  count_ += other.count_;
  sum_ += other.sum_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
  lowest_index_ = std::min(lowest_index_, other.lowest_index_);
  highest_index_ = std::max(highest_index_, other.highest_index_);
}

void LogHistogram::Reset() {
  if (count_ != 0) {
    std::fill(buckets_.begin() + lowest_index_,
              buckets_.begin() + highest_index_ + 1, 0);
  }
  count_ = 0;
  max_ = 0;
  min_ = UINT64_MAX;
  sum_ = 0;
  lowest_index_ = kBucketCount;
  highest_index_ = 0;
}

uint64_t LogHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * count_));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (uint32_t i = lowest_index_; i <= highest_index_; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(BucketHigh(i), max_);
  }
  return max_;
}

}  // namespace coffer::bench
