// What cofferd's /metrics and /ready show (net/metrics_server.h): before
// the server serves, the recovery's progress (the metrics endpoint starts
// before recovery, so a deployment can tell "recovering" from "down");
// once it serves, the whole state (net/metrics_text.h).
//
// Contract:
// - OnRecoveryProgress may be called from the recovering thread while
//   Render and Ready run on the metrics thread: the progress is atomics.
// - SetServing is called once, after the server accepts connections; the
//   engine and server must then outlive every Render (cofferd stops the
//   metrics server first).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/config.h"
#include "engine/engine.h"
#include "net/metrics_server.h"
#include "net/server.h"

namespace coffer::net {

class ServerMetrics {
 public:
  void OnRecoveryProgress(const RecoveryProgress& p);
  void SetServing(Engine* engine, Server* server);

  std::string Render() const;
  MetricsServer::Readiness Ready() const;

 private:
  std::atomic<uint64_t> ops_replayed_{0};
  std::atomic<uint64_t> ops_total_{0};
  std::atomic<uint64_t> snapshot_seq_{0};
  // Written before serving_ is set (release), read after it (acquire).
  Engine* engine_ = nullptr;
  Server* server_ = nullptr;
  std::atomic<bool> serving_{false};
};

}  // namespace coffer::net
