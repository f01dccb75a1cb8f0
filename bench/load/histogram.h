// A log-linear latency histogram (HdrHistogram's bucketing idea): values
// below 2*kSubBuckets are exact; above, each power of two is split into
// kSubBuckets equal buckets, so any recorded value is known to within
// 1/kSubBuckets (0.8%) of itself. Fixed size (no allocation after
// construction), so recording is one index computation and an increment.
// Values are plain uint64 (the generator records nanoseconds).
#pragma once

#include <array>
#include <cstdint>

namespace coffer::bench {

class LogHistogram {
 public:
  static constexpr uint32_t kSubBucketBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;
  // Largest shift is 63 - kSubBucketBits; indices run below this.
  static constexpr uint32_t kBucketCount =
      (64 - kSubBucketBits + 1) * kSubBuckets;

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n);
  void Add(const LogHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_;
  }
  // The value at quantile q in [0, 1]: the highest value of the bucket that
  // holds the ceil(q * count)-th smallest recording, capped at max(). 0 when
  // empty. Within one bucket width (<= value / kSubBuckets) of the truth.
  uint64_t Quantile(double q) const;

  static uint32_t BucketOf(uint64_t value);
  // Smallest and largest values that land in bucket `index`.
  static uint64_t BucketLow(uint32_t index);
  static uint64_t BucketHigh(uint32_t index);

 private:
  std::array<uint64_t, kBucketCount> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
  uint64_t min_ = UINT64_MAX;
  unsigned __int128 sum_ = 0;
  // Occupied index range, so Add and Quantile skip the empty tail.
  uint32_t lowest_index_ = kBucketCount;
  uint32_t highest_index_ = 0;
};

}  // namespace coffer::bench
