// The client library's batching (issue 12, net/client.h): calls made while
// every slot in flight is busy are coalesced into one OPS frame, and each
// caller still gets exactly its own results; an open chain never joins
// another caller's ops; one op id from two callers in one frame applies
// once; a merged frame is resent after a lost reply and failed as a whole;
// the queue is bounded.
//
// Coalescing is made deterministic with a relay that holds the reply to the
// first request until the test opens it, and ops_frames_in_flight_max = 1:
// while that reply is held, every later call must queue, and the test waits
// (on the client's queued_ops() counter, with a deadline) until they have.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/wire.h"
#include "tests/frame_io.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::Balance;
using coffer::testing::CreateAccount;
using coffer::testing::Credit;
using coffer::testing::Debit;
using Results = absl::StatusOr<std::vector<OpResult>>;

constexpr auto kWaitMax = std::chrono::seconds(20);

// A fresh directory for a durable engine, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ =
        (std::filesystem::temp_directory_path() / "coffer-batch.XXXXXX")
            .string();
    if (::mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<LocalServer> StartServer(const std::string& data_dir = "") {
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  ec.data_dir = data_dir;
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

// A TCP relay, request then reply, frame by frame (the client must keep one
// frame in flight: ops_frames_in_flight_max = 1). On the first connection
// it holds the reply to the first request after HELLO until Open() (pass it
// on) or Fail() (drop both sides and stop accepting: the server looks
// gone). With lose_second_reply it also drops the first connection instead
// of passing on the reply to the second request, as a network failure after
// the server applied it would.
class GateProxy {
 public:
  explicit GateProxy(uint16_t upstream_port, bool lose_second_reply = false)
      : upstream_port_(upstream_port), lose_second_(lose_second_reply) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~GateProxy() {
    Set(Gate::kOpen);                   // never leave the relay waiting
    ::shutdown(listen_fd_, SHUT_RDWR);  // unblocks accept()
    thread_.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  void Open() { Set(Gate::kOpen); }
  void Fail() { Set(Gate::kFail); }

 private:
  enum class Gate { kHeld, kOpen, kFail };

  void Set(Gate g) {
    std::lock_guard<std::mutex> lock(mu_);
    if (gate_ == Gate::kHeld) gate_ = g;
    cv_.notify_all();
  }

  Gate Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return gate_ != Gate::kHeld; });
    return gate_;
  }

  void Run() {
    for (int n = 0;; ++n) {
      const int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(upstream_port_);
      bool failed = false;
      if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) ==
          0) {
        failed = !Relay(client, server, /*first=*/n == 0);
      }
      ::close(server);
      ::close(client);
      if (failed) {
        ::shutdown(listen_fd_, SHUT_RDWR);  // later connects are refused
        return;
      }
    }
  }

  // False after Fail().
  bool Relay(int client, int server, bool first) {
    for (int exchange = 0;; ++exchange) {
      std::vector<uint8_t> request = ReadFrameBytes(client);
      if (request.empty() || !WriteAll(server, request)) return true;
      std::vector<uint8_t> reply = ReadFrameBytes(server);
      if (reply.empty()) return true;
      // Exchange 0 is HELLO; 1 the first request; 2 the next.
      if (first && exchange == 1 && Wait() == Gate::kFail) return false;
      if (first && exchange == 2 && lose_second_) return true;
      if (!WriteAll(client, reply)) return true;
    }
  }

  const uint16_t upstream_port_;
  const bool lose_second_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  Gate gate_ = Gate::kHeld;
  std::thread thread_;
};

