// Always-on latency histograms for the per-stage breakdown of a request
// (issue 12): where a request's time goes between the network reading its
// frame and the reply leaving.
//
// A LatencyHistogram has exactly one writer thread. Record() is a bucket
// index, a relaxed load and store (no read-modify-write, no fence), and a
// compare against the max, so it costs a few nanoseconds on the hot path.
// Any thread may take a Snapshot() with relaxed loads; a snapshot taken while
// the writer runs may miss the samples of that instant, nothing worse.
//
// Buckets are log-linear with 2 significant bits: 4 per power of two, so a
// quantile is reported at most 25% above the true value (the bucket's upper
// bound, never above the exact max). Values of 2^36 and more (68 s in ns)
// share the last bucket; the max stays exact.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string_view>

namespace coffer {

// steady_clock (CLOCK_MONOTONIC, read through the vDSO: ~20 ns) in ns.
inline uint64_t SteadyNowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// The measured intervals. The numbers are wire format (STAGES_REPLY, see
// net/PROTOCOL.md): never renumber, only append.
enum class Stage : uint16_t {
  kReceivedSubmitted = 1,  // frame complete in the buffer -> TrySubmit
  kSubmittedOrdered = 2,   // submit queue -> the sequencer orders it
  kOrderedApplied = 3,     // to the shards and back
  kAppliedReleased = 4,    // waiting for the fsync that covers it
  kReleasedWritten = 5,    // callback, inbox to io thread, encode, write
  kTotal = 6,              // received -> written
  kLogFsync = 7,           // log thread: write + fdatasync of one batch
  kLogBatchOps = 8,        // log thread: ops per batch (a count, not ns)
  kRecovery = 9,           // start-up: snapshot load + log replay (once)
};
inline constexpr uint16_t kStageMax = 9;

inline std::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kReceivedSubmitted:
      return "received_submitted";
    case Stage::kSubmittedOrdered:
      return "submitted_ordered";
    case Stage::kOrderedApplied:
      return "ordered_applied";
    case Stage::kAppliedReleased:
      return "applied_released";
    case Stage::kReleasedWritten:
      return "released_written";
    case Stage::kTotal:
      return "total";
    case Stage::kLogFsync:
      return "log_fsync";
    case Stage::kLogBatchOps:
      return "log_batch_ops";
    case Stage::kRecovery:
      return "recovery";
  }
  return "unknown";
}

inline constexpr uint32_t kHistogramSubBits = 2;
inline constexpr uint32_t kHistogramValueBitsMax = 36;
// Values below 4 get a bucket each; then 4 per power of two up to 2^36.
inline constexpr uint32_t kHistogramBuckets =
    (1u << kHistogramSubBits) +
    (kHistogramValueBitsMax - kHistogramSubBits) * (1u << kHistogramSubBits);

inline uint32_t HistogramBucketOf(uint64_t value) {
  constexpr uint64_t kClamp = (uint64_t{1} << kHistogramValueBitsMax) - 1;
  constexpr uint32_t kSub = 1u << kHistogramSubBits;
  const uint64_t v = std::min(value, kClamp);
  if (v < kSub) return static_cast<uint32_t>(v);
  const uint32_t e = 63 - static_cast<uint32_t>(std::countl_zero(v));
  const uint32_t sub =
      static_cast<uint32_t>(v >> (e - kHistogramSubBits)) & (kSub - 1);
  return (e - kHistogramSubBits + 1) * kSub + sub;
}

// Smallest value of bucket `b`.
inline uint64_t HistogramBucketLow(uint32_t b) {
  constexpr uint32_t kSub = 1u << kHistogramSubBits;
  if (b < kSub) return b;
  const uint32_t e = b / kSub + kHistogramSubBits - 1;
  return uint64_t{kSub + b % kSub} << (e - kHistogramSubBits);
}

// Largest value of bucket `b` (inclusive).
inline uint64_t HistogramBucketHigh(uint32_t b) {
  constexpr uint32_t kSub = 1u << kHistogramSubBits;
  if (b < kSub) return b;
  const uint32_t e = b / kSub + kHistogramSubBits - 1;
  return HistogramBucketLow(b) + (uint64_t{1} << (e - kHistogramSubBits)) - 1;
}

// A plain copy of a histogram: merge several, ask for quantiles.
struct HistogramSnapshot {
  std::array<uint64_t, kHistogramBuckets> counts{};
  uint64_t count = 0;
  uint64_t max = 0;

  void Merge(const HistogramSnapshot& other) {
    for (uint32_t b = 0; b < kHistogramBuckets; ++b) {
      counts[b] += other.counts[b];
    }
    count += other.count;
    max = std::max(max, other.max);
  }

  // The upper bound of the bucket holding the sample of rank ceil(q*count),
  // capped by the max; 0 when empty. Monotone in q, never above max.
  uint64_t Quantile(double q) const {
    if (count == 0) return 0;
    const double want = std::ceil(std::clamp(q, 0.0, 1.0) * count);
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(want));
    uint64_t seen = 0;
    // The last bucket has no upper bound of its own: its values are capped
    // only by the max.
    for (uint32_t b = 0; b + 1 < kHistogramBuckets; ++b) {
      seen += counts[b];
      if (seen >= rank) return std::min(HistogramBucketHigh(b), max);
    }
    return max;
  }
};

class LatencyHistogram {
 public:
  // Writer thread only.
  void Record(uint64_t value) {
    std::atomic<uint64_t>& c = counts_[HistogramBucketOf(value)];
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (value > max_.load(std::memory_order_relaxed)) {
      max_.store(value, std::memory_order_relaxed);
    }
  }
  // The interval from `from_ns` to `to_ns`; clock steps backwards (which
  // steady_clock does not do, but stamps from two threads may race by a
  // few ns) record 0.
  void RecordInterval(uint64_t from_ns, uint64_t to_ns) {
    Record(to_ns > from_ns ? to_ns - from_ns : 0);
  }

  // Any thread.
  HistogramSnapshot Snapshot() const {
    HistogramSnapshot s;
    for (uint32_t b = 0; b < kHistogramBuckets; ++b) {
      s.counts[b] = counts_[b].load(std::memory_order_relaxed);
      s.count += s.counts[b];
    }
    s.max = max_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<uint64_t>, kHistogramBuckets> counts_{};
  std::atomic<uint64_t> max_{0};
};

}  // namespace coffer
