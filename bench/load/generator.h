// coffer-bench's load generator: C connections spread over T threads, each
// thread multiplexing its connections with ppoll(2). Closed loop: every
// connection keeps `pipeline` requests of `batch` ops in flight. Open loop:
// requests are due at fixed intended send times (rate / (C * batch) per
// connection, staggered); a due request waits while its connection's
// pipeline is full, and its latency is measured from the intended time, so
// a stall is charged to every request it delayed (no coordinated omission).
//
// The run: create and fund the accounts, connect, warm up (answers checked
// but not measured), measure for duration_s or until `ops` measured ops are
// answered, drain, read every balance back and check (checker.h).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/load/checker.h"
#include "bench/load/histogram.h"
#include "bench/load/target.h"
#include "bench/load/workload.h"

namespace coffer::bench {

enum class LoopMode { kClosed, kOpen };

struct LoadConfig {
  uint32_t connections = 1;
  uint32_t pipeline = 1;  // requests in flight per connection
  uint32_t batch = 1;     // ops per request
  uint32_t threads = 0;   // 0: min(connections, 2)
  LoopMode mode = LoopMode::kClosed;
  double rate_ops_per_s = 0;  // open loop: offered ops/s, all connections
  WorkloadConfig workload;    // shard_count is taken from the target
  int64_t initial_balance = 1'000'000;
  double duration_s = 10;  // measured time (ignored when ops > 0)
  uint64_t ops = 0;        // > 0: measure this many ops instead
  double warmup_s = 0;
  // A connection with requests in flight and no answer for this long fails.
  uint32_t stall_timeout_ms = 30'000;
  uint64_t seed = 0;  // 0: random
  // Client mode, > 0: instead of the generator's own connections, this many
  // threads each make one blocking call of `batch` ops at a time through
  // the target's client library (client_library.h), sharing `connections`
  // library clients (thread t on client t mod connections). Closed loop,
  // pipeline 1; `threads` unused. Latency is per call.
  uint32_t client_threads = 0;
  bool client_coalesce = true;               // the library's batching
  uint32_t client_frames_in_flight_max = 0;  // 0: the library's default
  // Receives a progress line once a second; empty: no progress.
  std::function<void(const std::string&)> progress;
};

absl::Status ValidateLoadConfig(const LoadConfig& config);

struct RunResult {
  std::string target_name;
  std::string target_settings;
  uint32_t shard_count = 0;
  uint32_t threads = 0;
  uint64_t first_account = 0;
  double setup_s = 0;  // creating and funding the accounts
  // Measured window: from the end of warm-up to the last measured answer.
  double elapsed_s = 0;
  uint64_t ops = 0;       // measured ops answered
  uint64_t requests = 0;  // measured requests answered
  double ops_per_s = 0;
  double requests_per_s = 0;
  LogHistogram latency_ns;  // per measured request
  // Open loop: how late each measured request left after its intended send
  // time (waiting for a free pipeline slot, plus the generator's own
  // lateness). Empty in closed loop.
  LogHistogram send_lag_ns;
  // Every answer of the run (warm-up included), by result code; index 255
  // collects codes this build does not know.
  std::array<uint64_t, 256> codes{};
  uint64_t ops_total = 0;  // answered, warm-up included
  uint64_t duplicates = 0;
  uint64_t retries_sent = 0;
  uint64_t retries_sent_in_flight = 0;  // resent before the original's answer
  uint64_t unexpected_codes = 0;        // anything but ok / insufficient_funds
  uint64_t errors = 0;                  // failed Status (connections lost)
  std::vector<std::string> error_messages;
  CheckOutcome check;
  // Client mode: request frames the library made, and the calls in them.
  uint64_t client_frames = 0;
  uint64_t client_calls = 0;
  bool valid = false;
  std::vector<std::string> invalid_reasons;
};

// Runs the whole benchmark against `target`. A failed Status only when the
// run could not start (bad config, cannot connect, cannot create accounts);
// problems during the run are in RunResult (valid == false).
absl::StatusOr<RunResult> RunLoad(LoadTarget& target, const LoadConfig& config);

}  // namespace coffer::bench
