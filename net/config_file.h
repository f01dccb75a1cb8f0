// An optional config file for the programs in net/: `key = value` lines
// whose keys are the program's flag names. Values from the file are applied
// first, so flags given on the command line override them.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace coffer::net {

// The value of `--<flag>=V` or `--<flag> V` (also with a single dash) in
// argv, or "" if absent. Read before absl parses the command line.
std::string FindFlagInArgv(int argc, char** argv, const std::string& flag);

// Parses `text` (the contents of `path`, named in errors): blank lines and
// lines starting with '#' are skipped; every other line is
// `name = value` (spaces around both trimmed, value may be empty), where
// `name` is one of `allowed`. Sets each flag; an error names the line.
absl::Status ApplyConfigText(const std::string& path, const std::string& text,
                             const std::vector<std::string>& allowed);
// Reads the file and applies it as above.
absl::Status ApplyConfigFile(const std::string& path,
                             const std::vector<std::string>& allowed);

}  // namespace coffer::net
