// coffer: command-line client of cofferd. Flags here, commands in
// net/cli.cc.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "net/cli.h"
#include "net/program_flags.h"

ABSL_FLAG(std::string, server, "127.0.0.1:7300", "cofferd address host:port");
ABSL_FLAG(std::string, auth_token, "", "the server's auth token, if any");
ABSL_FLAG(bool, json, false, "print one JSON object instead of text");
ABSL_FLAG(uint64_t, op_id, 0,
          "op id of the operation (0: random, printed); reuse it to retry "
          "safely: a retry gets the original answer, marked duplicate");
ABSL_FLAG(uint32_t, currency, 0,
          "currency guard: refuse the op (currency_mismatch) if the account "
          "has another currency (0: no guard)");
ABSL_FLAG(uint32_t, reason, 0, "your reason code, stored in history");
ABSL_FLAG(uint64_t, user_data, 0, "your reference, stored in history");
ABSL_FLAG(uint64_t, overdraft, 0,
          "create-account: overdraft limit (balance may reach -LIMIT)");
ABSL_FLAG(uint64_t, cap, 0, "create-account: highest balance allowed");
ABSL_FLAG(uint64_t, hold_timeout_ms, 0, "hold: expiry (0: never)");
ABSL_FLAG(uint32_t, before, 0,
          "history: entries numbered below this (0: from the newest)");
ABSL_FLAG(uint32_t, limit, 20, "history: page size");
ABSL_FLAG(std::string, timestamp_min, "",
          "history: only entries stamped at or after this (RFC 3339, or ns "
          "since the Unix epoch)");
ABSL_FLAG(std::string, timestamp_max, "",
          "history: only entries stamped at or before this (RFC 3339, or ns "
          "since the Unix epoch)");
ABSL_FLAG(std::string, with_reason, "",
          "history: only entries with this reason code");
ABSL_FLAG(uint32_t, timeout_ms, 10000, "connect and reply timeout");
ABSL_FLAG(uint32_t, backup_timeout_s, 3600,
          "backup: how long to wait for the copy (it may still complete on "
          "the server after that)");
ABSL_FLAG(bool, watch, false,
          "stats: a live view, one line per --watch_interval_ms (ops/s, "
          "requests/s, duplicates/s, syncs/s, ops per sync, connections, "
          "busy/s, last seq, durability lag, snapshots)");
ABSL_FLAG(uint32_t, watch_interval_ms, 1000, "stats --watch: line interval");
ABSL_FLAG(uint32_t, watch_count, 0,
          "stats --watch: stop after this many lines (0: until interrupted)");

int main(int argc, char** argv) {
  const std::vector<std::string> args = coffer::net::ParseProgramFlags(
      argc, argv,
      absl::StrCat("coffer: command-line client of cofferd.\n"
                   "Usage: coffer [--server=HOST:PORT] [--json] COMMAND "
                   "ARGS...\n\n",
                   coffer::net::CliUsage()));

  coffer::net::CliOptions o;
  o.server = absl::GetFlag(FLAGS_server);
  o.auth_token = absl::GetFlag(FLAGS_auth_token);
  o.json = absl::GetFlag(FLAGS_json);
  o.op_id = absl::GetFlag(FLAGS_op_id);
  o.currency = absl::GetFlag(FLAGS_currency);
  o.reason = absl::GetFlag(FLAGS_reason);
  o.user_data = absl::GetFlag(FLAGS_user_data);
  o.overdraft = absl::GetFlag(FLAGS_overdraft);
  o.cap = absl::GetFlag(FLAGS_cap);
  o.hold_timeout_ms = absl::GetFlag(FLAGS_hold_timeout_ms);
  o.before = absl::GetFlag(FLAGS_before);
  o.limit = absl::GetFlag(FLAGS_limit);
  o.timestamp_min = absl::GetFlag(FLAGS_timestamp_min);
  o.timestamp_max = absl::GetFlag(FLAGS_timestamp_max);
  o.with_reason = absl::GetFlag(FLAGS_with_reason);
  o.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  o.backup_timeout_s = absl::GetFlag(FLAGS_backup_timeout_s);
  o.watch = absl::GetFlag(FLAGS_watch);
  o.watch_interval_ms = absl::GetFlag(FLAGS_watch_interval_ms);
  o.watch_count = absl::GetFlag(FLAGS_watch_count);
  return coffer::net::RunCli(args, o, std::cout, std::cerr);
}
