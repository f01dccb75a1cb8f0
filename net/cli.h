// The `coffer` command-line client: one command per run against cofferd.
// coffer_main.cc parses flags into CliOptions; RunCli does the rest (and is
// what the tests call).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace coffer::net {

// Exit codes. Business refusals (a ResultCode other than ok, an unknown
// account) are told apart from not being able to ask at all.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;     // the ledger answered "no"
inline constexpr int kExitUsage = 2;       // bad command line
inline constexpr int kExitConnection = 3;  // no answer: connect, auth, I/O

struct CliOptions {
  std::string server = "127.0.0.1:7300";
  std::string auth_token;
  bool json = false;
  uint64_t op_id = 0;     // 0: a random one (printed, to retry with)
  uint32_t currency = 0;  // guard for ops on existing accounts
  uint32_t reason = 0;
  uint64_t user_data = 0;
  uint64_t overdraft = 0;        // create-account
  uint64_t cap = 0;              // create-account
  uint64_t hold_timeout_ms = 0;  // hold
  uint32_t before = 0;           // history cursor
  uint32_t limit = 20;           // history page size
  // History filters as typed (empty: none): times are RFC 3339
  // (2026-12-01T20:00:00Z) or ns since the Unix epoch, both inclusive;
  // with_reason is a reason code.
  std::string timestamp_min;
  std::string timestamp_max;
  std::string with_reason;
  uint32_t timeout_ms = 10'000;
  uint32_t backup_timeout_s = 3600;  // backup: how long to wait for it
  // stats --watch: a line every watch_interval_ms, watch_count lines (0:
  // until interrupted); net/cli_watch.h.
  bool watch = false;
  uint32_t watch_interval_ms = 1000;
  uint32_t watch_count = 0;
};

// The text of `coffer --help` after the flags: commands and exit codes.
std::string CliUsage();

// Runs `args` (the command and its operands); writes results to `out` and
// errors to `err`; returns one of the exit codes above.
int RunCli(const std::vector<std::string>& args, const CliOptions& options,
           std::ostream& out, std::ostream& err);

}  // namespace coffer::net
