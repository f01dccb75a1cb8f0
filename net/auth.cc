#include "net/auth.h"

#include <algorithm>
#include <cstdint>

namespace coffer::net {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer length, reading past the end of the shorter string as
  // zeros; fold every difference (and the length difference) into one
  // accumulator with no early exit.
  const size_t n = std::max(a.size(), b.size());
  volatile uint8_t diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t x = i < a.size() ? static_cast<uint8_t>(a[i]) : 0;
    const uint8_t y = i < b.size() ? static_cast<uint8_t>(b[i]) : 0;
    diff = diff | static_cast<uint8_t>(x ^ y);
  }
  return diff == 0;
}

}  // namespace coffer::net