// Polls `ready` until it holds or kWaitMax passes (a bound, not a delay:
// the condition is what the test waits for).
bool WaitFor(const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitMax;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// An asynchronous call whose results the test reads later.
struct Call {
  std::promise<Results> promise;
  std::future<Results> future = promise.get_future();
  void Start(Client& c, std::vector<Op> ops) {
    c.ApplyAsync(std::move(ops),
                 [this](Results r) { promise.set_value(std::move(r)); });
  }
  Results Get() {
    if (future.wait_for(kWaitMax) != std::future_status::ready) {
      return absl::DeadlineExceededError("no answer");
    }
    return future.get();
  }
};

// A client through `proxy` with one slot, and a first call (a credit to
// `account`) whose reply the proxy holds: every later call queues.
std::unique_ptr<Client> ConnectGated(GateProxy& proxy, Call& first,
                                     uint64_t account, ClientOptions o = {}) {
  o.port = proxy.port();
  o.ops_frames_in_flight_max = 1;
  o.reconnect_backoff_ms = 1;
  auto c = Client::Connect(o);
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  first.Start(**c, {Credit(account, 1)});
  EXPECT_TRUE(WaitFor([&] { return (*c)->frames_made() == 1; }));
  return std::move(c).value();
}

uint64_t FramesReceived(LocalServer& s) {
  auto direct = s.Connect();
  EXPECT_TRUE(direct.ok());
  auto stats = (*direct)->Stats();
  EXPECT_TRUE(stats.ok());
  return stats.ok() ? stats->server.frames_received : 0;
}

TEST(NetClientBatch, CallsQueuedBehindABusySlotShareOneFrame) {
  auto s = StartServer();
  std::vector<Op> setup;
  for (uint64_t id = 1; id <= 9; ++id) {
    setup.push_back(CreateAccount(id));
    setup.push_back(Credit(id, 100 * id));
  }
  for (const OpResult& r : s->engine->Apply(setup)) ASSERT_TRUE(r.ok());
  GateProxy proxy(s->port());
  Call first;
  auto c = ConnectGated(proxy, first, 9);
  ASSERT_NE(c, nullptr);
  // Seven callers debit their own account; the eighth sends a closed chain
  // of three ops (contiguous and in order inside the merged frame).
  std::vector<Call> calls(8);
  for (uint64_t i = 0; i < 7; ++i) {
    calls[i].Start(*c, {Debit(i + 1, i + 1)});
    ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == i + 1; }));
  }
  Op a = Debit(8, 10), b = Debit(8, 20), d = Credit(8, 5);
  a.flags = b.flags = kOpFlagLinked;
  calls[7].Start(*c, {a, b, d});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 10; }));
  proxy.Open();
  ASSERT_TRUE(first.Get().ok());
  for (uint64_t i = 0; i < 7; ++i) {
    Results r = calls[i].Get();
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ(r->at(0).code, ResultCode::kOk);
    EXPECT_EQ(r->at(0).balance_after,
              static_cast<int64_t>(100 * (i + 1) - (i + 1)));
  }
  Results chain = calls[7].Get();
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ(chain->at(0).balance_after, 790);
  EXPECT_EQ(chain->at(1).balance_after, 770);
  EXPECT_EQ(chain->at(2).balance_after, 775);
  // The first call, then one frame for the eight queued calls.
  EXPECT_EQ(c->frames_made(), 2u);
  EXPECT_EQ(c->calls_framed(), 9u);
  // HELLO and two ops frames, then the HELLO and STATS of the reading
  // connection.
  EXPECT_EQ(FramesReceived(*s), 1 + 2 + 2u);
}

TEST(NetClientBatch, AnOpenChainIsNeverMergedWithTheNextCallersOps) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1), CreateAccount(2)})[1].ok());
  GateProxy proxy(s->port());
  Call first, open, next;
  auto c = ConnectGated(proxy, first, 1);
  ASSERT_NE(c, nullptr);
  Op linked = Credit(2, 7);
  linked.flags = kOpFlagLinked;  // the chain runs to the end of the call
  open.Start(*c, {linked});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 1; }));
  next.Start(*c, {Credit(2, 3)});  // merged, it would close the chain
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 2; }));
  proxy.Open();
  ASSERT_TRUE(first.Get().ok());
  Results r = open.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->at(0).code, ResultCode::kLinkedChainOpen);
  r = next.Get();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->at(0).code, ResultCode::kOk);
  EXPECT_EQ(r->at(0).balance_after, 3);
  EXPECT_EQ(Balance(*s->engine, 2), 3);
  EXPECT_EQ(c->frames_made(), 3u);  // the open chain went alone
}

