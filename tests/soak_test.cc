// Soak (tests/HARDENING.md): an in-process server under sustained load
// from long-lived pipelined connections and from connections that open,
// send a few requests and close (churn), for COFFER_SOAK_SECONDS (default
// 60). Every reply is checked as it arrives; at the end the balances the
// acknowledged results imply are compared with the ones looked up, the
// server's counters with what the clients sent, the process's resident
// memory after warm-up with its memory at the end, and its descriptors
// with those before the load.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "tests/proc_util.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using Clock = std::chrono::steady_clock;
using coffer::testing::OpenDescriptors;
using coffer::testing::ResidentBytes;

constexpr uint32_t kSoakSecondsDefault = 60;
constexpr uint32_t kSoakSecondsSanitized = 20;
constexpr uint32_t kSoakSecondsMax = 24 * 3600;
constexpr int kPipelined = 4;       // long-lived connections
constexpr int kChurners = 4;        // threads opening and closing
constexpr int kWindow = 16;         // frames in flight per pipelined round
constexpr int kOpsPerFrameMax = 8;  // ops in one frame
constexpr uint64_t kShared = 16;    // accounts 1..16, transfers among them
constexpr int64_t kSharedStart = 1'000'000;
constexpr uint64_t kOwnFirst = 100;  // account kOwnFirst + worker: its own
// Memory the process may gain between the end of warm-up and the end.
constexpr double kResidentGrowthMaxFraction = 0.10;
constexpr uint64_t kResidentGrowthFloorBytes = 8 << 20;
constexpr std::chrono::seconds kProgressEvery{5};

uint32_t SoakSeconds() {
  const uint64_t s = coffer::testing::TestScale(
      "COFFER_SOAK_SECONDS", kSoakSecondsDefault, kSoakSecondsSanitized);
  if (s == 0) return kSoakSecondsDefault;
  return static_cast<uint32_t>(std::min<uint64_t>(s, kSoakSecondsMax));
}

// What the whole run tallies; workers add their part when they stop.
struct Totals {
  std::atomic<uint64_t> ops_acknowledged{0};
  std::atomic<uint64_t> frames_sent{0};  // every frame, HELLO included
  std::atomic<uint64_t> connections{0};  // every connection made
  std::mutex mu;
  std::map<uint64_t, int64_t> shared_delta;  // by account
  std::map<uint64_t, int64_t> own_balance;   // by account
  std::vector<std::string> failures;
  std::atomic<bool> failed{false};  // workers stop at the first failure
  void Fail(std::string what) {
    std::lock_guard<std::mutex> lock(mu);
    if (failures.size() < 20) failures.push_back(std::move(what));
    failed.store(true);
  }
};

// One worker's ops and what their results must be. The worker's own
// account is touched by nobody else, so each of its results is known
// exactly; shared transfers may be refused only for funds.
class Worker {
 public:
  Worker(int index, Totals& totals)
      : account_(kOwnFirst + index), rng_(index + 1), totals_(totals) {}

  uint64_t account() const { return account_; }
  int64_t balance() const { return balance_; }

  struct Expected {
    Op op;
    bool own = false;
    ResultCode code = ResultCode::kOk;
    int64_t balance_after = 0;
  };

  // 1..kOpsPerFrameMax random ops; appends their expectations.
  std::vector<Op> MakeOps(std::vector<Expected>* expected) {
    std::vector<Op> ops;
    const int n = std::uniform_int_distribution<int>(1, kOpsPerFrameMax)(rng_);
    for (int i = 0; i < n; ++i) {
      Expected e;
      const int pick = std::uniform_int_distribution<int>(0, 9)(rng_);
      const uint64_t amount =
          std::uniform_int_distribution<uint64_t>(1, 100)(rng_);
      if (pick < 4) {
        e.op = coffer::testing::Credit(account_, amount);
        e.own = true;
        balance_ += static_cast<int64_t>(amount);
        e.balance_after = balance_;
      } else if (pick < 7) {
        e.op = coffer::testing::Debit(account_, amount);
        e.own = true;
        if (balance_ >= static_cast<int64_t>(amount)) {
          balance_ -= static_cast<int64_t>(amount);
          e.balance_after = balance_;
        } else {
          e.code = ResultCode::kInsufficientFunds;
        }
      } else {
        std::uniform_int_distribution<uint64_t> shared(1, kShared);
        const uint64_t from = shared(rng_);
        uint64_t to = shared(rng_);
        if (to == from) to = from % kShared + 1;
        e.op = coffer::testing::Transfer(from, to, amount);
      }
      ops.push_back(e.op);
      expected->push_back(e);
    }
    return ops;
  }

