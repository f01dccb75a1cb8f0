// cofferd: the Coffer ledger server. Parses flags (and an optional config
// file), starts the engine and the network server, and stops both
// gracefully on SIGINT or SIGTERM. The server itself is net/server.h.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/signal_set.hpp"
#include "engine/engine.h"
#include "net/config_file.h"
#include "net/metrics_server.h"
#include "net/program_flags.h"
#include "net/server.h"
#include "net/server_metrics.h"
#include "wal/fault_spec.h"
#include "wal/faulty_storage.h"
#include "wal/storage.h"

ABSL_FLAG(std::string, config, "",
          "optional file of `name = value` lines using these flag names; "
          "flags on the command line override it");
ABSL_FLAG(std::string, listen, "127.0.0.1:7300",
          "address:port to serve on ([v6addr]:port for IPv6; port 0 picks "
          "one). A non-loopback address requires --auth_token");
ABSL_FLAG(std::string, auth_token, "",
          "shared secret clients must present in HELLO (compared in constant "
          "time); required unless listening on loopback");
ABSL_FLAG(std::string, data_dir, "./coffer-data",
          "directory of the write-ahead log and snapshots, created if "
          "missing; a reply is sent only once its request is durable there. "
          "Empty: in memory only (nothing survives a restart)");
ABSL_FLAG(uint64_t, wal_segment_bytes, 64ull << 20,
          "preallocated size of each log segment");
ABSL_FLAG(bool, wal_archive, true,
          "keep the log segments that snapshots make unneeded, in "
          "--wal_archive_dir, so every history entry stays readable "
          "(coffer-wal history); false: delete them");
ABSL_FLAG(std::string, wal_archive_dir, "",
          "where --wal_archive keeps old segments; must be on the same file "
          "system as --data_dir (empty: DATA_DIR/archive)");
ABSL_FLAG(uint64_t, wal_archive_bytes_max, 0,
          "bound on the archive's bytes: beyond it the oldest archived "
          "segments are deleted after each snapshot (0: no bound, keep "
          "forever)");
ABSL_FLAG(uint64_t, snapshot_every_log_bytes, 256ull << 20,
          "take a snapshot after this many bytes of log (0: never "
          "automatically)");
ABSL_FLAG(bool, snapshot_fork, false,
          "take snapshots in a forked child (admission pauses for the "
          "shards to drain, and copy-on-write can double memory) instead of "
          "in process while the shards go on (the default)");
ABSL_FLAG(bool, wal_repair, false,
          "at start-up, cut the log at a damaged record instead of refusing "
          "to start (what follows it is lost, and reported)");
ABSL_FLAG(uint32_t, shards, 0,
          "engine shards (0: 1 on a machine of at most 2 hardware threads, "
          "else one per hardware thread). With 1 shard the engine runs its "
          "inline layout: the sequencer's thread applies, and syncs the "
          "log itself unless a pass is large (engine/DESIGN.md)");
ABSL_FLAG(std::string, metrics_listen, "",
          "address:port for Prometheus: GET /metrics in the text format "
          "(empty: off). A non-loopback address requires --auth_token, which "
          "scrapers send as 'Authorization: Bearer TOKEN'");
ABSL_FLAG(uint32_t, io_threads, 0,
          "network threads (0: one per 4 hardware threads, at least 1)");
ABSL_FLAG(uint32_t, reply_spin_us, 0,
          "while a request is at the engine, its io thread spins this many "
          "microseconds for the reply before sleeping in epoll (saves a "
          "wake-up per reply, costs CPU during the fsync; 0: never spin; "
          "net/io_loop.h)");
ABSL_FLAG(uint32_t, max_connections, 1024,
          "connections open at once; more are sent ERROR "
          "too_many_connections and closed");
ABSL_FLAG(uint32_t, max_requests_in_flight, 128,
          "per connection: requests being processed; at the bound the "
          "server stops reading that connection");
ABSL_FLAG(uint64_t, max_bytes_in_flight, 4u << 20,
          "per connection: request plus largest-reply bytes being "
          "processed; at the bound the server stops reading");
ABSL_FLAG(uint64_t, max_write_queue_bytes, 4u << 20,
          "per connection: reply bytes queued for a slow reader; at the "
          "bound the server stops reading");
