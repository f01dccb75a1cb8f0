#include "bench/load/zipf.h"

#include <algorithm>
#include <cmath>

namespace coffer::bench {
namespace {

// log1p(x) / x, continuous at 0.
double Helper1(double x) {
  return std::abs(x) > 1e-8 ? std::log1p(x) / x
                            : 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

// expm1(x) / x, continuous at 0.
double Helper2(double x) {
  return std::abs(x) > 1e-8
             ? std::expm1(x) / x
             : 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

}  // namespace

ZipfSampler::ZipfSampler(uint64_t n, double s) : n_(n), exponent_(s) {
  h_integral_x1_ = HIntegral(1.5) - 1.0;
  h_integral_n_ = HIntegral(static_cast<double>(n_) + 0.5);
  squeeze_ = 2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0));
}

// h(x) = 1 / x^s
double ZipfSampler::H(double x) const {
  return std::exp(-exponent_ * std::log(x));
}

// The integral of h from 1 to x, shifted so that the formula has no
// singularity at s = 1: (x^(1-s) - 1) / (1 - s), or log(x) at s = 1.
double ZipfSampler::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Helper2((1.0 - exponent_) * log_x) * log_x;
}

double ZipfSampler::HIntegralInverse(double x) const {
  double t = x * (1.0 - exponent_);
  if (t < -1.0) t = -1.0;  // rounding near the lower end
  return std::exp(Helper1(t) * x);
}

uint64_t ZipfSampler::Sample(Rng& rng) const {
  // Bounded in practice: the acceptance probability is above 1/2 for every
  // n and s; the cap only guards against a numerical accident.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const double u =
        h_integral_n_ + rng.Unit() * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    double k_real = std::floor(x + 0.5);
    k_real = std::clamp(k_real, 1.0, static_cast<double>(n_));
    const uint64_t k = static_cast<uint64_t>(k_real);
    if (k_real - x <= squeeze_ || u >= HIntegral(k_real + 0.5) - H(k_real)) {
      return k;
    }
  }
  return 1;
}

}  // namespace coffer::bench
