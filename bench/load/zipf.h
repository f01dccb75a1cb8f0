// Zipf-distributed ranks 1..n with P(k) proportional to 1 / k^s, by
// rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to
// generate variates from monotone discrete distributions", 1996): O(1)
// memory and expected O(1) time per sample for any n and any s > 0, so the
// hot-account workload costs the same at 1k or 100M accounts.
#pragma once

#include <cstdint>

#include "bench/load/random.h"

namespace coffer::bench {

class ZipfSampler {
 public:
  // n >= 1, s > 0 (the caller validates).
  ZipfSampler(uint64_t n, double s);
  // A rank in [1, n]; rank 1 is the most frequent.
  uint64_t Sample(Rng& rng) const;

  uint64_t n() const { return n_; }
  double s() const { return exponent_; }

 private:
  double H(double x) const;
  double HIntegral(double x) const;
  double HIntegralInverse(double x) const;

  uint64_t n_;
  double exponent_;
  double h_integral_x1_;
  double h_integral_n_;
  double squeeze_;
};

}  // namespace coffer::bench
