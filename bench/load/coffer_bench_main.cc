// coffer-bench: load generator over the real protocol of Coffer (or a peer:
// PostgreSQL, Redis), with a correctness check at the end. See
// bench/load/README.md for the flags, the workloads and the JSON fields.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/load/generator.h"
#include "bench/load/report.h"
#include "bench/load/target.h"
#include "net/program_flags.h"

ABSL_FLAG(std::string, target, "coffer",
          "system under test: coffer, postgres or redis (those built in)");
ABSL_FLAG(std::string, host, "127.0.0.1", "server host");
ABSL_FLAG(uint32_t, port, 0, "server port (0: the target's default)");
ABSL_FLAG(std::string, auth_token, "", "coffer: auth token for HELLO");
ABSL_FLAG(std::string, database, "", "postgres: database name");
ABSL_FLAG(std::string, user, "", "postgres: user");
ABSL_FLAG(std::string, peer_dir, "bench/compare",
          "where the peers' own files (SQL schema, Lua library) are");
ABSL_FLAG(uint32_t, connections, 1, "connections (C)");
ABSL_FLAG(uint32_t, pipeline, 1, "requests in flight per connection (P)");
ABSL_FLAG(uint32_t, batch, 1, "ops per request (B)");
ABSL_FLAG(uint32_t, threads, 0,
          "generator threads, connections spread over them (0: min(C, 2))");
ABSL_FLAG(std::string, mode, "closed",
          "closed: keep P requests in flight per connection; open: send at "
          "--rate, latency from the intended send time");
ABSL_FLAG(double, rate, 0, "open loop: offered ops/s over all connections");
ABSL_FLAG(std::string, workload, "debit",
          "debit | transfer | hot | mix | retry");
ABSL_FLAG(double, cross_shard_pct, 50,
          "transfer: percent of transfers between accounts of different "
          "shards (Coffer; peers have no shards)");
ABSL_FLAG(double, zipf_s, 1.0, "hot: Zipf exponent of the account choice");
ABSL_FLAG(double, read_pct, 20,
          "mix: percent of requests that are balance lookups");
ABSL_FLAG(double, retry_pct, 10,
          "retry: percent of ops that resend an earlier op (same op id)");
ABSL_FLAG(uint32_t, client_threads, 0,
          "client mode: T threads, each making one blocking call of --batch "
          "ops at a time through the target's client library (coffer: "
          "net::Client), sharing --connections clients; 0: off");
ABSL_FLAG(bool, client_coalesce, true,
          "client mode: the library coalesces concurrent calls into shared "
          "frames (net::ClientOptions::coalesce_ops)");
ABSL_FLAG(uint32_t, client_frames_in_flight, 0,
          "client mode: frames in flight per client before calls queue "
          "(ops_frames_in_flight_max; 0: the server's max_requests_in_flight)");
ABSL_FLAG(uint64_t, accounts, 100'000, "accounts created and used");
ABSL_FLAG(int64_t, initial_balance, 1'000'000, "balance of each account");
ABSL_FLAG(double, duration_s, 10, "measured seconds (unless --ops)");
ABSL_FLAG(uint64_t, ops, 0, "measure this many ops instead of --duration_s");
ABSL_FLAG(double, warmup_s, 1, "seconds of load before measuring");
ABSL_FLAG(uint64_t, first_account, 0,
          "first account id (0: a fresh range derived from the time, so runs "
          "against a long-lived server do not collide)");
ABSL_FLAG(uint64_t, seed, 0, "random seed (0: random)");
ABSL_FLAG(std::string, json, "", "write the result as JSON here ('-': stdout)");
ABSL_FLAG(bool, quiet, false, "no progress lines");

namespace {

using coffer::bench::JsonString;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "coffer-bench: %s (see --help)\n", why.c_str());
  std::exit(2);
}

std::string Num(double v) { return absl::StrCat(v); }

}  // namespace

