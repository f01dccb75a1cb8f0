// Command-line parsing shared by the programs in net/ (cofferd, coffer,
// coffer-net-bench), on top of Abseil flags. Unlike absl::ParseCommandLine
// it exits 0 after --help and 2 on an unknown flag or a bad value: `coffer`
// keeps exit status 1 for "the ledger refused".
#pragma once

#include <string>
#include <vector>

namespace coffer::net {

// Sets every --flag in argv (`--name=value`, `--name value`, `--bool`,
// `--nobool`; one or two dashes; "--" ends flags) and returns the other
// arguments, program name excluded. An argument that looks like a negative
// number ("-5") is an operand, not a flag, so that the program can say
// which values it takes. --help (-h, --helpfull) prints `usage`
// and the flags defined in net/ with their defaults, then exits 0.
// `flags_under`: --help lists the flags defined in files whose path
// contains it (the benches in bench/ use this parser too).
std::vector<std::string> ParseProgramFlags(
    int argc, char** argv, const std::string& usage,
    const std::string& flags_under = "net/");

}  // namespace coffer::net
