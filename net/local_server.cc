#include "net/local_server.h"

namespace coffer::net {

absl::StatusOr<std::unique_ptr<LocalServer>> LocalServer::Start(
    EngineConfig engine_config, ServerConfig server_config) {
  auto local = std::make_unique<LocalServer>();
  auto engine = Engine::Create(std::move(engine_config));
  if (!engine.ok()) return engine.status();
  local->engine = std::move(engine).value();
  auto server = Server::Start(local->engine.get(), std::move(server_config));
  if (!server.ok()) return server.status();
  local->server = std::move(server).value();
  return local;
}

LocalServer::~LocalServer() {
  if (server) server->Shutdown();
  server.reset();
  engine.reset();
}

ClientOptions LocalServer::client_options() const {
  ClientOptions o;
  o.host = "127.0.0.1";
  o.port = server->port();
  o.auth_token = server->config().auth_token;
  return o;
}

absl::StatusOr<std::unique_ptr<Client>> LocalServer::Connect() const {
  return Client::Connect(client_options());
}

}  // namespace coffer::net
