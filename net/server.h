// Coffer's TCP server: accepts connections on a pool of io threads and
// serves the binary protocol (net/PROTOCOL.md) from an Engine it does not
// own. cofferd wraps it; tests run it in-process on port 0.
//
//   auto server = coffer::net::Server::Start(engine.get(), config).value();
//   ... server->port() ...
//   server->Shutdown();  // graceful: answers everything in flight
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "engine/engine.h"
#include "net/io_context_pool.h"
#include "net/server_config.h"
#include "net/server_shared.h"

namespace coffer::net {

class Server {
 public:
  // Binds, listens and starts the io threads. `engine` must outlive the
  // server.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Engine* engine,
                                                       ServerConfig config);
  ~Server();  // Shutdown()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Graceful stop: stop accepting; on every connection stop reading,
  // answer every request already decoded (each waits for the engine's
  // on_complete), send ERROR shutting_down and close. Waits up to
  // shutdown_grace_ms for peers to read their replies, then closes the
  // remaining connections, waits for the engine to finish what it was
  // given, and stops the io threads. Idempotent; any thread but an io one.
  void Shutdown();

  uint16_t port() const { return port_; }
  // "address:port" as bound.
  std::string endpoint() const;
  const ServerConfig& config() const { return shared_->config; }

  ServerCounters counters() const { return shared_->Counters(); }
  ServerGauges gauges() const { return shared_->Gauges(); }
  // The engine's stages and the network's (what STAGES answers).
  std::vector<StageSnapshot> stages() const { return shared_->Stages(); }
  uint64_t connections_open() const {
    return shared_->connections_open.load(std::memory_order_relaxed);
  }
  // Waits until at most `open` admitted connections remain (a closed one
  // counts until its last engine request has completed; refused ones never
  // count). False on timeout.
  bool WaitForConnectionsAtMost(size_t open, std::chrono::milliseconds timeout);

 private:
  Server(Engine* engine, const ServerConfig& config);
  absl::Status Listen();
  void Accept();
  void OnAccept(const boost::system::error_code& ec,
                boost::asio::ip::tcp::socket socket);
  void Admit(boost::asio::ip::tcp::socket socket, bool refuse);

  std::unique_ptr<ServerShared> shared_;
  IoContextPool pool_;
  // On pool_.At(0); declared after pool_ so that it is destroyed first.
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer accept_retry_timer_;
  uint16_t port_ = 0;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

}  // namespace coffer::net
