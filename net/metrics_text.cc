#include "net/metrics_text.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "engine/latency_histogram.h"

namespace coffer::net {
namespace {

// Writes one metric: HELP and TYPE, then its samples.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Begin(absl::string_view name, absl::string_view type,
             absl::string_view help) {
    absl::StrAppend(out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                    type, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, uint64_t v) {
    absl::StrAppend(out_, name, labels, " ", v, "\n");
  }
  void Sample(absl::string_view name, absl::string_view labels, double v) {
    absl::StrAppend(out_, name, labels, " ", absl::StrFormat("%.9g", v), "\n");
  }
  void One(absl::string_view name, absl::string_view type,
           absl::string_view help, uint64_t v) {
    Begin(name, type, help);
    Sample(name, "", v);
  }

 private:
  std::string* out_;
};

void EngineCounters(const EngineStats& e, Writer& w) {
  w.One("coffer_requests_total", "counter",
        "Requests the engine accepted (ops, lookups, history, digest).",
        e.requests);
  w.One("coffer_ops_sequenced_total", "counter",
        "Ops given a seq (applied or refused by the executor).",
        e.ops_sequenced);
  w.One("coffer_duplicates_total", "counter",
        "Ops answered as retries of an op already applied.", e.duplicates);
  w.One("coffer_refused_before_ordering_total", "counter",
        "Ops refused before they got a seq (op id zero, open chains, ...).",
        e.refused_before_ordering);
  w.One("coffer_log_syncs_total", "counter",
        "fdatasync calls of the write-ahead log.", e.log_syncs);
  w.One("coffer_log_records_total", "counter",
        "Records appended to the write-ahead log.", e.log_records);
  w.One("coffer_snapshots_total", "counter", "Snapshots written since start.",
        e.snapshots);
  w.One("coffer_snapshot_failures_total", "counter",
        "Snapshots that failed (the log keeps everything).",
        e.snapshot_failures);
  w.One("coffer_op_id_index_lookups_total", "counter",
        "Op ids looked up in the on-disk index (not in memory).",
        e.op_id_index_lookups);
  w.One("coffer_op_ids_found_on_disk_total", "counter",
        "Op ids found in the on-disk index.", e.op_ids_found_on_disk);
  w.One("coffer_history_entries_stored_total", "counter",
        "History entries written to the on-disk history store.",
        e.history_entries_stored);
}

void EngineGauges(const EngineStats& e, Writer& w) {
  w.One("coffer_last_seq", "gauge", "The seq of the newest ordered op.",
        e.last_seq);
  w.One("coffer_durable_seq", "gauge",
        "Every op up to this seq is fsynced (0 in memory).", e.durable_seq);
  w.One("coffer_durability_lag_ops", "gauge",
        "Ops ordered but not yet fsynced.", e.durability_lag());
  w.One("coffer_snapshot_seq", "gauge", "The seq of the newest snapshot.",
        e.snapshot_seq);
  w.Begin("coffer_snapshot_pause_seconds", "gauge",
          "How long ordering paused to start the last snapshot.");
  w.Sample("coffer_snapshot_pause_seconds", "", e.snapshot_pause_us / 1e6);
  w.Begin("coffer_shard_accounts", "gauge", "Accounts per shard.");
  for (size_t i = 0; i < e.shards.size(); ++i) {
    w.Sample("coffer_shard_accounts", absl::StrCat("{shard=\"", i, "\"}"),
             e.shards[i].accounts);
  }
  w.Begin("coffer_shard_txns_applied_total", "counter",
          "Transactions applied per shard.");
  for (size_t i = 0; i < e.shards.size(); ++i) {
    w.Sample("coffer_shard_txns_applied_total",
             absl::StrCat("{shard=\"", i, "\"}"), e.shards[i].txns_applied);
  }
}

void ServerMetrics(const ServerCounters& s, const ServerGauges& g, Writer& w) {
  w.One("coffer_connections_open", "gauge", "Client connections open now.",
        s.connections_open);
  w.One("coffer_connections_accepted_total", "counter",
        "Client connections accepted.", s.connections_accepted);
  w.One("coffer_connections_refused_total", "counter",
        "Client connections refused (max_connections, shutting down).",
        s.connections_refused);
  w.One("coffer_frames_received_total", "counter", "Frames received.",
        s.frames_received);
  w.One("coffer_replies_sent_total", "counter", "Replies sent.",
        s.replies_sent);
  w.One("coffer_protocol_errors_total", "counter",
        "Frames refused as malformed.", s.protocol_errors);
  w.One("coffer_busy_replies_total", "counter",
        "Requests answered busy (the engine's queue was full).",
        s.busy_replies);
  w.One("coffer_requests_in_flight_max", "gauge",
        "The most requests in flight on one connection seen.",
        g.requests_in_flight_max);
  w.One("coffer_write_queue_bytes_max", "gauge",
        "The largest reply backlog of one connection seen, in bytes.",
        g.write_queue_bytes_max);
  w.One("coffer_read_pauses_total", "counter",
        "Reads deferred because a connection's bound was reached.",
        g.read_pauses);
  w.One("coffer_idle_closes_total", "counter",
        "Connections closed for idleness.", g.idle_closes);
}

// Quantiles as a `percentile` label on a gauge: the histogram keeps no sum,
// which a Prometheus summary needs (promtool refuses `quantile` elsewhere).
void Percentiles(const HistogramSnapshot& h, absl::string_view name,
                 const std::string& labels, double scale, Writer& w) {
  constexpr std::pair<double, const char*> kPercentiles[] = {
      {0.5, "50"}, {0.99, "99"}, {0.999, "99.9"}};
  for (const auto& [q, label] : kPercentiles) {
    w.Sample(name, absl::StrCat("{", labels, "percentile=\"", label, "\"}"),
             static_cast<double>(h.Quantile(q)) * scale);
  }
}

void Stages(const std::vector<StageSnapshot>& stages, Writer& w) {
  w.Begin("coffer_stage_seconds", "gauge",
          "Latency of a pipeline stage since start, by percentile (the "
          "stages of coffer stats).");
  for (const StageSnapshot& s : stages) {
    if (s.stage == Stage::kLogBatchOps) continue;  // a count, below
    Percentiles(
        s.histogram, "coffer_stage_seconds",
        absl::StrCat("stage=\"", std::string(StageName(s.stage)), "\","), 1e-9,
        w);
  }
  w.Begin("coffer_stage_samples_total", "counter",
          "Samples recorded per pipeline stage.");
  for (const StageSnapshot& s : stages) {
    w.Sample("coffer_stage_samples_total",
             absl::StrCat("{stage=\"", std::string(StageName(s.stage)), "\"}"),
             s.histogram.count);
  }
  w.Begin("coffer_log_batch_ops", "gauge",
          "Ops per write and fdatasync of the log (group commit), by "
          "percentile since start.");
  for (const StageSnapshot& s : stages) {
    if (s.stage == Stage::kLogBatchOps) {
      Percentiles(s.histogram, "coffer_log_batch_ops", "", 1.0, w);
    }
  }
}

}  // namespace

std::string FormatMetrics(const MetricsInput& in) {
  std::string out;
  Writer w(&out);
  EngineCounters(in.engine, w);
  EngineGauges(in.engine, w);
  ServerMetrics(in.server, in.gauges, w);
  Stages(in.stages, w);
  w.Begin("coffer_disk_bytes", "gauge", "Bytes on disk by area.");
  for (const DiskAreaUsage& d : in.disk) {
    w.Sample("coffer_disk_bytes",
             absl::StrCat("{area=\"", DiskAreaName(d.area), "\"}"), d.bytes);
  }
  w.Begin("coffer_recovery_seconds", "gauge",
          "How long start-up took (snapshot load and log replay).");
  w.Sample("coffer_recovery_seconds", "", in.recovery_seconds);
  return out;
}

}  // namespace coffer::net
