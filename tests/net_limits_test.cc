// Every per-connection and per-server bound, reached on purpose: the
// connection limit, requests and bytes in flight, the write queue of a
// client that does not read, the idle timeout, the frame size limit, and a
// full engine queue.
#include <poll.h>

#include <atomic>
#include <chrono>
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

std::unique_ptr<LocalServer> StartServer(ServerConfig sc,
                                         EngineConfig ec = {}) {
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  sc.port = 0;
  if (sc.io_threads == 0) sc.io_threads = 2;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

RawConnection Open(const LocalServer& s) {
  auto c = RawConnection::Connect(s.port());
  EXPECT_TRUE(c.ok()) << c.status();
  auto ok = c->Handshake();
  EXPECT_TRUE(ok.ok()) << ok.status();
  return std::move(c).value();
}

TEST(NetLimits, ConnectionsAboveTheMaximumAreRefused) {
  ServerConfig sc;
  sc.max_connections = 2;
  auto s = StartServer(sc);
  RawConnection a = Open(*s);
  RawConnection b = Open(*s);
  auto extra = RawConnection::Connect(s->port());
  ASSERT_TRUE(extra.ok());
  ASSERT_TRUE(extra->Send(1, Hello{}).ok());
  auto f = extra->ReadFrame();
  ASSERT_TRUE(f.ok()) << f.status();
  const Error* e = std::get_if<Error>(&f->message);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kTooManyConnections);
  EXPECT_TRUE(extra->ExpectClosed().ok());
  extra = absl::UnavailableError("closed");  // closes our end
  EXPECT_EQ(s->server->counters().connections_refused, 1u);
  // The two admitted connections still work.
  ASSERT_TRUE(a.Send(2, Ping{}).ok());
  EXPECT_TRUE(std::holds_alternative<Pong>(a.ReadFrame()->message));
  // Once one closes, a new connection is admitted.
  b = std::move(a);
  ASSERT_TRUE(s->server->WaitForConnectionsAtMost(1, std::chrono::seconds(10)));
  RawConnection c = Open(*s);
  ASSERT_TRUE(c.Send(3, Ping{}).ok());
  EXPECT_TRUE(std::holds_alternative<Pong>(c.ReadFrame()->message));
}

// The server lets at most this many refused connections linger at once
// (kRefusalsLingeringMax in net/server.cc); the tests below go beyond it.
constexpr size_t kRefusalsLingering = 64;
constexpr size_t kRefusedBeyondTheBound = 40;

// Two admitted connections fill a server with max_connections 2.
struct FullServer {
  std::unique_ptr<LocalServer> server;
  std::vector<RawConnection> held;
};

FullServer StartFullServer() {
  ServerConfig sc;
  sc.max_connections = 2;
  FullServer f{StartServer(sc), {}};
  if (f.server == nullptr) return f;
  f.held.push_back(Open(*f.server));
  f.held.push_back(Open(*f.server));
  return f;
}

TEST(NetLimits, EveryRefusedConnectionGetsTheErrorBeyondTheLingeringBound) {
  FullServer full = StartFullServer();
  ASSERT_NE(full.server, nullptr);
  // All at once and silent: the first 64 linger (waiting for our EOF), so
  // the other 40 are refused while the lingering bound is reached.
  constexpr size_t kExtra = kRefusalsLingering + kRefusedBeyondTheBound;
  std::vector<RawConnection> extra;
  for (size_t i = 0; i < kExtra; ++i) {
    auto c =
        RawConnection::Connect(full.server->port(), std::chrono::seconds(5));
    ASSERT_TRUE(c.ok()) << i << ": " << c.status();
    extra.push_back(std::move(c).value());
  }
  for (size_t i = 0; i < kExtra; ++i) {
    auto f = extra[i].ReadFrame();
    ASSERT_TRUE(f.ok()) << "connection " << i << ": " << f.status();
    const Error* e = std::get_if<Error>(&f->message);
    ASSERT_NE(e, nullptr) << "connection " << i;
    EXPECT_EQ(e->code, ErrorCode::kTooManyConnections) << "connection " << i;
    EXPECT_NE(e->flags & kErrorFlagClosing, 0) << "connection " << i;
    EXPECT_TRUE(extra[i].ExpectClosed().ok()) << "connection " << i;
  }
  EXPECT_EQ(full.server->server->counters().connections_refused, kExtra);
  // The admitted connections are unaffected.
  ASSERT_TRUE(full.held[0].Send(2, Ping{}).ok());
  EXPECT_TRUE(std::holds_alternative<Pong>(full.held[0].ReadFrame()->message));
}

