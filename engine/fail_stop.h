// The engine's fail-stop for I/O errors it cannot survive (a store write or
// read, an index write): the engine's on_fatal first (cofferd's prints the
// error and exits 70), then, if that returned (a test's), abort: nothing may
// go on from here.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace coffer::internal {

[[noreturn]] inline void FailStop(
    const std::function<void(const absl::Status&)>& on_fatal,
    const absl::Status& status) {
  if (on_fatal) on_fatal(status);
  std::fprintf(stderr, "coffer: fatal: %s\n",
               std::string(status.message()).c_str());
  std::abort();
}

}  // namespace coffer::internal
