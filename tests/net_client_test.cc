// The client library: when a reply is lost with the connection, it
// reconnects and resends the same frame, so the engine answers the retry of
// an op that had applied with its original result (duplicate) instead of
// charging twice; it gives up with kUnavailable when the server stays
// away; and calls after a failure reconnect.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/wire.h"
#include "tests/frame_io.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::CreateAccount;
using coffer::testing::Credit;
using coffer::testing::Debit;

std::unique_ptr<LocalServer> StartServer() {
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 1;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

using coffer::testing::ReadAll;
using coffer::testing::ReadFrameBytes;
using coffer::testing::WriteAll;

// A TCP relay between one client and the server that loses the reply to
// the first request of the first connection (it closes both sides instead
// of passing it on), as a network failure after the server applied the
// request would. Relays frame by frame, request then reply, which is how a
// synchronous client talks.
class LossyProxy {
 public:
  explicit LossyProxy(uint16_t upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~LossyProxy() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // unblocks accept()
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  void Run() {
    for (int n = 0;; ++n) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      connections_.fetch_add(1);
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(upstream_port_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
          0) {
        Relay(client, server, /*lose_first_reply=*/n == 0);
      }
      ::close(server);
      ::close(client);
    }
  }

  static void Relay(int client, int server, bool lose_first_reply) {
    for (int exchange = 0;; ++exchange) {
      std::vector<uint8_t> request = ReadFrameBytes(client);
      if (request.empty() || !WriteAll(server, request)) return;
      std::vector<uint8_t> reply = ReadFrameBytes(server);
      if (reply.empty()) return;
      // Exchange 0 is HELLO; exchange 1 the first request.
      if (lose_first_reply && exchange == 1) return;
      if (!WriteAll(client, reply)) return;
    }
  }

  const uint16_t upstream_port_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(NetClient, LostReplyIsRetriedWithTheSameOpIdAndChargedOnce) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1), Credit(1, 100)})[1].ok());
  LossyProxy proxy(s->port());
  ClientOptions o;
  o.port = proxy.port();
  o.reconnect_backoff_ms = 1;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  const Op charge = Debit(1, 30);
  auto r = (*c)->Apply({charge});
  ASSERT_TRUE(r.ok()) << r.status();
  // The first attempt applied (its reply was lost); the resent frame got
  // the original answer.
  EXPECT_EQ(r->at(0).code, ResultCode::kOk);
  EXPECT_TRUE(r->at(0).duplicate());
  EXPECT_EQ(r->at(0).balance_after, 70);
  EXPECT_EQ((*c)->reconnects(), 1u);
  EXPECT_EQ(proxy.connections(), 2);
  EXPECT_EQ(coffer::testing::Balance(*s->engine, 1), 70);
  EXPECT_EQ(s->engine->Stats().duplicates, 1u);
  // The new connection keeps working.
  r = (*c)->Apply({Debit(1, 5)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at(0).balance_after, 65);
  EXPECT_FALSE(r->at(0).duplicate());
}

TEST(NetClient, GivesUpWhenTheServerStaysAway) {
  auto s = StartServer();
  ClientOptions o = s->client_options();
  o.reconnect_attempts = 2;
  o.reconnect_backoff_ms = 1;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Ping().ok());
  s.reset();  // server and engine gone; the port is closed
  auto r = (*c)->Apply({Credit(1, 1)});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
}

TEST(NetClient, ConnectFailsFastWithoutAServer) {
  uint16_t port;
  {
    auto s = StartServer();
    port = s->port();
  }
  ClientOptions o;
  o.port = port;
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsUnavailable(c.status())) << c.status();
}

TEST(NetClient, PendingRequestsFailWithCancelledWhenTheClientCloses) {
  auto s = StartServer();
  auto c = s->Connect();
  ASSERT_TRUE(c.ok());
  std::atomic<int> answered{0};
  for (int i = 0; i < 100; ++i) {
    (*c)->Send(Ping{}, [&](absl::StatusOr<Message> m) {
      EXPECT_TRUE(m.ok() || absl::IsCancelled(m.status())) << m.status();
      answered.fetch_add(1);
    });
  }
  c->reset();  // every callback runs exactly once, before this returns
  EXPECT_EQ(answered.load(), 100);
}

TEST(NetClient, ServerInfoReportsTheHandshake) {
  auto s = StartServer();
  auto c = s->Connect();
  ASSERT_TRUE(c.ok());
  const HelloOk info = (*c)->server_info();
  EXPECT_EQ(info.version, kVersionMax);
  EXPECT_EQ(info.shard_count, 2u);
  EXPECT_EQ(info.max_ops_per_request, 8192u);
}

}  // namespace
}  // namespace coffer::net
