// The Prometheus text exposition (format 0.0.4) of a server's state, as
// `GET /metrics` serves it (net/metrics_server.h, cofferd
// --metrics_listen): the counters of STATS, the pipeline stages' latency
// quantiles and sample counts, gauges of connections, in-flight bounds,
// durability lag and disk bytes, and the start-up time.
//
// Contract:
// - Pure: the text depends only on the input (tests compare it).
// - Every metric has one `# HELP` and one `# TYPE` line before its samples;
//   names are `coffer_*` in base units (seconds, bytes), counters end in
//   `_total`. tests/metrics_test.cc checks it with promtool.
// - Stage latencies are percentiles since start, in seconds: gauges with a
//   `percentile` label (the histogram keeps no sum, which a summary needs),
//   and a counter of samples per stage.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/stats.h"
#include "net/codec.h"
#include "net/server_shared.h"

namespace coffer::net {

struct MetricsInput {
  EngineStats engine;
  ServerCounters server;
  ServerGauges gauges;
  std::vector<StageSnapshot> stages;
  std::vector<DiskAreaUsage> disk;  // empty: in memory, or not measured
  double recovery_seconds = 0;
};

std::string FormatMetrics(const MetricsInput& in);

}  // namespace coffer::net