int main(int argc, char** argv) {
  const std::string usage = absl::StrCat(
      "coffer-bench: load generator over the real protocol, with a "
      "correctness check.\n"
      "Usage: coffer-bench [--target=coffer] [--connections=C] "
      "[--pipeline=P] [--batch=B] [--mode=closed|open --rate=OPS]\n"
      "                    [--workload=debit|transfer|hot|mix|retry] "
      "[--duration_s=S | --ops=N] [--json=FILE]\n"
      "       coffer-bench --client_threads=T [--connections=C] "
      "[--client_coalesce=false] [--client_frames_in_flight=N]: T threads "
      "of blocking calls through the client library\n"
      "Targets built in: ",
      absl::StrJoin(coffer::bench::TargetNames(), ", "),
      "\nExit 0: a valid result; 1: the run failed or was not valid; 2: bad "
      "flags.");
  if (!coffer::net::ParseProgramFlags(argc, argv, usage, "bench/load/")
           .empty()) {
    Usage("unexpected argument");
  }

  coffer::bench::LoadConfig config;
  config.connections = absl::GetFlag(FLAGS_connections);
  config.pipeline = absl::GetFlag(FLAGS_pipeline);
  config.batch = absl::GetFlag(FLAGS_batch);
  config.threads = absl::GetFlag(FLAGS_threads);
  config.client_threads = absl::GetFlag(FLAGS_client_threads);
  config.client_coalesce = absl::GetFlag(FLAGS_client_coalesce);
  config.client_frames_in_flight_max =
      absl::GetFlag(FLAGS_client_frames_in_flight);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "closed") {
    config.mode = coffer::bench::LoopMode::kClosed;
  } else if (mode == "open") {
    config.mode = coffer::bench::LoopMode::kOpen;
  } else {
    Usage("--mode must be closed or open");
  }
  config.rate_ops_per_s = absl::GetFlag(FLAGS_rate);
  auto workload = coffer::bench::ParseWorkload(absl::GetFlag(FLAGS_workload));
  if (!workload.ok()) Usage(std::string(workload.status().message()));
  config.workload.kind = *workload;
  config.workload.accounts = absl::GetFlag(FLAGS_accounts);
  config.workload.cross_shard_pct = absl::GetFlag(FLAGS_cross_shard_pct);
  config.workload.zipf_s = absl::GetFlag(FLAGS_zipf_s);
  config.workload.read_pct = absl::GetFlag(FLAGS_read_pct);
  config.workload.retry_pct = absl::GetFlag(FLAGS_retry_pct);
  uint64_t first = absl::GetFlag(FLAGS_first_account);
  if (first == 0) {
    const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    // 2^26 ids per second of wall time: consecutive runs get disjoint
    // ranges unless one uses more than 67M accounts.
    first = (static_cast<uint64_t>(now_s) << 26) + 1;
  }
  config.workload.first_account = first;
  config.initial_balance = absl::GetFlag(FLAGS_initial_balance);
  config.duration_s = absl::GetFlag(FLAGS_duration_s);
  config.ops = absl::GetFlag(FLAGS_ops);
  config.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  config.seed = absl::GetFlag(FLAGS_seed);
  if (!absl::GetFlag(FLAGS_quiet)) {
    config.progress = [](const std::string& line) {
      std::fprintf(stderr, "%s\n", line.c_str());
    };
  }
  if (absl::Status s = coffer::bench::ValidateLoadConfig(config); !s.ok()) {
    Usage(std::string(s.message()));
  }

  coffer::bench::TargetOptions options;
  options.host = absl::GetFlag(FLAGS_host);
  const uint32_t port = absl::GetFlag(FLAGS_port);
  if (port > 65535) Usage("--port above 65535");
  options.port = static_cast<uint16_t>(port);
  options.auth_token = absl::GetFlag(FLAGS_auth_token);
  options.database = absl::GetFlag(FLAGS_database);
  options.user = absl::GetFlag(FLAGS_user);
  options.peer_dir = absl::GetFlag(FLAGS_peer_dir);

  const std::string target_name = absl::GetFlag(FLAGS_target);
  const coffer::bench::TargetFactory* factory =
      coffer::bench::FindTarget(target_name);
  if (factory == nullptr) {
    Usage(absl::StrCat("unknown --target '", target_name, "' (built in: ",
                       absl::StrJoin(coffer::bench::TargetNames(), ", "), ")"));
  }
  auto target = (*factory)(options);
  if (!target.ok()) {
    std::fprintf(stderr, "coffer-bench: %s: %s\n", target_name.c_str(),
                 target.status().ToString().c_str());
    return 1;
  }
  auto result = coffer::bench::RunLoad(**target, config);
  if (!result.ok()) {
    std::fprintf(stderr, "coffer-bench: %s\n",
                 result.status().ToString().c_str());
    return 1;
  }

  const std::string json_path = absl::GetFlag(FLAGS_json);
  // With the JSON on stdout the human summary goes to stderr.
  std::FILE* summary_out = json_path == "-" ? stderr : stdout;
  std::fputs(coffer::bench::FormatSummary(*result).c_str(), summary_out);
  std::fflush(summary_out);
  if (!json_path.empty()) {
    const coffer::bench::JsonFields fields = {
        {"target", JsonString(target_name)},
        {"host", JsonString(options.host)},
        {"port", absl::StrCat(port)},
        {"database", JsonString(options.database)},
        {"user", JsonString(options.user)},
        {"peer_dir", JsonString(options.peer_dir)},
        {"connections", absl::StrCat(config.connections)},
        {"pipeline", absl::StrCat(config.pipeline)},
        {"batch", absl::StrCat(config.batch)},
        {"threads", absl::StrCat(result->threads)},
        {"client_threads", absl::StrCat(config.client_threads)},
        {"client_coalesce", config.client_coalesce ? "true" : "false"},
        {"client_frames_in_flight",
         absl::StrCat(config.client_frames_in_flight_max)},
        {"mode", JsonString(mode)},
        {"rate", Num(config.rate_ops_per_s)},
        {"workload", JsonString(std::string(
                         coffer::bench::WorkloadName(config.workload.kind)))},
        {"cross_shard_pct", Num(config.workload.cross_shard_pct)},
        {"zipf_s", Num(config.workload.zipf_s)},
        {"read_pct", Num(config.workload.read_pct)},
        {"retry_pct", Num(config.workload.retry_pct)},
        {"accounts", absl::StrCat(config.workload.accounts)},
        {"initial_balance", absl::StrCat(config.initial_balance)},
        {"duration_s", Num(config.duration_s)},
        {"ops", absl::StrCat(config.ops)},
        {"warmup_s", Num(config.warmup_s)},
        {"first_account", absl::StrCat(first)},
        {"seed", absl::StrCat(config.seed)},
    };  // auth_token deliberately left out
    const std::string json = coffer::bench::FormatJson(
        fields, coffer::bench::ReadMachineInfo(), *result);
    if (json_path == "-") {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream out(json_path);
      out << json;
      if (!out.good()) {
        std::fprintf(stderr, "coffer-bench: cannot write %s\n",
                     json_path.c_str());
        return 1;
      }
    }
  }
  return result->valid ? 0 : 1;
}
