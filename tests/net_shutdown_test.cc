// Graceful shutdown: with requests in flight on many connections, every
// request the server decoded is answered before it closes, so what clients
// saw acknowledged is exactly what the ledger applied; idle peers are told
// and closed at once; a peer that does not read delays shutdown by at most
// the grace period.
#include <poll.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::CreateAccount;
using coffer::testing::Credit;
using coffer::testing::Debit;

std::unique_ptr<LocalServer> StartServer(ServerConfig sc = {}) {
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  sc.port = 0;
  sc.io_threads = 2;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

RawConnection Open(const LocalServer& s) {
  auto c = RawConnection::Connect(s.port());
  EXPECT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->Handshake().ok());
  return std::move(c).value();
}

TEST(NetShutdown, InFlightRequestsAreAnsweredAndNothingAcknowledgedIsLost) {
  constexpr int kConnections = 8;
  constexpr int kRequestsEach = 3000;
  constexpr uint64_t kAccount = 1;
  constexpr int64_t kStart = 1'000'000'000;
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(kAccount)})[0].ok());
  ASSERT_TRUE(s->engine->Apply({Credit(kAccount, kStart)})[0].ok());

  std::vector<RawConnection> conns;
  for (int i = 0; i < kConnections; ++i) conns.push_back(Open(*s));
  // Request r on connection c debits c * kRequestsEach + r + 1, so the sum
  // of acknowledged amounts identifies exactly which debits were answered.
  std::atomic<int64_t> acknowledged{0};
  std::atomic<int> told_shutting_down{0};
  std::latch started(kConnections);
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      std::thread writer([&] {
        std::vector<uint8_t> bytes;
        for (int r = 0; r < kRequestsEach; ++r) {
          EncodeFrame(r + 1,
                      OpsRequest{{Debit(kAccount, c * kRequestsEach + r + 1)}},
                      bytes);
        }
        // Fails once the server stops reading and closes: expected.
        conns[c].SendBytes(bytes).IgnoreError();
      });
      int replies = 0;
      for (;;) {
        auto f = conns[c].ReadFrame();
        if (!f.ok()) break;
        if (auto* e = std::get_if<Error>(&f->message)) {
          EXPECT_EQ(e->code, ErrorCode::kShuttingDown) << e->message;
          EXPECT_EQ(f->header.request_id, 0u);
          told_shutting_down.fetch_add(1);
          continue;
        }
        const OpResult& r = std::get<OpsReply>(f->message).results.at(0);
        EXPECT_EQ(r.code, ResultCode::kOk);
        acknowledged.fetch_add(c * kRequestsEach + f->header.request_id);
        if (++replies == 20) started.count_down();
      }
      if (replies < 20) started.count_down();
      writer.join();
    });
  }
  started.wait();  // every connection has replies flowing
  s->server->Shutdown();
  for (auto& t : threads) t.join();
  EXPECT_EQ(told_shutting_down.load(), kConnections);
  // Everything acknowledged was applied, and nothing else was.
  EXPECT_EQ(coffer::testing::Balance(*s->engine, kAccount),
            kStart - acknowledged.load());
  EXPECT_GT(acknowledged.load(), 0);
  // No longer listening.
  EXPECT_FALSE(RawConnection::Connect(s->port()).ok());
}

