#include "wal/fault_spec.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace coffer::wal {
namespace {

constexpr std::pair<std::string_view, Fault> kKinds[] = {
    {"sync", Fault::kFailSync},
    {"write", Fault::kFailWrite},
    {"nospace", Fault::kNoSpace},
    {"short_write", Fault::kShortWrite},
    {"preallocate", Fault::kFailPreallocate},
    {"syncdir", Fault::kFailSyncDir},
};

}  // namespace

std::string_view FaultKindWords() {
  return "sync|write|nospace|short_write|preallocate|syncdir";
}

absl::StatusOr<FaultSpec> ParseFaultSpec(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fault '", std::string(text), "': expected KIND:N with KIND one of ",
        std::string(FaultKindWords())));
  }
  const std::string_view kind = text.substr(0, colon);
  FaultSpec spec;
  for (const auto& [word, fault] : kKinds) {
    if (kind == word) spec.fault = fault;
  }
  if (spec.fault == Fault::kNone) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fault '", std::string(text), "': unknown kind '", std::string(kind),
        "' (expected one of ", std::string(FaultKindWords()), ")"));
  }
  if (!absl::SimpleAtoi(std::string(text.substr(colon + 1)), &spec.nth) ||
      spec.nth == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("fault '", std::string(text),
                     "': N must be a whole number >= 1 (the call to fail)"));
  }
  return spec;
}

std::string FaultSpecText(const FaultSpec& spec) {
  for (const auto& [word, fault] : kKinds) {
    if (fault == spec.fault)
      return absl::StrCat(std::string(word), ":", spec.nth);
  }
  return "none";
}

}  // namespace coffer::wal