ABSL_FLAG(uint32_t, max_body_bytes, 1u << 20,
          "largest frame body accepted (ERROR frame_too_large above)");
ABSL_FLAG(uint32_t, max_ops_per_request, 8192,
          "most operations in one request (and ids in one lookup)");
ABSL_FLAG(uint32_t, max_history_limit, 1000, "largest history page");
ABSL_FLAG(uint32_t, protocol_version_min, 1,
          "oldest protocol version accepted; 2 refuses version 1 clients, "
          "whose retries carry no issue time (net/PROTOCOL.md)");
ABSL_FLAG(uint32_t, idle_timeout_ms, 60000,
          "close connections silent this long with nothing in flight, and "
          "those whose replies make no progress this long");
ABSL_FLAG(uint32_t, frame_read_timeout_ms, 30000,
          "close connections that take longer than this to send one frame "
          "once its first byte arrived (a peer trickling bytes)");
ABSL_FLAG(uint32_t, submit_retry_ms, 2000,
          "how long a request waits for room in the engine's queue before "
          "it is answered ERROR busy (not applied)");
ABSL_FLAG(uint32_t, shutdown_grace_ms, 10000,
          "on SIGINT/SIGTERM, how long to wait for clients to read their "
          "last replies");
ABSL_FLAG(uint32_t, submit_queue_capacity, 4096,
          "engine: requests queued for the sequencer (at most 65535)");
ABSL_FLAG(uint32_t, requests_in_flight_max, 16384,
          "engine: requests ordered but not yet answered");
ABSL_FLAG(uint64_t, op_ids_remembered_max, 1u << 22,
          "engine: op ids remembered in memory for exactly-once answers "
          "(about 70 bytes each); older ones are answered from the on-disk "
          "op-id index (--op_id_index); at least 1048576 (the most ops the "
          "engine holds in flight, each of which must stay remembered until "
          "it is answered)");
ABSL_FLAG(uint32_t, ops_in_flight_max, coffer::EngineConfig{}.ops_in_flight_max,
          "engine: ops ordered but not yet answered; the engine stops "
          "taking requests at this bound. At least the largest request "
          "(--max_ops_per_request), at most --op_ids_remembered_max");
ABSL_FLAG(bool, op_id_index, true,
          "engine: keep op ids that leave memory in an on-disk index "
          "(RocksDB, DATA_DIR/op_ids) for --op_id_retention_s, so a late "
          "retry still gets its original answer. Off: a retry after "
          "--op_ids_remembered_max newer ops applies again");
ABSL_FLAG(uint64_t, op_id_retention_s, 24 * 3600,
          "engine: how long the op-id index remembers an op id, in seconds "
          "(0: forever; at most 100 years)");
ABSL_FLAG(uint64_t, op_id_index_cache_bytes, uint64_t{64} << 20,
          "engine: the op-id index's block cache (its filters, indexes and "
          "data blocks)");
ABSL_FLAG(uint64_t, store_compaction_write_bytes_per_s, 50'000'000,
          "engine: bytes per second that RocksDB's compactions of the op-id "
          "index and the history store may write, together (0: no limit; "
          "at most 1e12). "
          "The log's fdatasync shares the disk with them; under sustained "
          "load above what this lets them merge, they fall behind and catch "
          "up when the load drops");
ABSL_FLAG(int64_t, idle_spin_iterations, -1,
          "engine: polls of its empty queues an engine thread makes before "
          "it sleeps; spinning keeps a hand-off at ~0.2 us but takes CPU "
          "from the io threads and clients on the same cores, sleeping "
          "costs a futex wake-up (~50 us on a 2-core VM). -1: 0 on a "
          "machine of at most 2 hardware threads (there spinning bought no "
          "latency and cost a quarter of the server's CPU; "
          "bench/RESULTS.md), else 2000");
ABSL_FLAG(uint64_t, history_entries_per_shard_max, 1u << 20,
          "engine: history entries kept in memory per shard (about 104 "
          "bytes each); older ones are read from the history store "
          "(--history_store)");
ABSL_FLAG(bool, history_store, true,
          "engine: keep history entries that leave memory in a store "
          "(RocksDB, DATA_DIR/history), so HISTORY pages go on to an "
          "account's first entry. Off: pages end where memory does");