TEST(NetLimits, RefusedClientsThatSendHelloFirstNeverHang) {
  FullServer full = StartFullServer();
  ASSERT_NE(full.server, nullptr);
  constexpr size_t kExtra = kRefusalsLingering + kRefusedBeyondTheBound;
  std::vector<RawConnection> extra;
  for (size_t i = 0; i < kExtra; ++i) {
    auto c =
        RawConnection::Connect(full.server->port(), std::chrono::seconds(5));
    ASSERT_TRUE(c.ok()) << i << ": " << c.status();
    // May fail: the server may have refused and closed already.
    (void)c->Send(1, Hello{});
    extra.push_back(std::move(c).value());
  }
  // Each read is bounded (5 s): an ERROR, or the connection reset when the
  // HELLO reached a socket the server had closed; never a timeout.
  size_t told = 0;
  for (size_t i = 0; i < kExtra; ++i) {
    auto f = extra[i].ReadFrame();
    if (!f.ok()) {
      EXPECT_TRUE(absl::IsUnavailable(f.status()))
          << "connection " << i << ": " << f.status();
      continue;
    }
    const Error* e = std::get_if<Error>(&f->message);
    ASSERT_NE(e, nullptr) << "connection " << i;
    EXPECT_EQ(e->code, ErrorCode::kTooManyConnections) << "connection " << i;
    ++told;
  }
  // More than the lingering refusals alone could tell (Linux keeps the
  // ERROR readable even when a reset follows it, so in practice all are).
  EXPECT_GT(told, kRefusalsLingering);
}

TEST(NetLimits, RequestsInFlightStayWithinTheBound) {
  ServerConfig sc;
  sc.max_requests_in_flight = 4;
  auto s = StartServer(sc);
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1)})[0].ok());
  RawConnection c = Open(*s);
  // 2,000 requests in one burst; the server may only work on 4 at a time
  // and must leave the rest unread (in its buffer or the socket's).
  constexpr uint64_t kRequests = 2000;
  std::vector<uint8_t> bytes;
  for (uint64_t id = 1; id <= kRequests; ++id) {
    EncodeFrame(id, OpsRequest{{Credit(1, 1)}}, bytes);
  }
  std::thread writer([&] { ASSERT_TRUE(c.SendBytes(bytes).ok()); });
  for (uint64_t i = 0; i < kRequests; ++i) {
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(std::get<OpsReply>(f->message).results.at(0).code,
              ResultCode::kOk);
  }
  writer.join();
  const ServerGauges g = s->server->gauges();
  EXPECT_LE(g.requests_in_flight_max, 4u);
  EXPECT_GE(g.requests_in_flight_max, 1u);
  EXPECT_GT(g.read_pauses, 0u);
  EXPECT_EQ(coffer::testing::Balance(*s->engine, 1),
            static_cast<int64_t>(kRequests));
}

TEST(NetLimits, BytesInFlightStayWithinTheBound) {
  ServerConfig sc;
  sc.max_bytes_in_flight = 16 << 10;
  auto s = StartServer(sc);
  RawConnection c = Open(*s);
  // Each lookup of 100 ids pins its 800 body bytes and a 5,608-byte reply.
  std::vector<uint64_t> ids(100);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i + 1;
  constexpr uint64_t kRequests = 300;
  std::vector<uint8_t> bytes;
  for (uint64_t id = 1; id <= kRequests; ++id) {
    EncodeFrame(id, LookupRequest{ids}, bytes);
  }
  std::thread writer([&] { ASSERT_TRUE(c.SendBytes(bytes).ok()); });
  for (uint64_t i = 0; i < kRequests; ++i) {
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(std::get<LookupReply>(f->message).accounts.size(), 100u);
  }
  writer.join();
  const ServerGauges g = s->server->gauges();
  // Admission stops at the bound, so it is exceeded by less than one
  // request's cost (~7 KiB).
  EXPECT_LT(g.bytes_in_flight_max, (16u << 10) + (8u << 10));
  EXPECT_LE(g.requests_in_flight_max, 4u);
  EXPECT_GT(g.read_pauses, 0u);
}

