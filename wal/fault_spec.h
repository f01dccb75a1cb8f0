// A storage fault named in text, for programs that let a test arm one
// (cofferd --inject_fault): "KIND:N" fails the Nth call of that kind, counted
// from the start of the process, once. See FaultyStorage for what each fault
// does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "wal/faulty_storage.h"

namespace coffer::wal {

struct FaultSpec {
  Fault fault = Fault::kNone;
  uint64_t nth = 0;  // 1-based
};

// The accepted KIND words, for help texts:
// "sync|write|nospace|short_write|preallocate|syncdir".
std::string_view FaultKindWords();

// Parses "KIND:N" (N >= 1). Errors name what is wrong.
absl::StatusOr<FaultSpec> ParseFaultSpec(std::string_view text);

// "sync:25" for {kFailSync, 25}.
std::string FaultSpecText(const FaultSpec& spec);

}  // namespace coffer::wal