ABSL_FLAG(uint64_t, history_store_cache_bytes, uint64_t{32} << 20,
          "engine: the history store's block cache");
ABSL_FLAG(std::string, inject_fault, "",
          "FOR TESTS ONLY (fail-stop tests): KIND:N makes the Nth log "
          "storage call of that kind fail, counted from start-up, once. "
          "KIND: sync (fdatasync EIO), write (EIO), nospace (write ENOSPC), "
          "short_write (half written, then EIO), preallocate (fallocate "
          "ENOSPC), syncdir (directory fsync EIO). A fault while serving "
          "stops the server with exit 70, nothing after it acknowledged. "
          "Refused without --allow_fault_injection; not settable from "
          "--config");
ABSL_FLAG(bool, allow_fault_injection, false,
          "FOR TESTS ONLY: required with --inject_fault, so that a stray "
          "flag cannot break a production server");

namespace {

// The flag names a config file may set (never the fault-injection ones).
const std::vector<std::string> kConfigurable = {
    "listen",
    "auth_token",
    "metrics_listen",
    "data_dir",
    "wal_segment_bytes",
    "wal_archive",
    "wal_archive_dir",
    "wal_archive_bytes_max",
    "snapshot_every_log_bytes",
    "snapshot_fork",
    "wal_repair",
    "shards",
    "io_threads",
    "reply_spin_us",
    "max_connections",
    "max_requests_in_flight",
    "max_bytes_in_flight",
    "max_write_queue_bytes",
    "max_body_bytes",
    "max_ops_per_request",
    "max_history_limit",
    "protocol_version_min",
    "idle_timeout_ms",
    "frame_read_timeout_ms",
    "submit_retry_ms",
    "shutdown_grace_ms",
    "submit_queue_capacity",
    "requests_in_flight_max",
    "op_ids_remembered_max",
    "ops_in_flight_max",
    "op_id_index",
    "op_id_retention_s",
    "op_id_index_cache_bytes",
    "history_entries_per_shard_max",
    "history_store",
    "history_store_cache_bytes",
    "store_compaction_write_bytes_per_s",
    "idle_spin_iterations",
};

[[noreturn]] void Die(int code, const std::string& message) {
  std::fprintf(stderr, "cofferd: %s\n", message.c_str());
  std::exit(code);
}

// --metrics_listen's server, or null when the flag is empty; exits 2 on a
// bad address.
std::unique_ptr<coffer::net::MetricsServer> StartMetrics(
    const std::string& auth_token, coffer::net::ServerMetrics* state) {
  const std::string address = absl::GetFlag(FLAGS_metrics_listen);
  if (address.empty()) return nullptr;
  coffer::net::MetricsServer::Handlers handlers;
  handlers.metrics = [state] { return state->Render(); };
  handlers.ready = [state] { return state->Ready(); };
  auto started =
      coffer::net::MetricsServer::Start(address, auth_token, handlers);
  if (!started.ok()) Die(2, std::string(started.status().message()));
  std::printf("cofferd: metrics on http://%s/metrics and /ready\n",
              address.c_str());
  std::fflush(stdout);
  return std::move(started).value();
}

// "host:port" or "[v6]:port".
bool SplitListen(const std::string& s, std::string* host, uint16_t* port) {
  std::string port_text;
  if (!s.empty() && s[0] == '[') {
    const size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() ||
        s[close + 1] != ':') {
      return false;
    }
    *host = s.substr(1, close - 1);
    port_text = s.substr(close + 2);
  } else {
    const size_t colon = s.rfind(':');
    if (colon == std::string::npos) return false;
    *host = s.substr(0, colon);
    port_text = s.substr(colon + 1);
  }
  uint32_t p = 0;
  if (host->empty() || !absl::SimpleAtoi(port_text, &p) || p > 65535) {
    return false;
  }
  *port = static_cast<uint16_t>(p);
  return true;
}

