#include "net/server.h"

#include <sys/socket.h>

#include <future>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "net/connection.h"
#include "net/io_loop.h"

namespace coffer::net {
namespace {

namespace asio = boost::asio;

// Refused connections linger (to deliver their ERROR) for at most ~1 s
// each; beyond this many at once, extra ones are refused at once on the
// accepting thread (RefuseAtOnce) so a connection flood cannot pin
// descriptors.
constexpr uint64_t kRefusalsLingeringMax = 64;
// What RefuseAtOnce reads and drops of a refused client's early bytes
// (a HELLO is 24 bytes plus a token of at most 256).
constexpr size_t kRefusalDrainMax = 4096;
// After accept() fails (e.g. out of descriptors), wait before the next try
// rather than spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};

// A refusal beyond the lingering bound, done synchronously with
// non-blocking calls so that it costs the acceptor no wait: the ERROR
// frame (under 100 bytes) fits a fresh socket's empty send buffer, so one
// send queues it whole. The send side is shut (FIN after the frame), and
// what the client already sent is read and dropped, because closing a
// socket with unread input sends RST, which can make the client's kernel
// discard the ERROR. Bytes that arrive after the close still get RST: the
// client then sees a reset after its connect succeeded.
void RefuseAtOnce(asio::ip::tcp::socket& socket, const ServerConfig& config) {
  std::vector<uint8_t> frame;
  EncodeError(0, ErrorCode::kTooManyConnections, kErrorFlagClosing,
              TooManyConnectionsMessage(config), frame);
  const int fd = socket.native_handle();
  // A short or failed send leaves nothing to retry: the peer is gone or
  // misbehaving, and the acceptor must not wait for it.
  if (::send(fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    ::shutdown(fd, SHUT_WR);
    uint8_t discard[512];
    for (size_t drained = 0; drained < kRefusalDrainMax;) {
      const ssize_t n = ::recv(fd, discard, sizeof discard, MSG_DONTWAIT);
      if (n <= 0) break;  // nothing more yet, EOF, or an error
      drained += static_cast<size_t>(n);
    }
  }
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace

Server::Server(Engine* engine, const ServerConfig& config)
    : shared_(std::make_unique<ServerShared>(config, engine)),
      pool_(config.ResolvedIoThreads()),
      acceptor_(pool_.At(0)),
      accept_retry_timer_(pool_.At(0)) {
  // Per-io-thread stage histograms, registered before the threads start.
  for (size_t i = 0; i < pool_.size(); ++i) {
    shared_->AddIoContext(
        static_cast<boost::asio::execution_context*>(&pool_.At(i)));
    shared_->AddReplyInbox(pool_.At(i));
  }
}

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Engine* engine,
                                                      ServerConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  std::unique_ptr<Server> server(new Server(engine, config));
  if (absl::Status s = server->Listen(); !s.ok()) {
    server->shut_down_ = true;  // no threads to stop
    return s;
  }
  server->Accept();
  Server* raw = server.get();
  server->pool_.Start([raw](size_t i) {
    boost::asio::io_context& io = raw->pool_.At(i);
    RunIoLoop(io, *raw->shared_->InboxFor(&io),
              raw->shared_->config.reply_spin_us);
  });
  return server;
}

absl::Status Server::Listen() {
  const ServerConfig& c = shared_->config;
  const std::string host =
      c.listen_address == "localhost" ? "127.0.0.1" : c.listen_address;
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen_address ", c.listen_address, ": ", ec.message()));
  }
  const asio::ip::tcp::endpoint endpoint(address, c.port);
  auto fail = [&](const char* what) {
    return absl::UnavailableError(
        absl::StrCat(what, " ", host, ":", c.port, ": ", ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  port_ = acceptor_.local_endpoint().port();
  return absl::OkStatus();
}

std::string Server::endpoint() const {
  const std::string& a = shared_->config.listen_address;
  return a.find(':') != std::string::npos ? absl::StrCat("[", a, "]:", port_)
                                          : absl::StrCat(a, ":", port_);
}

void Server::Accept() {
  // Each accepted socket goes to the next io_context of the pool.
  acceptor_.async_accept(
      pool_.Next(),
      [this](const boost::system::error_code& ec, asio::ip::tcp::socket s) {
        OnAccept(ec, std::move(s));
      });
}

void Server::OnAccept(const boost::system::error_code& ec,
                      asio::ip::tcp::socket socket) {
  if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // EMFILE and friends: the listening socket still works; try later.
    accept_retry_timer_.expires_after(kAcceptRetryDelay);
    accept_retry_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e && acceptor_.is_open()) Accept();
    });
    return;
  }
  ServerShared& sh = *shared_;
  const bool refuse = sh.connections_open.load(std::memory_order_relaxed) >=
                      sh.config.max_connections;
  if (refuse && sh.refusals_lingering.load(std::memory_order_relaxed) >=
                    kRefusalsLingeringMax) {
    sh.connections_refused.fetch_add(1, std::memory_order_relaxed);
    RefuseAtOnce(socket, sh.config);
  } else {
    Admit(std::move(socket), refuse);
  }
  Accept();
}

void Server::Admit(asio::ip::tcp::socket socket, bool refuse) {
  ServerShared& sh = *shared_;
  if (!refuse) sh.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  auto c = std::make_shared<Connection>(sh, std::move(socket), refuse);
  sh.Add(c.get(), c, refuse);
  c->Start();  // during shutdown it drains at once: ERROR shutting_down
}

bool Server::WaitForConnectionsAtMost(size_t open,
                                      std::chrono::milliseconds timeout) {
  return shared_->WaitForOpen(open, std::chrono::steady_clock::now() + timeout);
}

void Server::Shutdown() {
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  shared_->draining.store(true, std::memory_order_release);
  // A running backup ends at its next chunk (answered backup_failed), so
  // that its connection drains in the grace time rather than after the
  // copy.
  shared_->backups.Stop();
  // The acceptor belongs to io thread 0: close it there, and wait, so that
  // no connection is accepted after the drain below is posted. Connections
  // already in the listen backlog are accepted first and told
  // shutting_down, rather than reset by the close.
  std::promise<void> closed;
  asio::post(pool_.At(0), [&] {
    boost::system::error_code ignored;
    acceptor_.non_blocking(true, ignored);
    for (;;) {
      boost::system::error_code ec;
      asio::ip::tcp::socket s(pool_.Next());
      acceptor_.accept(s, ec);
      if (ec) break;
      Admit(std::move(s), /*refuse=*/false);
    }
    acceptor_.close(ignored);
    accept_retry_timer_.cancel();
    closed.set_value();
  });
  closed.get_future().wait();
  for (auto& c : shared_->Live()) c->Drain();
  const auto grace =
      std::chrono::steady_clock::now() +
      std::chrono::milliseconds(shared_->config.shutdown_grace_ms);
  if (!shared_->WaitForNone(grace)) {
    for (auto& c : shared_->Live()) c->Abort();
    // Connections go away once the engine has answered what they gave it;
    // the engine answers everything it accepted, so this ends.
    while (!shared_->WaitForNone(std::chrono::steady_clock::now() +
                                 std::chrono::seconds(60))) {
    }
  }
  // The backup's thread (cancelled above) ends before the io threads do.
  shared_->backups.Join();
  pool_.Stop();
  pool_.Join();
}

Server::~Server() {
  Shutdown();
  shared_->DestroyReplyInboxes();  // before pool_'s io_contexts
}

}  // namespace coffer::net