TEST(NetClientBatch, OneOpIdFromTwoCallersInOneFrameAppliesOnce) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1), Credit(1, 100)})[1].ok());
  GateProxy proxy(s->port());
  Call first, x, y;
  auto c = ConnectGated(proxy, first, 1);
  ASSERT_NE(c, nullptr);
  const Op charge = Debit(1, 30);
  x.Start(*c, {charge});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 1; }));
  y.Start(*c, {charge});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 2; }));
  proxy.Open();
  ASSERT_TRUE(first.Get().ok());
  Results rx = x.Get(), ry = y.Get();
  ASSERT_TRUE(rx.ok() && ry.ok());
  EXPECT_EQ(c->frames_made(), 2u);  // both in one frame
  EXPECT_EQ(rx->at(0).code, ResultCode::kOk);
  EXPECT_FALSE(rx->at(0).duplicate());
  EXPECT_EQ(ry->at(0).code, ResultCode::kOk);
  EXPECT_TRUE(ry->at(0).duplicate());
  EXPECT_EQ(rx->at(0).balance_after, 71);  // 100 + 1 (first call) - 30
  EXPECT_EQ(ry->at(0).balance_after, rx->at(0).balance_after);
  EXPECT_EQ(ry->at(0).seq, rx->at(0).seq);
  EXPECT_EQ(Balance(*s->engine, 1), 71);
}

TEST(NetClientBatch, AMergedFrameIsResentAfterALostReplyAndAppliedOnce) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine
                  ->Apply({CreateAccount(1), CreateAccount(2), CreateAccount(3),
                           Credit(2, 50), Credit(3, 50)})[4]
                  .ok());
  GateProxy proxy(s->port(), /*lose_second_reply=*/true);
  Call first, x, y;
  auto c = ConnectGated(proxy, first, 1);
  ASSERT_NE(c, nullptr);
  x.Start(*c, {Debit(2, 5)});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 1; }));
  y.Start(*c, {Debit(3, 7)});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 2; }));
  proxy.Open();  // the merged frame's reply is then lost
  ASSERT_TRUE(first.Get().ok());
  Results rx = x.Get(), ry = y.Get();
  ASSERT_TRUE(rx.ok()) << rx.status();
  ASSERT_TRUE(ry.ok()) << ry.status();
  EXPECT_TRUE(rx->at(0).duplicate());
  EXPECT_TRUE(ry->at(0).duplicate());
  EXPECT_EQ(rx->at(0).balance_after, 45);
  EXPECT_EQ(ry->at(0).balance_after, 43);
  EXPECT_EQ(c->reconnects(), 1u);
  EXPECT_EQ(c->frames_made(), 2u);  // resent, not re-made
  EXPECT_EQ(Balance(*s->engine, 2), 45);
  EXPECT_EQ(Balance(*s->engine, 3), 43);
}

TEST(NetClientBatch, QueuedCallsFailWithTheConnectionWhenTheServerStaysAway) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1)})[0].ok());
  GateProxy proxy(s->port());
  Call first, x, y;
  ClientOptions o;
  o.reconnect_attempts = 1;
  auto c = ConnectGated(proxy, first, 1, o);
  ASSERT_NE(c, nullptr);
  x.Start(*c, {Credit(1, 2)});
  y.Start(*c, {Credit(1, 3)});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 2; }));
  proxy.Fail();
  for (Call* call : {&first, &x, &y}) {
    Results r = call->Get();
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  }
  EXPECT_EQ(c->queued_ops(), 0u);
}

TEST(NetClientBatch, AFullQueueRefusesCallsAtOnce) {
  auto s = StartServer();
  ASSERT_TRUE(s->engine->Apply({CreateAccount(1)})[0].ok());
  GateProxy proxy(s->port());
  Call first, refused;
  std::vector<Call> queued(4);
  ClientOptions o;
  o.queued_ops_max = 4;
  auto c = ConnectGated(proxy, first, 1, o);
  ASSERT_NE(c, nullptr);
  for (Call& call : queued) call.Start(*c, {Credit(1, 1)});
  ASSERT_TRUE(WaitFor([&] { return c->queued_ops() == 4; }));
  refused.Start(*c, {Credit(1, 1)});
  Results r = refused.Get();  // answered while the slot is still busy
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(r.status())) << r.status();
  proxy.Open();
  ASSERT_TRUE(first.Get().ok());
  for (Call& call : queued) ASSERT_TRUE(call.Get().ok());
  EXPECT_EQ(Balance(*s->engine, 1), 5);
}

