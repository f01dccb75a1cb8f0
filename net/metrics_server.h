// `GET /metrics` over HTTP for Prometheus (cofferd --metrics_listen): a
// small server on a thread of its own, never an io thread of the ledger
// or an engine thread, that answers each scrape with the text its handler
// returns (net/metrics_text.h).
//
// Contract:
// - Each connection gets one answer, then the server closes it
//   (`Connection: close`). `GET /metrics` gets 200 and the text; `GET
//   /ready` 200 while the server serves and 503 before (recovering), each
//   with a line of text; any other path 404; any other method 405; a
//   request head over kHeadBytesMax, or not complete within kHeadTimeoutMs,
//   400 or a close.
// - With a token, a request must carry `Authorization: Bearer TOKEN`
//   (compared in constant time), else 401. Without one, the address must
//   be loopback: MetricsServer::Start refuses any other.
// - At most kConnectionsMax connections at once; one beyond it is closed at
//   once (a scraper retries at its next interval).
// - The handlers run on the metrics thread, once per request.
// - Stop() (and the destructor) closes the listener and every connection
//   and joins the thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace coffer::net {

class MetricsServer {
 public:
  static constexpr size_t kHeadBytesMax = 8192;
  static constexpr uint32_t kHeadTimeoutMs = 5000;
  static constexpr uint32_t kConnectionsMax = 16;

  struct Readiness {
    bool ready = false;  // serving; false: recovering
    std::string text;    // one line for the answer's body
  };
  struct Handlers {
    std::function<std::string()> metrics;  // the /metrics text
    std::function<Readiness()> ready;      // null: always ready
  };

  // `address`: host:port (port 0 picks one). `token` empty: no auth, and
  // the address must be loopback.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const std::string& token, Handlers handlers);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  uint16_t port() const { return port_; }
  void Stop();

 private:
  class Exchange;  // one connection: read the head, answer, close
  MetricsServer(std::string token, Handlers handlers);
  void Accept();

  const std::string token_;
  const Handlers handlers_;
  // Connections now; touched on the metrics thread only (and by the
  // exchanges io_'s destruction drops): declared before io_, so it
  // outlives them.
  uint32_t open_ = 0;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{io_};
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace coffer::net