  // Checks the results of one frame against `expected` (consumed in
  // order); false (and a failure recorded) on any difference.
  bool Check(const std::vector<OpResult>& results,
             const std::vector<Expected>& expected, size_t* next) {
    for (const OpResult& r : results) {
      if (*next >= expected.size()) {
        totals_.Fail("more results than ops");
        return false;
      }
      const Expected& e = expected[(*next)++];
      if (r.duplicate()) {
        totals_.Fail("op answered as a duplicate: " +
                     coffer::testing::Describe(r));
        return false;
      }
      if (e.own) {
        if (r.code != e.code ||
            (r.code == ResultCode::kOk && r.balance_after != e.balance_after)) {
          totals_.Fail("own account " + std::to_string(account_) +
                       ": expected " + std::string(ResultCodeName(e.code)) +
                       " balance_after=" + std::to_string(e.balance_after) +
                       ", got " + coffer::testing::Describe(r));
          return false;
        }
      } else if (r.code == ResultCode::kOk) {
        shared_delta_[e.op.account_id] -= static_cast<int64_t>(e.op.amount);
        shared_delta_[e.op.other_account_id] +=
            static_cast<int64_t>(e.op.amount);
      } else if (r.code != ResultCode::kInsufficientFunds) {
        totals_.Fail("transfer: " + coffer::testing::Describe(r));
        return false;
      }
      ++acknowledged_;
    }
    return true;
  }

  // Adds this worker's tallies to the totals.
  void Publish() {
    std::lock_guard<std::mutex> lock(totals_.mu);
    for (const auto& [id, d] : shared_delta_) totals_.shared_delta[id] += d;
    totals_.own_balance[account_] = balance_;
    totals_.ops_acknowledged.fetch_add(acknowledged_);
  }

 private:
  const uint64_t account_;
  int64_t balance_ = 0;
  std::mt19937_64 rng_;
  Totals& totals_;
  std::map<uint64_t, int64_t> shared_delta_;
  uint64_t acknowledged_ = 0;

 public:
  std::mt19937_64& rng() { return rng_; }
};

