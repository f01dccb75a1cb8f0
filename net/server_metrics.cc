#include "net/server_metrics.h"

#include "absl/strings/str_cat.h"
#include "net/metrics_text.h"

namespace coffer::net {

void ServerMetrics::OnRecoveryProgress(const RecoveryProgress& p) {
  constexpr auto r = std::memory_order_relaxed;
  ops_replayed_.store(p.ops_replayed, r);
  ops_total_.store(p.ops_total, r);
  snapshot_seq_.store(p.snapshot_seq, r);
}

void ServerMetrics::SetServing(Engine* engine, Server* server) {
  engine_ = engine;
  server_ = server;
  serving_.store(true, std::memory_order_release);
}

std::string ServerMetrics::Render() const {
  if (!serving_.load(std::memory_order_acquire)) {
    constexpr auto r = std::memory_order_relaxed;
    return absl::StrCat(
        "# HELP coffer_ready 1 once the server serves, 0 while it recovers.\n"
        "# TYPE coffer_ready gauge\ncoffer_ready 0\n"
        "# HELP coffer_recovery_ops_replayed Log ops replayed so far.\n"
        "# TYPE coffer_recovery_ops_replayed gauge\n"
        "coffer_recovery_ops_replayed ",
        ops_replayed_.load(r),
        "\n# HELP coffer_recovery_ops_total Log ops to replay (estimated "
        "until the replay ends).\n"
        "# TYPE coffer_recovery_ops_total gauge\ncoffer_recovery_ops_total ",
        ops_total_.load(r), "\n");
  }
  MetricsInput in;
  in.engine = engine_->Stats();
  in.server = server_->counters();
  in.gauges = server_->gauges();
  in.stages = server_->stages();
  if (auto disk = engine_->MeasureDisk(); disk.ok()) in.disk = *disk;
  in.recovery_seconds = engine_->recovery().seconds;
  return absl::StrCat(
      "# HELP coffer_ready 1 once the server serves, 0 while it recovers.\n"
      "# TYPE coffer_ready gauge\ncoffer_ready 1\n",
      FormatMetrics(in));
}

MetricsServer::Readiness ServerMetrics::Ready() const {
  if (serving_.load(std::memory_order_acquire)) return {true, "serving"};
  constexpr auto r = std::memory_order_relaxed;
  return {false,
          absl::StrCat("recovering: snapshot at seq ", snapshot_seq_.load(r),
                       ", replayed ", ops_replayed_.load(r), " of ~",
                       ops_total_.load(r), " log ops")};
}

}  // namespace coffer::net
