#include "net/metrics_server.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "boost/asio/post.hpp"
#include "boost/asio/read_until.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/streambuf.hpp"
#include "boost/asio/write.hpp"
#include "common/thread_name.h"
#include "net/auth.h"
#include "net/server_config.h"

namespace coffer::net {
namespace asio = boost::asio;

namespace {

std::string Response(absl::string_view status, absl::string_view type,
                     absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

// host:port, the port a number up to 65535; host may be [v6].
bool SplitAddress(const std::string& address, std::string* host,
                  uint16_t* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string h = address.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  uint32_t p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p > 65535) {
    return false;
  }
  *host = h == "localhost" ? "127.0.0.1" : h;
  *port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace

class MetricsServer::Exchange
    : public std::enable_shared_from_this<MetricsServer::Exchange> {
 public:
  Exchange(MetricsServer* owner, asio::ip::tcp::socket socket)
      : owner_(owner),
        socket_(std::move(socket)),
        head_(kHeadBytesMax),
        timer_(owner->io_) {}

  void Start() {
    timer_.expires_after(std::chrono::milliseconds(kHeadTimeoutMs));
    timer_.async_wait(
        [self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->socket_.close();  // the head never came
        });
    asio::async_read_until(
        socket_, head_, "\r\n\r\n",
        [self = shared_from_this()](boost::system::error_code ec, size_t) {
          self->OnHead(ec);
        });
  }

  ~Exchange() { --owner_->open_; }

 private:
  void OnHead(boost::system::error_code ec) {
    timer_.cancel();
    if (ec == asio::error::not_found) {  // over kHeadBytesMax
      Answer(Response("400 Bad Request", "text/plain", "request too large\n"));
      return;
    }
    if (ec) return;  // closed, or the timer closed it
    const std::string head(asio::buffers_begin(head_.data()),
                           asio::buffers_end(head_.data()));
    Answer(Respond(head));
  }

  std::string Respond(const std::string& head) const {
    const std::vector<absl::string_view> lines =
        absl::StrSplit(head, "\r\n", absl::SkipEmpty());
    const std::vector<absl::string_view> first =
        lines.empty() ? std::vector<absl::string_view>{}
                      : absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
    if (first.size() != 3 || !absl::StartsWith(first[2], "HTTP/1.")) {
      return Response("400 Bad Request", "text/plain", "bad request line\n");
    }
    if (!owner_->token_.empty() && !Authorized(lines)) {
      return Response("401 Unauthorized", "text/plain",
                      "Authorization: Bearer TOKEN required\n");
    }
    if (first[0] != "GET") {
      return Response("405 Method Not Allowed", "text/plain", "GET only\n");
    }
    if (first[1] == "/ready") {
      if (!owner_->handlers_.ready) {
        return Response("200 OK", "text/plain", "serving\n");
      }
      const Readiness r = owner_->handlers_.ready();
      return Response(r.ready ? "200 OK" : "503 Service Unavailable",
                      "text/plain", r.text + "\n");
    }
    if (first[1] != "/metrics") {
      return Response("404 Not Found", "text/plain",
                      "try /metrics or /ready\n");
    }
    return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8",
                    owner_->handlers_.metrics());
  }

  bool Authorized(const std::vector<absl::string_view>& lines) const {
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) continue;
      if (!absl::EqualsIgnoreCase(lines[i].substr(0, colon), "authorization")) {
        continue;
      }
      absl::string_view value =
          absl::StripAsciiWhitespace(lines[i].substr(colon + 1));
      if (!absl::ConsumePrefix(&value, "Bearer ")) return false;
      return ConstantTimeEquals(std::string_view(value.data(), value.size()),
                                owner_->token_);
    }
    return false;
  }

  void Answer(std::string response) {
    response_ = std::move(response);
    asio::async_write(
        socket_, asio::buffer(response_),
        [self = shared_from_this()](boost::system::error_code, size_t) {
          boost::system::error_code ignored;
          self->socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
          self->socket_.close(ignored);
        });
  }

  MetricsServer* const owner_;
  asio::ip::tcp::socket socket_;
  asio::streambuf head_;
  asio::steady_timer timer_;
  std::string response_;
};

MetricsServer::MetricsServer(std::string token, Handlers handlers)
    : token_(std::move(token)), handlers_(std::move(handlers)) {}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& address, const std::string& token, Handlers handlers) {
  std::string host;
  uint16_t port = 0;
  if (!SplitAddress(address, &host, &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': expected host:port"));
  }
  if (token.empty() && !IsLoopbackAddress(host)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address ", address,
                     " is not loopback: set --auth_token (scrapers then send "
                     "'Authorization: Bearer TOKEN')"));
  }
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address ", address, ": ", ec.message()));
  }
  std::unique_ptr<MetricsServer> s(
      new MetricsServer(token, std::move(handlers)));
  const asio::ip::tcp::endpoint endpoint(ip, port);
  auto fail = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat("metrics ", what, " on ", address, ": ", ec.message()));
  };
  s->acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  s->acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  s->acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  s->port_ = s->acceptor_.local_endpoint().port();
  s->Accept();
  s->thread_ = std::thread([raw = s.get()] { raw->io_.run(); });
  NameThread(s->thread_, "coffer-metrics");
  return s;
}

void MetricsServer::Accept() {
  acceptor_.async_accept(
      [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;  // Stop()
        if (!ec) {
          if (open_ >= kConnectionsMax) {
            socket.close(ec);
          } else {
            ++open_;
            std::make_shared<Exchange>(this, std::move(socket))->Start();
          }
        }
        Accept();
      });
}

void MetricsServer::Stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  });
  // The listener is closed; exchanges still reading end at their timer.
  // Stopping the context drops them now (their handlers are destroyed).
  io_.stop();
  thread_.join();
}

MetricsServer::~MetricsServer() { Stop(); }

}  // namespace coffer::net