TEST(NetShutdown, AcknowledgedOpsSurviveARestart) {
  // With the write-ahead log, a reply means the op is durable: stop the
  // server in the middle of a pipelined burst, recover a new engine from
  // the same directory, and find exactly the acknowledged debits.
  char dir_template[] = "/tmp/coffer-net-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  ec.data_dir = dir;
  ec.wal_segment_bytes = 1 << 20;
  ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 2;
  constexpr uint64_t kAccount = 1;
  constexpr int64_t kStart = 1'000'000;
  constexpr int kRequests = 2000;
  std::vector<Op> debits;
  for (int r = 0; r < kRequests; ++r) debits.push_back(Debit(kAccount, r + 1));
  int64_t acknowledged = 0;
  {
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    auto& s = *local;
    ASSERT_TRUE(s->engine->Apply({CreateAccount(kAccount)})[0].ok());
    ASSERT_TRUE(s->engine->Apply({Credit(kAccount, kStart)})[0].ok());
    RawConnection c = Open(*s);
    std::thread writer([&] {
      std::vector<uint8_t> bytes;
      for (int r = 0; r < kRequests; ++r) {
        EncodeFrame(r + 1, OpsRequest{{debits[r]}}, bytes);
      }
      c.SendBytes(bytes).IgnoreError();  // fails once the server closes
    });
    int replies = 0;
    std::thread stopper;
    for (;;) {
      auto f = c.ReadFrame();
      if (!f.ok()) break;
      if (std::holds_alternative<Error>(f->message)) continue;
      EXPECT_EQ(std::get<OpsReply>(f->message).results.at(0).code,
                ResultCode::kOk);
      acknowledged += static_cast<int64_t>(f->header.request_id);
      if (++replies == 50) {
        // Stop while the rest is in flight, from another thread (the
        // reader must keep reading for the drain to finish).
        stopper = std::thread([&] { s->server->Shutdown(); });
      }
    }
    writer.join();
    if (stopper.joinable()) stopper.join();
    ASSERT_GE(replies, 50);
  }  // engine closed
  {
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    auto& s = *local;
    EXPECT_EQ(coffer::testing::Balance(*s->engine, kAccount),
              kStart - acknowledged);
    // A retry of the first debit after the restart is answered from the
    // recovered op-id table.
    auto client = s->Connect();
    ASSERT_TRUE(client.ok());
    auto r = (*client)->Apply({debits[0]});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->at(0).duplicate());
    EXPECT_EQ(coffer::testing::Balance(*s->engine, kAccount),
              kStart - acknowledged);
  }
  std::filesystem::remove_all(dir);
}

TEST(NetShutdown, IdleConnectionsAreToldAndClosed) {
  auto s = StartServer();
  RawConnection a = Open(*s);
  auto b = RawConnection::Connect(s->port());  // never says HELLO
  ASSERT_TRUE(b.ok());
  const auto start = std::chrono::steady_clock::now();
  s->server->Shutdown();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  for (RawConnection* c : {&a, &*b}) {
    auto f = c->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(std::holds_alternative<Error>(f->message));
    EXPECT_EQ(std::get<Error>(f->message).code, ErrorCode::kShuttingDown);
    EXPECT_TRUE(c->ExpectClosed().ok());
  }
}

TEST(NetShutdown, PeerThatDoesNotReadDelaysShutdownOnlyByTheGrace) {
  ServerConfig sc;
  sc.shutdown_grace_ms = 300;
  sc.max_write_queue_bytes = 16 << 10;
  auto s = StartServer(sc);
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok());
  raw->SetReceiveBuffer(4096);
  ASSERT_TRUE(raw->Handshake().ok());
  // Fill every buffer between us: big replies, never read.
  std::vector<uint64_t> ids(1000, 1);
  std::vector<uint8_t> frame;
  EncodeFrame(1, LookupRequest{ids}, frame);
  size_t offset = 0;
  uint64_t id = 1;
  for (;;) {
    if (offset == 0) {
      FrameHeader h = DecodeHeader(frame.data());
      h.request_id = id++;
      EncodeHeader(h, frame.data());
    }
    auto n = raw->SendSomeNonBlocking(
        std::span<const uint8_t>(frame).subspan(offset));
    ASSERT_TRUE(n.ok()) << n.status();
    offset = (offset + *n) % frame.size();
    pollfd p{raw->fd(), POLLOUT, 0};
    if (*n == 0 && ::poll(&p, 1, 1000) == 0) break;
    ASSERT_LT(id, 100'000u) << "the server never pushed back";
  }
  const auto start = std::chrono::steady_clock::now();
  s->server->Shutdown();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace coffer::net
