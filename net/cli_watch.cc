#include "net/cli_watch.h"

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace coffer::net {
namespace {

constexpr uint32_t kHeaderEveryLines = 20;

struct Sample {
  StatsReply stats;
  std::chrono::steady_clock::time_point at;
};

// Per second over the interval between two samples.
double Rate(uint64_t before, uint64_t after, double seconds) {
  return after >= before && seconds > 0 ? (after - before) / seconds : 0;
}

void PrintHeader(std::ostream& out) {
  out << absl::StrFormat("%-8s %10s %9s %7s %8s %8s %6s %7s %14s %8s %5s\n",
                         "time", "ops/s", "req/s", "dup/s", "syncs/s",
                         "ops/sync", "conns", "busy/s", "last_seq", "dur_lag",
                         "snaps");
}

void PrintLine(const Sample& a, const Sample& b, bool json, std::ostream& out) {
  const double s = std::chrono::duration<double>(b.at - a.at).count();
  const EngineStats& x = a.stats.engine;
  const EngineStats& y = b.stats.engine;
  const double ops = Rate(x.ops_sequenced, y.ops_sequenced, s);
  const double syncs = Rate(x.log_syncs, y.log_syncs, s);
  const double per_sync = syncs > 0 ? ops / syncs : 0;
  const uint64_t lag = y.durability_lag();
  const double requests = Rate(x.requests, y.requests, s);
  const double dups = Rate(x.duplicates, y.duplicates, s);
  const double busy =
      Rate(a.stats.server.busy_replies, b.stats.server.busy_replies, s);
  const std::string time =
      absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone());
  if (json) {
    out << absl::StrFormat(
        "{\"time\":\"%s\",\"ops_per_s\":%.0f,\"requests_per_s\":%.0f,"
        "\"duplicates_per_s\":%.0f,\"log_syncs_per_s\":%.0f,"
        "\"ops_per_sync\":%.1f,\"connections_open\":\"%d\","
        "\"busy_per_s\":%.0f,\"last_seq\":\"%d\",\"durable_lag\":\"%d\","
        "\"snapshots\":\"%d\"}\n",
        time, ops, requests, dups, syncs, per_sync,
        b.stats.server.connections_open, busy, y.last_seq, lag, y.snapshots);
    return;
  }
  out << absl::StrFormat(
      "%-8s %10.0f %9.0f %7.0f %8.0f %8.1f %6d %7.0f %14d %8d %5d\n", time, ops,
      requests, dups, syncs, per_sync, b.stats.server.connections_open, busy,
      y.last_seq, lag, y.snapshots);
}

absl::StatusOr<Sample> Take(Client& client) {
  absl::StatusOr<StatsReply> r = client.Stats();
  if (!r.ok()) return r.status();
  return Sample{*std::move(r), std::chrono::steady_clock::now()};
}

}  // namespace

absl::Status WatchStats(Client& client, const WatchOptions& options,
                        std::ostream& out) {
  absl::StatusOr<Sample> previous = Take(client);
  if (!previous.ok()) return previous.status();
  for (uint64_t line = 0; options.count == 0 || line < options.count; ++line) {
    std::this_thread::sleep_for(std::chrono::milliseconds(options.interval_ms));
    absl::StatusOr<Sample> now = Take(client);
    if (!now.ok()) return now.status();
    if (!options.json && line % kHeaderEveryLines == 0) PrintHeader(out);
    PrintLine(*previous, *now, options.json, out);
    out.flush();
    previous = std::move(now);
  }
  return absl::OkStatus();
}

}  // namespace coffer::net