// One line on stderr per report while the engine recovers, e.g.
// "cofferd: recovering: replayed 2,068,480 of ~5,000,000 log ops (41%),
// 0.20M ops/s, about 15 s left".
void PrintRecoveryProgress(const coffer::RecoveryProgress& p) {
  using Phase = coffer::RecoveryProgress::Phase;
  std::string line;
  switch (p.phase) {
    case Phase::kSnapshotLoaded:
      line = p.snapshot_seq == 0
                 ? std::string("no snapshot")
                 : absl::StrFormat("snapshot at seq %d loaded", p.snapshot_seq);
      break;
    case Phase::kReplaying: {
      const double share =
          p.ops_total == 0 ? 0 : 100.0 * p.ops_replayed / p.ops_total;
      line = absl::StrFormat("replayed %d of ~%d log ops (%.0f%%), %.2fM ops/s",
                             p.ops_replayed, p.ops_total,
                             std::min(share, 100.0), p.ops_per_s / 1e6);
      if (p.ops_replayed > 0) {
        absl::StrAppend(
            &line, absl::StrFormat(", about %.0f s left", p.eta_seconds()));
      }
      break;
    }
    case Phase::kReplayed:
      line =
          absl::StrFormat("replayed %d log ops in %.2f s (%.2fM ops/s)",
                          p.ops_replayed, p.replay_seconds, p.ops_per_s / 1e6);
      break;
  }
  std::fprintf(stderr, "cofferd: recovering: %s (%.1f s since start)\n",
               line.c_str(), p.seconds);
}

// "data dir D: recovered to seq N (...)", or the in-memory warning.
std::string RecoverySummary(const coffer::Engine& engine) {
  const std::string& dir = engine.config().data_dir;
  if (dir.empty()) {
    return "no data dir: state in memory only, nothing survives a restart";
  }
  const coffer::RecoveryReport& r = engine.recovery();
  std::string line = absl::StrFormat(
      "data dir %s: recovered to seq %d (%d log records, %d ops replayed", dir,
      r.last_seq, r.log_records, r.log_ops);
  if (r.from_snapshot) {
    absl::StrAppend(&line, " after snapshot seq ", r.snapshot_seq);
  }
  absl::StrAppend(&line, absl::StrFormat(") in %.2f s", r.seconds));
  for (const std::string& note : r.notes) absl::StrAppend(&line, "; ", note);
  const coffer::EngineConfig& c = engine.config();
  if (c.wal_archive_dir.empty()) {
    absl::StrAppend(&line, "; old log segments are deleted (--wal_archive)");
  } else {
    absl::StrAppend(&line, "; old log segments kept in ", c.wal_archive_dir);
    if (c.wal_archive_bytes_max != 0) {
      absl::StrAppend(&line, " (at most ", c.wal_archive_bytes_max, " bytes)");
    }
  }
  if (c.op_id_index) {
    absl::StrAppend(&line, "; op ids remembered on disk ",
                    c.op_id_retention_s == 0
                        ? std::string("forever")
                        : absl::StrCat("for ", c.op_id_retention_s, " s"));
  } else {
    absl::StrAppend(&line, "; op ids remembered in memory only (the last ",
                    c.op_ids_remembered_max, ")");
  }
  absl::StrAppend(&line, c.history_store
                             ? "; history kept on disk beyond memory"
                             : "; history beyond memory dropped");
  return line;
}

}  // namespace