// Sends `frames` OPS requests (and, if `lookup`, a lookup of the worker's
// own account) pipelined in one write, then reads every reply and checks
// it. False on any failure.
bool Round(RawConnection& c, Worker& w, Totals& t, int frames, bool lookup,
           uint64_t* next_request_id) {
  std::vector<uint8_t> bytes;
  std::vector<Worker::Expected> expected;
  std::map<uint64_t, std::pair<size_t, size_t>> ranges;  // id -> expected[a,b)
  for (int i = 0; i < frames; ++i) {
    const uint64_t id = (*next_request_id)++;
    const size_t begin = expected.size();
    EncodeFrame(id, OpsRequest{w.MakeOps(&expected)}, bytes);
    ranges[id] = {begin, expected.size()};
  }
  uint64_t lookup_id = 0;
  if (lookup) {
    lookup_id = (*next_request_id)++;
    EncodeFrame(lookup_id, LookupRequest{{w.account()}}, bytes);
  }
  const int64_t balance_after_all = w.balance();
  t.frames_sent.fetch_add(frames + (lookup ? 1 : 0));
  if (absl::Status s = c.SendBytes(bytes); !s.ok()) {
    t.Fail("send: " + std::string(s.message()));
    return false;
  }
  for (int i = 0; i < frames + (lookup ? 1 : 0); ++i) {
    auto f = c.ReadFrame();
    if (!f.ok()) {
      t.Fail("read: " + std::string(f.status().message()));
      return false;
    }
    const uint64_t id = f->header.request_id;
    if (lookup && id == lookup_id) {
      // Requests of one connection are applied in order: the lookup sees
      // every op sent before it.
      const LookupReply* r = std::get_if<LookupReply>(&f->message);
      if (r == nullptr || r->accounts.size() != 1 ||
          r->accounts[0].balance != balance_after_all) {
        t.Fail("lookup of own account " + std::to_string(w.account()) +
               " differs from " + std::to_string(balance_after_all));
        return false;
      }
      continue;
    }
    const OpsReply* r = std::get_if<OpsReply>(&f->message);
    auto range = ranges.find(id);
    if (r == nullptr || range == ranges.end()) {
      t.Fail("unexpected reply " +
             std::string(
                 MessageKindName(static_cast<MessageKind>(f->header.kind))) +
             " to request " + std::to_string(id));
      return false;
    }
    size_t next = range->second.first;
    if (r->results.size() != range->second.second - range->second.first) {
      t.Fail("wrong result count for request " + std::to_string(id));
      return false;
    }
    if (!w.Check(r->results, expected, &next)) return false;
    ranges.erase(range);
  }
  return true;
}

absl::StatusOr<RawConnection> Open(const LocalServer& s, Totals& t) {
  auto c = RawConnection::Connect(s.port());
  if (!c.ok()) return c.status();
  t.connections.fetch_add(1);
  t.frames_sent.fetch_add(1);
  if (auto ok = c->Handshake(); !ok.ok()) return ok.status();
  return c;
}

