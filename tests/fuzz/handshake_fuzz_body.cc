// The handshake as the server really runs it: a net::Connection (the
// server's per-client object, as Server::Admit makes it) on the accepted
// end of a loopback TCP connection, driven by an io_context on the calling
// thread. The input is written as the client's bytes, then the client
// shuts its send side, and the io_context runs until the connection object
// is gone. Covered: framing, header checks, HELLO decoding, version
// negotiation, the auth token check and, after a successful handshake,
// whatever frames follow (STATS, PING, and engine requests on a small
// in-memory engine).
//
// Properties checked on what the server sent back:
//  * every reply is a well-formed frame (magic, checksum, decodes);
//  * auth: unless the input begins with a HELLO that decodes, offers
//    version 1 and carries the right token, nothing but ERROR comes back
//    (no operation can have been executed);
//  * the connection ends (bounded by a deadline; a hang aborts).
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "engine/engine.h"
#include "net/codec.h"
#include "net/connection.h"
#include "net/server_shared.h"
#include "tests/fuzz/fuzz_bodies.h"

namespace coffer::fuzz {
namespace {

namespace asio = boost::asio;
using net::FrameHeader;
using net::kHeaderBytes;

constexpr char kToken[] = "fuzz-token";
// A connection that has not closed by then is a hang.
constexpr auto kConnectionDeadline = std::chrono::seconds(4);
// Replies kept for checking; beyond this they are read and dropped.
constexpr size_t kReplyBytesMax = 1 << 20;

// Process-wide: an engine, the state a server shares with its connections,
// and a listener; made on first use, never destroyed (the fuzzer exits
// without unwinding).
struct Rig {
  Rig() : acceptor(io) {
    EngineConfig ec;
    ec.shard_count = 2;  // cross-shard paths exist, few threads
    ec.idle_spin_iterations = 50;
    engine = Engine::Create(ec).value();
    net::ServerConfig sc;
    sc.port = 0;
    sc.auth_token = kToken;
    sc.max_body_bytes = 1 << 20;
    sc.idle_timeout_ms = 10'000;
    shared = std::make_unique<net::ServerShared>(sc, engine.get());
    shared->AddReplyInbox(io);  // as Server does for each of its io threads
    const asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
    acceptor.open(at.protocol());
    acceptor.bind(at);
    acceptor.listen(64);
    port = acceptor.local_endpoint().port();
  }
  asio::io_context io;
  // Keeps run_one_for waiting while the engine holds a request.
  asio::executor_work_guard<asio::io_context::executor_type> work{
      io.get_executor()};
  std::unique_ptr<Engine> engine;
  std::unique_ptr<net::ServerShared> shared;
  asio::ip::tcp::acceptor acceptor;
  uint16_t port = 0;
};

Rig& TheRig() {
  static Rig* rig = new Rig();
  return *rig;
}

// Connects from a rotating source address in 127.0.0.0/8. The client
// closes first (it shuts its send side to end the input), so each of its
// ports sits in TIME_WAIT for a minute; from a single source address a few
// hundred inputs a second use up the ephemeral ports within minutes.
int ConnectClient(uint16_t port) {
  static uint32_t next_source = 0;
  for (int attempt = 0; attempt < 64; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    FuzzCheck(fd >= 0, "socket()");
    sockaddr_in source{};
    source.sin_family = AF_INET;
    source.sin_addr.s_addr = htonl(0x7F000001u + (next_source++ % 250));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return fd;
    }
    ::close(fd);  // this source address's ports are all in TIME_WAIT
  }
  FuzzCheck(false, "connect() to the loopback listener");
  return -1;
}

// Reads what is available without blocking; false at EOF or error.
bool DrainClient(int fd, std::vector<uint8_t>* replies) {
  uint8_t buf[16 << 10];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      if (replies->size() < kReplyBytesMax) {
        replies->insert(replies->end(), buf, buf + n);
      }
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

// True if the input starts with a whole HELLO the server must accept.
bool StartsWithGoodHello(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return false;
  const FrameHeader h = net::DecodeHeader(data);
  if (h.magic != net::kMagic ||
      h.kind != static_cast<uint16_t>(net::MessageKind::kHello) ||
      h.version != net::kHelloHeaderVersion ||
      size - kHeaderBytes < h.body_bytes) {
    return false;
  }
  const std::span<const uint8_t> body(data + kHeaderBytes, h.body_bytes);
  if (net::BodyChecksum(body) != h.body_xxh3) return false;
  net::Message m;
  net::Problem problem;
  if (!net::DecodeBody(h, body, &m, &problem)) return false;
  const auto& hello = std::get<net::Hello>(m);
  return hello.min_version <= net::kVersionMax &&
         hello.max_version >= net::kVersionMin && hello.auth_token == kToken;
}

void CheckReplies(const std::vector<uint8_t>& replies, bool may_open) {
  size_t at = 0;
  bool opened = false;
  while (replies.size() - at >= kHeaderBytes) {
    const FrameHeader h = net::DecodeHeader(replies.data() + at);
    FuzzCheck(h.magic == net::kMagic, "reply with bad magic");
    if (replies.size() - at - kHeaderBytes < h.body_bytes) break;  // capped
    const std::span<const uint8_t> body(replies.data() + at + kHeaderBytes,
                                        h.body_bytes);
    FuzzCheck(net::BodyChecksum(body) == h.body_xxh3, "reply checksum");
    net::Message m;
    net::Problem problem;
    FuzzCheck(net::DecodeBody(h, body, &m, &problem), "reply does not decode");
    const auto kind = static_cast<net::MessageKind>(h.kind);
    if (kind == net::MessageKind::kHelloOk) {
      FuzzCheck(may_open, "HELLO_OK without a valid HELLO and token");
      FuzzCheck(!opened, "second HELLO_OK");
      opened = true;
    } else if (kind != net::MessageKind::kError) {
      FuzzCheck(opened, "a reply other than ERROR before HELLO_OK");
    }
    at += kHeaderBytes + h.body_bytes;
  }
}

}  // namespace

void FuzzHandshake(const uint8_t* data, size_t size) {
  Rig& rig = TheRig();
  const int client = ConnectClient(rig.port);
  asio::ip::tcp::socket server_side(rig.io);
  rig.acceptor.accept(server_side);  // the connect above is in the backlog

  std::weak_ptr<net::Connection> alive;
  {
    auto c = std::make_shared<net::Connection>(*rig.shared,
                                               std::move(server_side), false);
    rig.shared->Add(c.get(), c, false);
    c->Start();
    alive = c;
  }

  // The loopback send buffer takes the whole (max_len-bounded) input
  // before the server reads any of it.
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(client, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may already have closed
    sent += static_cast<size_t>(n);
  }
  ::shutdown(client, SHUT_WR);

  std::vector<uint8_t> replies;
  const auto deadline = std::chrono::steady_clock::now() + kConnectionDeadline;
  bool client_open = true;
  while (!alive.expired()) {
    rig.io.run_one_for(std::chrono::milliseconds(1));
    if (client_open) client_open = DrainClient(client, &replies);
    FuzzCheck(std::chrono::steady_clock::now() < deadline,
              "the connection did not close");
  }
  // The server side is closed: everything it sent is readable now.
  const int flags = ::fcntl(client, F_GETFL);
  ::fcntl(client, F_SETFL, flags & ~O_NONBLOCK);
  while (client_open) {
    uint8_t buf[16 << 10];
    const ssize_t n = ::recv(client, buf, sizeof buf, 0);
    if (n <= 0) break;
    if (replies.size() < kReplyBytesMax) {
      replies.insert(replies.end(), buf, buf + n);
    }
  }
  ::close(client);
  CheckReplies(replies, StartsWithGoodHello(data, size));
}

}  // namespace coffer::fuzz