// One caller thread of the test below: kCallsPerThread blocking calls,
// alternating a debit of its own account `own` (every 50th one an
// overdraft that must be refused) and a credit of 1 to kShared.
constexpr uint64_t kShared = 1000;
constexpr int64_t kFunds = 1'000'000;

void CallerLoop(Client& client, uint64_t own, uint64_t calls,
                std::vector<int64_t>* shared_seen, int64_t* debited,
                std::atomic<uint64_t>* failures) {
  for (uint64_t i = 0; i < calls; ++i) {
    const bool credit = i % 2 == 1;
    const bool overdraft = i % 50 == 0;
    const uint64_t amount = overdraft ? 2 * kFunds : 1 + i % 3;
    auto r = client.Apply({credit ? Credit(kShared, 1) : Debit(own, amount)});
    if (!r.ok() || r->size() != 1) {
      failures->fetch_add(1);
      continue;
    }
    const OpResult& res = r->at(0);
    if (credit) {
      if (res.code != ResultCode::kOk) failures->fetch_add(1);
      shared_seen->push_back(res.balance_after);
      continue;
    }
    if (!overdraft) *debited += static_cast<int64_t>(amount);
    const ResultCode want =
        overdraft ? ResultCode::kInsufficientFunds : ResultCode::kOk;
    if (res.code != want || res.duplicate() ||
        res.balance_after != kFunds - *debited) {
      failures->fetch_add(1);
    }
  }
}

// Many threads, each making blocking one-op calls on one shared client,
// against a durable server: every caller gets its own results. Each thread
// debits its own account (so each balance_after is exactly predictable) and
// credits one shared account (so the shared balance_afters seen, over all
// callers, must be exactly 1..credits with none repeated); every 50th call
// is an overdraft that must be refused.
TEST(NetClientBatch, ManyThreadsOfBlockingCallsEachGetTheirOwnResults) {
  constexpr uint64_t kThreads = 16, kCallsPerThread = 500;
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto s = StartServer(dir.path());
  ASSERT_NE(s, nullptr);
  std::vector<Op> setup = {CreateAccount(kShared)};
  for (uint64_t t = 1; t <= kThreads; ++t) {
    setup.push_back(CreateAccount(t));
    setup.push_back(Credit(t, kFunds));
  }
  for (const OpResult& r : s->engine->Apply(setup)) ASSERT_TRUE(r.ok());
  ClientOptions o = s->client_options();
  o.ops_frames_in_flight_max = 1;  // the most coalescing
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  Client& client = **c;
  std::vector<std::vector<int64_t>> shared_seen(kThreads);
  std::vector<int64_t> debited(kThreads, 0);
  std::atomic<uint64_t> failures{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CallerLoop(client, t + 1, kCallsPerThread, &shared_seen[t], &debited[t],
                 &failures);
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0u);
  std::vector<int64_t> all;
  for (const auto& v : shared_seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  const uint64_t credits = kThreads * kCallsPerThread / 2;
  ASSERT_EQ(all.size(), credits);
  for (uint64_t k = 0; k < credits; ++k) {
    ASSERT_EQ(all[k], static_cast<int64_t>(k + 1)) << "at " << k;
  }
  EXPECT_EQ(Balance(*s->engine, kShared), static_cast<int64_t>(credits));
  for (uint64_t t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Balance(*s->engine, t + 1), kFunds - debited[t]);
  }
  // Every call went into some frame, no frame was empty, and the server saw
  // exactly the frames the client made (plus HELLO and the STATS below).
  const uint64_t calls = kThreads * kCallsPerThread;
  EXPECT_EQ(client.calls_framed(), calls);
  EXPECT_LE(client.frames_made(), calls);
  auto stats = client.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->server.frames_received, 1 + client.frames_made());
  std::printf("[batch] %lu calls in %lu frames\n",
              static_cast<unsigned long>(calls),
              static_cast<unsigned long>(client.frames_made()));
}

}  // namespace
}  // namespace coffer::net
