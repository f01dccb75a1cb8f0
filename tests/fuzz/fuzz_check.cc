#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/fuzz_bodies.h"

namespace coffer::fuzz {

void FuzzCheck(bool ok, std::string_view what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace coffer::fuzz
