// Many connections at once over loopback TCP: the balance guard holds when
// 64 connections race debits on one account, one op id sent on 32
// connections at once is charged once, and 1,000 connections doing work
// at the same time are all served.
#include <sys/resource.h>

#include <atomic>
#include <latch>
#include <memory>
#include <set>
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
  ec.shard_count = 3;
  ec.idle_spin_iterations = 64;
  sc.port = 0;
  sc.io_threads = 2;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

TEST(NetRace, SixtyFourConnectionsDebitOneAccount) {
  constexpr int kConnections = 64;
  constexpr int kDebitsEach = 10;
  constexpr uint64_t kAccount = 7;
  auto s = StartServer();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kConnections; ++i) {
    auto c = s->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(std::move(c).value());
  }
  ASSERT_TRUE(
      clients[0]->Apply({CreateAccount(kAccount), Credit(kAccount, 100)}).ok());
  std::vector<std::vector<OpResult>> results(kConnections);
  std::atomic<int> transport_errors{0};
  std::latch start(kConnections);
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kDebitsEach; ++i) {
        auto r = clients[t]->Apply({Debit(kAccount, 1)});
        if (!r.ok()) {
          transport_errors.fetch_add(1);
          continue;
        }
        results[t].push_back(r->at(0));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(transport_errors.load(), 0);
  int ok = 0, insufficient = 0;
  std::set<int64_t> balances_after_ok;
  for (const auto& list : results) {
    for (const OpResult& r : list) {
      EXPECT_FALSE(r.duplicate());
      EXPECT_GE(r.balance_after, 0);
      if (r.code == ResultCode::kOk) {
        ++ok;
        balances_after_ok.insert(r.balance_after);
      } else {
        EXPECT_EQ(r.code, ResultCode::kInsufficientFunds);
        ++insufficient;
      }
    }
  }
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(insufficient, kConnections * kDebitsEach - 100);
  // Each success saw a distinct balance: 99, 98, ..., 0.
  EXPECT_EQ(balances_after_ok.size(), 100u);
  auto look = clients[0]->Lookup({kAccount});
  ASSERT_TRUE(look.ok());
  EXPECT_EQ(look->accounts[0].balance, 0);
}

TEST(NetRace, ThirtyTwoConnectionsSendOneOpIdAtOnce) {
  constexpr int kConnections = 32;
  constexpr uint64_t kAccount = 8;
  auto s = StartServer();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kConnections; ++i) {
    auto c = s->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    clients.push_back(std::move(c).value());
  }
  ASSERT_TRUE(clients[0]
                  ->Apply({CreateAccount(kAccount), Credit(kAccount, 1000)})
                  .ok());
  const Op charge = Debit(kAccount, 50);  // one op id, sent 32 times
  std::vector<absl::StatusOr<std::vector<OpResult>>> replies(kConnections);
  std::latch start(kConnections);
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      replies[t] = clients[t]->Apply({charge});
    });
  }
  for (auto& th : threads) th.join();
  int fresh = 0;
  std::set<uint64_t> seqs;
  for (const auto& r : replies) {
    ASSERT_TRUE(r.ok()) << r.status();
    const OpResult& x = r->at(0);
    EXPECT_EQ(x.code, ResultCode::kOk);
    EXPECT_EQ(x.balance_after, 950);
    seqs.insert(x.seq);
    if (!x.duplicate()) ++fresh;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(seqs.size(), 1u);  // every copy reports the original's seq
  auto look = clients[0]->Lookup({kAccount});
  ASSERT_TRUE(look.ok());
  EXPECT_EQ(look->accounts[0].balance, 950);
  EXPECT_EQ(look->accounts[0].history_count, 3u);  // create, credit, debit
}

// Raises the soft descriptor limit to `want` if the hard limit allows.
bool EnsureDescriptors(rlim_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= want) return true;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) return false;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

TEST(NetConcurrency, ThousandConnectionsAtOnce) {
  constexpr int kConnections = 1000;
  // Both ends of every connection live in this process, plus the engine's.
  if (!EnsureDescriptors(2 * kConnections + 256)) {
    GTEST_SKIP() << "needs RLIMIT_NOFILE >= " << 2 * kConnections + 256
                 << " and the hard limit does not allow raising it";
  }
  ServerConfig sc;
  sc.max_connections = kConnections + 10;
  auto s = StartServer(sc);
  constexpr uint64_t kPot = 9;
  {
    auto c = s->Connect();
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Apply({CreateAccount(kPot)}).ok());
  }
  ASSERT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(10)));
  std::vector<RawConnection> conns;
  conns.reserve(kConnections);
  for (int i = 0; i < kConnections; ++i) {
    auto c = RawConnection::Connect(s->port());
    ASSERT_TRUE(c.ok()) << "connection " << i << ": " << c.status();
    conns.push_back(std::move(c).value());
  }
  // All handshakes in flight at once, then all requests: each connection
  // creates its own account, credits 10 to it and 1 to the shared pot.
  for (auto& c : conns) ASSERT_TRUE(c.Send(1, Hello{}).ok());
  for (auto& c : conns) {
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_TRUE(std::holds_alternative<HelloOk>(f->message));
  }
  EXPECT_EQ(s->server->connections_open(), static_cast<uint64_t>(kConnections));
  for (int i = 0; i < kConnections; ++i) {
    const uint64_t own = 100'000 + i;
    ASSERT_TRUE(conns[i]
                    .Send(2, OpsRequest{{CreateAccount(own), Credit(own, 10),
                                         Credit(kPot, 1)}})
                    .ok());
  }
  for (auto& c : conns) {
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const auto& results = std::get<OpsReply>(f->message).results;
    ASSERT_EQ(results.size(), 3u);
    for (const OpResult& r : results) EXPECT_EQ(r.code, ResultCode::kOk);
  }
  EXPECT_EQ(coffer::testing::Balance(*s->engine, kPot), kConnections);
  EXPECT_EQ(coffer::testing::Balance(*s->engine, 100'000 + kConnections - 1),
            10);
  conns.clear();
  EXPECT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(30)));
}

}  // namespace
}  // namespace coffer::net