TEST(Soak, ChurnAndPipelinesStayCorrectWithFlatMemory) {
  const uint32_t seconds = SoakSeconds();
  const auto warmup = std::chrono::seconds(std::max(2u, seconds / 4));
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;
  // Bounded engine memory that fills during warm-up, so that what grows
  // after it is a leak, not the op id table or the history filling up.
  ec.ops_in_flight_max = 1 << 15;
  ec.op_ids_remembered_max = 1 << 15;
  ec.history_entries_per_shard_max = 1 << 13;
  ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 2;
  sc.max_connections = 64;
  auto local = LocalServer::Start(ec, sc);
  ASSERT_TRUE(local.ok()) << local.status();
  std::unique_ptr<LocalServer> s = std::move(local).value();
  std::vector<Op> setup;
  for (uint64_t id = 1; id <= kShared; ++id) {
    setup.push_back(coffer::testing::CreateAccount(id));
    setup.push_back(coffer::testing::Credit(id, kSharedStart));
  }
  for (int w = 0; w < kPipelined + kChurners; ++w) {
    setup.push_back(coffer::testing::CreateAccount(kOwnFirst + w));
  }
  for (const OpResult& r : s->engine->Apply(setup)) ASSERT_TRUE(r.ok());
  {
    // asio creates an io_context's epoll, eventfd and timerfd with its
    // first socket: give every io thread one connection before counting.
    std::vector<RawConnection> first;
    for (uint32_t i = 0; i < sc.io_threads; ++i) {
      auto c = RawConnection::Connect(s->port());
      ASSERT_TRUE(c.ok() && c->Handshake().ok());
      first.push_back(std::move(c).value());
    }
  }
  ASSERT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(10)));
  const size_t descriptors_before = OpenDescriptors();
  const std::string descriptors_before_text =
      coffer::testing::DescribeDescriptors();

  Totals t;
  t.connections.fetch_add(sc.io_threads);  // the first ones above
  t.frames_sent.fetch_add(sc.io_threads);  // their HELLOs
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kPipelined; ++i) {
    threads.emplace_back([&, i] {
      Worker w(i, t);
      auto c = Open(*s, t);
      if (!c.ok()) {
        t.Fail("connect: " + std::string(c.status().message()));
      } else {
        uint64_t id = 1;
        uint64_t rounds = 0;
        while (!stop.load() &&
               Round(*c, w, t, kWindow, ++rounds % 16 == 0, &id)) {
        }
      }
      w.Publish();
    });
  }
  for (int i = 0; i < kChurners; ++i) {
    threads.emplace_back([&, i] {
      Worker w(kPipelined + i, t);
      uint64_t round = 0;
      while (!stop.load() && !t.failed.load()) {
        ++round;
        const int frames = std::uniform_int_distribution<int>(1, 4)(w.rng());
        if (round % 8 == 0) {
          // The client library: connect, apply, look up, disconnect.
          ClientOptions o = s->client_options();
          auto client = Client::Connect(o);
          if (!client.ok()) {
            t.Fail("client connect: " + std::string(client.status().message()));
            break;
          }
          t.connections.fetch_add(1);
          std::vector<Worker::Expected> expected;
          auto r = (*client)->Apply(w.MakeOps(&expected));
          auto l = (*client)->Lookup({w.account()});
          t.frames_sent.fetch_add(3);  // HELLO, OPS, LOOKUP
          size_t next = 0;
          if (!r.ok() || !l.ok() || !w.Check(*r, expected, &next) ||
              l->accounts.at(0).balance != w.balance() ||
              (*client)->reconnects() != 0) {
            t.Fail("client library round failed");
            break;
          }
          continue;
        }
        auto c = Open(*s, t);
        if (!c.ok()) {
          t.Fail("connect: " + std::string(c.status().message()));
          break;
        }
        uint64_t id = 1;
        if (!Round(*c, w, t, frames, round % 3 == 0, &id)) break;
        if (round % 2 == 0) {
          // Graceful: half-close, the server closes after us.
          c->ShutdownWrite();
          if (!c->ExpectClosed().ok()) {
            t.Fail("server did not close after the client's FIN");
            break;
          }
        }  // else: just close (the destructor)
      }
      w.Publish();
    });
  }

  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  auto next_progress = start + kProgressEvery;
  uint64_t resident_after_warmup = 0, resident_max_after_warmup = 0;
  size_t descriptors_max = 0;
  while (Clock::now() < end && !t.failed.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // sampling
    const auto now = Clock::now();
    const uint64_t resident = ResidentBytes();
    descriptors_max = std::max(descriptors_max, OpenDescriptors());
    if (now - start >= warmup) {
      if (resident_after_warmup == 0) resident_after_warmup = resident;
      resident_max_after_warmup = std::max(resident_max_after_warmup, resident);
    }
    if (now >= next_progress) {
      next_progress += kProgressEvery;
      const ServerCounters n = s->server->counters();
      std::printf(
          "soak %3.0f s: %llu frames sent, %llu connections, %llu open, "
          "resident %.1f MiB, %zu descriptors\n",
          std::chrono::duration<double>(now - start).count(),
          static_cast<unsigned long long>(t.frames_sent.load()),
          static_cast<unsigned long long>(t.connections.load()),
          static_cast<unsigned long long>(n.connections_open),
          resident / 1048576.0, OpenDescriptors());
      std::fflush(stdout);
    }
  }
  stop.store(true);
  for (auto& th : threads) th.join();
  const double elapsed_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  const uint64_t resident_end = ResidentBytes();
  for (const std::string& f : t.failures) ADD_FAILURE() << f;
  ASSERT_TRUE(t.failures.empty());

  // Reconciliation: balances implied by acknowledged results = balances
  // looked up, and money among the shared accounts is conserved.
  auto checker = s->Connect();
  ASSERT_TRUE(checker.ok()) << checker.status();
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= kShared; ++id) ids.push_back(id);
  for (int w = 0; w < kPipelined + kChurners; ++w) ids.push_back(kOwnFirst + w);
  auto lookup = (*checker)->Lookup(ids);
  ASSERT_TRUE(lookup.ok()) << lookup.status();
  int64_t shared_total = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const AccountInfo& a = lookup->accounts.at(i);
    const int64_t want = ids[i] <= kShared
                             ? kSharedStart + t.shared_delta[ids[i]]
                             : t.own_balance.at(ids[i]);
    EXPECT_EQ(a.balance, want) << "account " << ids[i];
    if (ids[i] <= kShared) shared_total += a.balance;
  }
  EXPECT_EQ(shared_total, static_cast<int64_t>(kShared) * kSharedStart);
  checker->reset();
  t.frames_sent.fetch_add(2);  // the checker's HELLO and LOOKUP
  t.connections.fetch_add(1);

  // Counters: every frame sent was received and answered, every connection
  // accepted, none refused, no protocol error.
  ASSERT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(10)));
  {
    auto c = Open(*s, t);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_TRUE(c->Send(1, StatsRequest{}).ok());
    auto f = c->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const ServerCounters& n = std::get<StatsReply>(f->message).server;
    t.frames_sent.fetch_add(1);  // the STATS itself
    EXPECT_EQ(n.connections_open, 1u);
    EXPECT_EQ(n.connections_accepted, t.connections.load());
    EXPECT_EQ(n.connections_refused, 0u);
    EXPECT_EQ(n.protocol_errors, 0u);
    EXPECT_EQ(n.busy_replies, 0u);
    EXPECT_EQ(n.frames_received, t.frames_sent.load());
    // The STATS reply is counted once it is sent, after this snapshot.
    EXPECT_EQ(n.replies_sent + 1, n.frames_received);
  }
  const ServerGauges g = s->server->gauges();
  EXPECT_EQ(g.idle_closes, 0u);
  EXPECT_EQ(g.stalled_write_closes, 0u);
  EXPECT_EQ(g.frame_timeouts, 0u);

  // Descriptors back to where they were before the load.
  ASSERT_TRUE(s->server->WaitForConnectionsAtMost(0, std::chrono::seconds(10)));
  EXPECT_TRUE(coffer::testing::WaitUntil(
      [&] { return OpenDescriptors() <= descriptors_before; },
      std::chrono::seconds(10)))
      << OpenDescriptors() << " descriptors, " << descriptors_before
      << " before. Before:\n"
      << descriptors_before_text << "Now:\n"
      << coffer::testing::DescribeDescriptors();

  // Memory flat after warm-up.
  const uint64_t allowed =
      std::max<uint64_t>(kResidentGrowthFloorBytes,
                         static_cast<uint64_t>(resident_after_warmup *
                                               kResidentGrowthMaxFraction));
  std::printf(
      "soak done: %.0f s, %llu ops acknowledged (%.0f/s), %llu frames, %llu "
      "connections (%.0f/s); resident %.1f MiB after warm-up, %.1f MiB max "
      "after, %.1f MiB at the end (allowed growth %.1f MiB); descriptors %zu "
      "before, %zu max, %zu after\n",
      elapsed_s, static_cast<unsigned long long>(t.ops_acknowledged.load()),
      t.ops_acknowledged.load() / elapsed_s,
      static_cast<unsigned long long>(t.frames_sent.load()),
      static_cast<unsigned long long>(t.connections.load()),
      t.connections.load() / elapsed_s, resident_after_warmup / 1048576.0,
      resident_max_after_warmup / 1048576.0, resident_end / 1048576.0,
      allowed / 1048576.0, descriptors_before, descriptors_max,
      OpenDescriptors());
  EXPECT_GT(resident_after_warmup, 0u);
  if (coffer::testing::kResidentMemoryIsMeaningful) {
    EXPECT_LE(resident_end, resident_after_warmup + allowed);
    EXPECT_LE(resident_max_after_warmup, resident_after_warmup + allowed);
  }
}

}  // namespace
}  // namespace coffer::net