TEST(NetLimits, SlowReaderCannotGrowServerMemory) {
  ServerConfig sc;
  sc.max_write_queue_bytes = 64 << 10;
  sc.max_bytes_in_flight = 256 << 10;
  auto s = StartServer(sc);
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw->Handshake().ok());
  // Lookups of 1,000 ids: 8 KB asked, 56 KB answered. The client does not
  // read, so replies pile up until the server stops reading requests.
  std::vector<uint64_t> ids(1000, 1);
  std::vector<uint8_t> frame;
  EncodeFrame(1, LookupRequest{ids}, frame);
  uint64_t sent_requests = 0;
  size_t offset = 0;
  // Send until the connection has been unwritable for 1 s: the server has
  // stopped reading (the bound under test), and TCP has pushed back.
  for (;;) {
    if (offset == 0) {
      // A new request id per frame.
      EncodeHeader(
          [&] {
            FrameHeader h = DecodeHeader(frame.data());
            h.request_id = sent_requests + 1;
            return h;
          }(),
          frame.data());
    }
    auto n = raw->SendSomeNonBlocking(
        std::span<const uint8_t>(frame).subspan(offset));
    ASSERT_TRUE(n.ok()) << n.status();
    offset += *n;
    if (offset == frame.size()) {
      offset = 0;
      ++sent_requests;
      ASSERT_LT(sent_requests, 100'000u) << "the server never pushed back";
      continue;
    }
    pollfd p{raw->fd(), POLLOUT, 0};
    if (::poll(&p, 1, 1000) == 0) break;
  }
  const ServerGauges g = s->server->gauges();
  // Queued replies: below the bound when the last request was admitted,
  // plus the replies of the requests then in flight (below their bound
  // plus the one request admitted last, 64 KiB here).
  EXPECT_LE(g.write_queue_bytes_max,
            sc.max_write_queue_bytes + sc.max_bytes_in_flight + (64 << 10));
  EXPECT_LE(g.read_buffer_bytes_max, kHeaderBytes + sc.max_body_bytes);
  EXPECT_GT(g.read_pauses, 0u);
  // Now read: the rest of the last frame goes out, and every request sent
  // is answered.
  std::atomic<uint64_t> answered{0};
  const uint64_t expected = sent_requests + (offset > 0 ? 1 : 0);
  std::thread reader([&] {
    for (uint64_t i = 0; i < expected; ++i) {
      auto f = raw->ReadFrame();
      if (!f.ok()) break;
      answered.fetch_add(1);
    }
  });
  if (offset > 0) {
    ASSERT_TRUE(
        raw->SendBytes(std::span<const uint8_t>(frame).subspan(offset)).ok());
  }
  reader.join();
  EXPECT_EQ(answered.load(), expected);
}

TEST(NetLimits, ReaderThatNeverReadsIsClosedAfterTheIdleTimeout) {
  ServerConfig sc;
  sc.max_write_queue_bytes = 16 << 10;
  sc.idle_timeout_ms = 300;
  auto s = StartServer(sc);
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok());
  raw->SetReceiveBuffer(4096);
  ASSERT_TRUE(raw->Handshake().ok());
  // Send lookups (56 KB replies) until the server stops taking them; the
  // client never reads, so the server's write makes no progress.
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
    if (!n.ok()) break;  // already closed by the server
    offset = (offset + *n) % frame.size();
    pollfd p{raw->fd(), POLLOUT, 0};
    if (*n == 0 && ::poll(&p, 1, 1000) == 0) break;
    ASSERT_LT(id, 100'000u) << "the server never pushed back";
  }
  // No byte moves for 300 ms: the server gives up on this reader.
  EXPECT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(20)));
  EXPECT_EQ(s->server->gauges().stalled_write_closes, 1u);
}

TEST(NetLimits, IdleConnectionIsClosed) {
  ServerConfig sc;
  sc.idle_timeout_ms = 200;
  auto s = StartServer(sc);
  const auto start = std::chrono::steady_clock::now();
  RawConnection c = Open(*s);
  auto f = c.ReadFrame();
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(f.ok()) << f.status();
  const Error* e = std::get_if<Error>(&f->message);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->code, ErrorCode::kIdleTimeout);
  EXPECT_EQ(f->header.request_id, 0u);
  EXPECT_TRUE(c.ExpectClosed().ok());
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_EQ(s->server->gauges().idle_closes, 1u);
}

