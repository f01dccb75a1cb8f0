// An engine and a server on a loopback port, owned together: what the
// tests and coffer-net-bench start in-process.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "net/client.h"
#include "net/server.h"

namespace coffer::net {

struct LocalServer {
  // Port 0 in `server_config` (the default here) picks an ephemeral port.
  static absl::StatusOr<std::unique_ptr<LocalServer>> Start(
      EngineConfig engine_config, ServerConfig server_config);
  ~LocalServer();  // graceful server shutdown, then the engine

  uint16_t port() const { return server->port(); }
  // Client options for this server (auth token included).
  ClientOptions client_options() const;
  absl::StatusOr<std::unique_ptr<Client>> Connect() const;

  std::unique_ptr<Engine> engine;
  std::unique_ptr<Server> server;
};

}  // namespace coffer::net
