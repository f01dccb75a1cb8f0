// coffer-bench's output: the human summary and the --json object (field
// names are documented in bench/load/README.md and kept stable: the
// comparison script reads them).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bench/load/generator.h"

namespace coffer::bench {

struct MachineInfo {
  unsigned nproc = 0;
  std::string cpu_model;
};
MachineInfo ReadMachineInfo();

// Flag name and its value already encoded as JSON ("8", "\"coffer\"").
using JsonFields = std::vector<std::pair<std::string, std::string>>;

std::string JsonString(const std::string& s);

std::string FormatSummary(const RunResult& r);
std::string FormatJson(const JsonFields& config, const MachineInfo& machine,
                       const RunResult& r);

}  // namespace coffer::bench