TEST(NetLimits, ConnectionWithoutHelloIsClosedAfterTheIdleTimeout) {
  ServerConfig sc;
  sc.idle_timeout_ms = 200;
  auto s = StartServer(sc);
  auto c = RawConnection::Connect(s->port());
  ASSERT_TRUE(c.ok());
  auto f = c->ReadFrame();
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(std::holds_alternative<Error>(f->message));
  EXPECT_EQ(std::get<Error>(f->message).code, ErrorCode::kIdleTimeout);
  EXPECT_TRUE(c->ExpectClosed().ok());
}

TEST(NetLimits, ActiveConnectionIsNotIdle) {
  ServerConfig sc;
  sc.idle_timeout_ms = 200;
  auto s = StartServer(sc);
  RawConnection c = Open(*s);
  // Pings for longer than the timeout, each well within it: never idle.
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(600);
  uint64_t id = 1;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(c.Send(id, Ping{}).ok());
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(std::holds_alternative<Pong>(f->message));
    ++id;
  }
  EXPECT_EQ(s->server->gauges().idle_closes, 0u);
}

TEST(NetLimits, FrameAtTheSizeLimitIsAcceptedAndOneByteMoreIsNot) {
  ServerConfig sc;
  sc.max_body_bytes = kOpsFixedBytesV2 + 64 * 64;  // exactly 64 ops
  auto s = StartServer(sc);
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1)})[0].ok());
  RawConnection c = Open(*s);
  std::vector<Op> ops;
  for (int i = 0; i < 64; ++i) ops.push_back(Credit(1, 1));
  ASSERT_TRUE(c.Send(1, OpsRequest{ops}).ok());
  auto f = c.ReadFrame();
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(std::get<OpsReply>(f->message).results.size(), 64u);
  ops.push_back(Credit(1, 1));
  ASSERT_TRUE(c.Send(2, OpsRequest{ops}).ok());
  f = c.ReadFrame();
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(std::holds_alternative<Error>(f->message));
  EXPECT_EQ(std::get<Error>(f->message).code, ErrorCode::kFrameTooLarge);
  EXPECT_TRUE(c.ExpectClosed().ok());
  EXPECT_EQ(coffer::testing::Balance(*s->engine, 1), 64);
}

TEST(NetLimits, FullEngineQueueIsRetriedThenAnsweredBusy) {
  // A one-slot engine queue behind a one-request sequencer window: most
  // submissions find it full. With the retry window the server retries
  // them; with none (submit_retry_ms = 0) they are answered ERROR busy and
  // the client resends them. Either way every credit applies exactly once.
  for (uint32_t retry_ms : {2000u, 0u}) {
    SCOPED_TRACE(retry_ms);
    EngineConfig ec;
    ec.submit_queue_capacity = 1;
    ec.requests_in_flight_max = 1;
    ServerConfig sc;
    sc.submit_retry_ms = retry_ms;
    auto s = StartServer(sc, ec);
    ASSERT_TRUE(s->engine->Apply({CreateAccount(1)})[0].ok());
    constexpr int kClients = 6;
    constexpr int kRequestsEach = 100;
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < kClients; ++i) {
      ClientOptions o = s->client_options();
      o.busy_retries = 1000;
      o.busy_backoff_ms = 1;
      auto c = Client::Connect(o);
      ASSERT_TRUE(c.ok());
      clients.push_back(std::move(c).value());
    }
    // Each client sends its requests one after another (many clients, one
    // engine slot): the pressure is on the engine queue, not on the client.
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (auto& c : clients) {
      threads.emplace_back([&, client = c.get()] {
        for (int i = 0; i < kRequestsEach; ++i) {
          auto r = client->Apply({Credit(1, 1)});
          if (r.ok() && r->at(0).ok() && !r->at(0).duplicate()) {
            ok.fetch_add(1);
          } else {
            failed.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(ok.load(), kClients * kRequestsEach);
    EXPECT_EQ(coffer::testing::Balance(*s->engine, 1),
              kClients * kRequestsEach);
    const ServerCounters n = s->server->counters();
    if (retry_ms == 0) {
      EXPECT_EQ(n.busy_replies, n.submit_retries);
    } else {
      EXPECT_EQ(n.busy_replies, 0u);
    }
    std::printf("retry_ms %u: %llu TrySubmit refusals, %llu busy replies\n",
                retry_ms, static_cast<unsigned long long>(n.submit_retries),
                static_cast<unsigned long long>(n.busy_replies));
  }
}

}  // namespace
}  // namespace coffer::net