int main(int argc, char** argv) {
  const auto process_started = std::chrono::steady_clock::now();
  const std::string usage =
      "cofferd: the Coffer ledger server (binary protocol: "
      "net/PROTOCOL.md).\n"
      "Usage: cofferd [--listen=127.0.0.1:7300] [--data_dir=DIR] "
      "[--config=FILE] [flags]\n"
      "Stops gracefully on SIGINT/SIGTERM: stops accepting, answers every "
      "request in flight, exits 0.\n"
      "Exit 2: bad settings; 1: could not start (port in use, damaged "
      "data directory); 70: a log write or fsync failed while serving "
      "(fail-stop: nothing after the failure was acknowledged; restart to "
      "recover from the log).";
  // The config file first, so that command-line flags override it.
  if (const std::string path =
          coffer::net::FindFlagInArgv(argc, argv, "config");
      !path.empty()) {
    if (absl::Status s = coffer::net::ApplyConfigFile(path, kConfigurable);
        !s.ok()) {
      Die(2, std::string(s.message()));
    }
  }
  if (!coffer::net::ParseProgramFlags(argc, argv, usage).empty()) {
    Die(2, "unexpected argument (cofferd takes only flags; see --help)");
  }

  coffer::net::ServerConfig sc;
  if (!SplitListen(absl::GetFlag(FLAGS_listen), &sc.listen_address, &sc.port)) {
    Die(2, "--listen: expected address:port, got '" +
               absl::GetFlag(FLAGS_listen) + "'");
  }
  sc.auth_token = absl::GetFlag(FLAGS_auth_token);
  sc.io_threads = absl::GetFlag(FLAGS_io_threads);
  sc.reply_spin_us = absl::GetFlag(FLAGS_reply_spin_us);
  sc.max_connections = absl::GetFlag(FLAGS_max_connections);
  sc.max_requests_in_flight = absl::GetFlag(FLAGS_max_requests_in_flight);
  sc.max_bytes_in_flight = absl::GetFlag(FLAGS_max_bytes_in_flight);
  sc.max_write_queue_bytes = absl::GetFlag(FLAGS_max_write_queue_bytes);
  sc.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  sc.max_ops_per_request = absl::GetFlag(FLAGS_max_ops_per_request);
  sc.max_history_limit = absl::GetFlag(FLAGS_max_history_limit);
  sc.protocol_version_min = static_cast<uint16_t>(std::min<uint32_t>(
      absl::GetFlag(FLAGS_protocol_version_min), UINT16_MAX));
  sc.idle_timeout_ms = absl::GetFlag(FLAGS_idle_timeout_ms);
  sc.frame_read_timeout_ms = absl::GetFlag(FLAGS_frame_read_timeout_ms);
  sc.submit_retry_ms = absl::GetFlag(FLAGS_submit_retry_ms);
  sc.shutdown_grace_ms = absl::GetFlag(FLAGS_shutdown_grace_ms);
  // Refuse bad network settings before the engine recovers a large log.
  if (absl::Status s = sc.Validate(); !s.ok()) Die(2, std::string(s.message()));

  coffer::EngineConfig ec;
  ec.shard_count = absl::GetFlag(FLAGS_shards);
  ec.submit_queue_capacity = absl::GetFlag(FLAGS_submit_queue_capacity);
  ec.requests_in_flight_max = absl::GetFlag(FLAGS_requests_in_flight_max);
  ec.op_ids_remembered_max = absl::GetFlag(FLAGS_op_ids_remembered_max);
  ec.ops_in_flight_max = absl::GetFlag(FLAGS_ops_in_flight_max);
  // Said in terms of the flags the operator sets.
  if (ec.op_ids_remembered_max < ec.ops_in_flight_max) {
    Die(2, "--op_ids_remembered_max must be at least --ops_in_flight_max (" +
               std::to_string(ec.ops_in_flight_max) + "); got " +
               std::to_string(ec.op_ids_remembered_max));
  }
  ec.op_id_index = absl::GetFlag(FLAGS_op_id_index);
  ec.op_id_retention_s = absl::GetFlag(FLAGS_op_id_retention_s);
  ec.op_id_index_cache_bytes = absl::GetFlag(FLAGS_op_id_index_cache_bytes);
  ec.history_entries_per_shard_max =
      absl::GetFlag(FLAGS_history_entries_per_shard_max);
  ec.history_store = absl::GetFlag(FLAGS_history_store);
  ec.history_store_cache_bytes = absl::GetFlag(FLAGS_history_store_cache_bytes);
  ec.store_compaction_write_bytes_per_s =
      absl::GetFlag(FLAGS_store_compaction_write_bytes_per_s);
  if (const int64_t spin = absl::GetFlag(FLAGS_idle_spin_iterations);
      spin == -1) {
    ec.idle_spin_iterations =
        std::thread::hardware_concurrency() <= 2 ? 0 : 2000;
  } else if (spin < 0 || spin > int64_t{UINT32_MAX}) {
    Die(2, "--idle_spin_iterations must be -1 (by core count) or 0 to " +
               std::to_string(UINT32_MAX) + "; got " + std::to_string(spin));
  } else {
    ec.idle_spin_iterations = static_cast<uint32_t>(spin);
  }
  ec.data_dir = absl::GetFlag(FLAGS_data_dir);
  ec.wal_segment_bytes = absl::GetFlag(FLAGS_wal_segment_bytes);
  ec.snapshot_every_log_bytes = absl::GetFlag(FLAGS_snapshot_every_log_bytes);
  ec.snapshot_fork = absl::GetFlag(FLAGS_snapshot_fork);
  ec.wal_repair = absl::GetFlag(FLAGS_wal_repair);
  if (absl::GetFlag(FLAGS_wal_archive) && !ec.data_dir.empty()) {
    ec.wal_archive_dir = absl::GetFlag(FLAGS_wal_archive_dir);
    if (ec.wal_archive_dir.empty()) {
      ec.wal_archive_dir = coffer::wal::JoinPath(ec.data_dir, "archive");
    }
    ec.wal_archive_bytes_max = absl::GetFlag(FLAGS_wal_archive_bytes_max);
  }
  if (absl::Status s = ec.Validate(); !s.ok()) Die(2, std::string(s.message()));

  // Test-only fault injection: the log's storage wrapped in a FaultyStorage
  // armed before recovery, so N counts every call from start-up.
  std::unique_ptr<coffer::wal::FaultyStorage> faulty;
  if (const std::string spec_text = absl::GetFlag(FLAGS_inject_fault);
      !spec_text.empty()) {
    if (!absl::GetFlag(FLAGS_allow_fault_injection)) {
      Die(2,
          "--inject_fault is for tests only and needs "
          "--allow_fault_injection");
    }
    absl::StatusOr<coffer::wal::FaultSpec> spec =
        coffer::wal::ParseFaultSpec(spec_text);
    if (!spec.ok())
      Die(2, "--inject_fault: " + std::string(spec.status().message()));
    if (ec.data_dir.empty()) Die(2, "--inject_fault needs a --data_dir");
    faulty = std::make_unique<coffer::wal::FaultyStorage>(
        coffer::wal::PosixStorage());
    faulty->Arm(spec->fault, spec->nth);
    ec.storage = faulty.get();
    std::fprintf(stderr, "cofferd: WARNING: test fault injection armed: %s\n",
                 coffer::wal::FaultSpecText(*spec).c_str());
  }

  // The metrics endpoint starts before recovery, so that /ready tells
  // "recovering" from "down" (net/server_metrics.h).
  coffer::net::ServerMetrics server_metrics;
  std::unique_ptr<coffer::net::MetricsServer> metrics =
      StartMetrics(sc.auth_token, &server_metrics);
  if (!ec.data_dir.empty()) {
    ec.on_recovery_progress = [&](const coffer::RecoveryProgress& p) {
      PrintRecoveryProgress(p);
      server_metrics.OnRecoveryProgress(p);
    };
  }
  auto engine = coffer::Engine::Create(ec);
  if (!engine.ok()) Die(1, std::string(engine.status().message()));
  auto server = coffer::net::Server::Start(engine->get(), sc);
  if (!server.ok()) Die(1, std::string(server.status().message()));

  const double ready_s = std::chrono::duration<double>(
                             std::chrono::steady_clock::now() - process_started)
                             .count();
  std::printf(
      "cofferd listening on %s: %u shards, %u io threads, %s; ready %.2f s "
      "after start\n",
      (*server)->endpoint().c_str(), (*engine)->shard_count(),
      sc.ResolvedIoThreads(), RecoverySummary(**engine).c_str(), ready_s);
  std::fflush(stdout);

  // Serving from now on: /ready says so, /metrics shows everything.
  server_metrics.SetServing(engine->get(), server->get());

  {
    boost::asio::io_context signals_io(1);
    boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
    int caught = 0;
    signals.async_wait(
        [&](const boost::system::error_code&, int signal) { caught = signal; });
    signals_io.run();
    std::printf("cofferd: signal %d: draining connections\n", caught);
    std::fflush(stdout);
  }  // a second signal now takes the default action (immediate exit)
  metrics.reset();  // before the server and engine it reads
  (*server)->Shutdown();
  const coffer::net::ServerCounters c = (*server)->counters();
  server->reset();
  engine->reset();  // answers anything still in flight, stops the threads
  std::printf("cofferd: stopped (%llu replies sent, %llu connections)\n",
              static_cast<unsigned long long>(c.replies_sent),
              static_cast<unsigned long long>(c.connections_accepted));
  return 0;
}
