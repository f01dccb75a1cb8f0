// Protocol version 2 end to end (net/PROTOCOL.md "Versions"): the client
// stamps each ops request with its issue time and resends the same time, so
// a late retry is answered from the op-id index or refused (op_expired),
// never applied twice; history filters by time and reason; version 1
// clients keep working, and a server can refuse them.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "tests/frame_io.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::CreateAccount;
using coffer::testing::Credit;
using coffer::testing::Debit;
using coffer::testing::FreshDir;
using coffer::testing::ManualClock;

constexpr uint64_t kSecondNs = 1'000'000'000;
constexpr uint64_t kHourNs = 3600 * kSecondNs;
constexpr uint64_t kPlayer = 7;

class NetVersionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clock_.now_ns = 1'800'000'000 * kSecondNs;
    StartServer(ServerConfig{});
  }

  // A durable server (the op-id index needs a data directory) on the
  // test's clock.
  void StartServer(ServerConfig sc) {
    server_.reset();
    EngineConfig ec;
    ec.data_dir = dir_;
    ec.shard_count = 2;
    ec.idle_spin_iterations = 64;
    ec.op_id_retention_s = 24 * 3600;
    ec.clock_ns = [this] { return clock_.now_ns.load(); };
    sc.port = 0;
    sc.io_threads = 1;
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local).value();
  }

  std::unique_ptr<Client> Connect(uint16_t version_max = kVersionMax) {
    ClientOptions o = server_->client_options();
    o.version_max = version_max;
    o.clock_ns = [this] { return clock_.now_ns.load(); };
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  static OpResult One(absl::StatusOr<std::vector<OpResult>> r) {
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || r->size() != 1) return OpResult{};
    return (*r)[0];
  }

  int64_t Balance() {
    return coffer::testing::Balance(*server_->engine, kPlayer);
  }

  const std::string dir_ = FreshDir("net-version");
  ManualClock clock_;
  std::unique_ptr<LocalServer> server_;
};

TEST_F(NetVersionTest, ALateRetryIsRefusedNeverAppliedTwice) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->server_info().version, 2);
  ASSERT_TRUE(One(c->Apply({CreateAccount(kPlayer)})).ok());
  ASSERT_TRUE(One(c->Apply({Credit(kPlayer, 1000)})).ok());
  const uint64_t issued = clock_.now_ns.load();
  const Op debit = Debit(kPlayer, 100);
  const OpResult first = One(c->Apply({debit}));
  ASSERT_TRUE(first.ok());

  // The application retries the call itself an hour later, with the first
  // attempt's time: the original answer.
  clock_.now_ns += kHourNs;
  const OpResult retry = One(c->Apply({debit}, issued));
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.seq, first.seq);

  // A new op claimed to be first issued 30 hours ago: nothing can say
  // whether it applied back then, so it is refused, twice alike.
  clock_.now_ns += 29 * kHourNs;
  for (int i = 0; i < 2; ++i) {
    const OpResult late = One(c->Apply({Debit(kPlayer, 1)}, issued));
    EXPECT_EQ(late.code, ResultCode::kOpExpired);
    EXPECT_EQ(late.seq, 0u);
  }
  // A clock an hour ahead of the server's.
  const OpResult ahead =
      One(c->Apply({Debit(kPlayer, 1)}, clock_.now_ns.load() + kHourNs));
  EXPECT_EQ(ahead.code, ResultCode::kOpIssuedInFuture);
  EXPECT_EQ(Balance(), 900);
  // What the client stamps itself is now: it applies.
  EXPECT_TRUE(One(c->Apply({Debit(kPlayer, 1)})).ok());
  EXPECT_EQ(Balance(), 899);
}

// A merged frame carries its oldest call's issue time, so an application's
// retry that brings an old one goes alone: the fresh calls queued beside it
// still apply.
TEST_F(NetVersionTest, ARetryWithItsOwnIssueTimeIsNotMergedWithFreshCalls) {
  ClientOptions o = server_->client_options();
  o.clock_ns = [this] { return clock_.now_ns.load(); };
  o.ops_frames_in_flight_max = 1;  // the calls below queue, then merge
  auto made = Client::Connect(o);
  ASSERT_TRUE(made.ok()) << made.status();
  Client& c = **made;
  ASSERT_TRUE(One(c.Apply({CreateAccount(kPlayer)})).ok());
  const uint64_t long_ago = clock_.now_ns.load() - 30 * kHourNs;
  std::vector<std::future<absl::StatusOr<std::vector<OpResult>>>> calls;
  auto call = [&](Op op, uint64_t issued_ns) {
    auto p =
        std::make_shared<std::promise<absl::StatusOr<std::vector<OpResult>>>>();
    calls.push_back(p->get_future());
    c.ApplyAsync(
        {op},
        [p](absl::StatusOr<std::vector<OpResult>> r) {
          p->set_value(std::move(r));
        },
        issued_ns);
  };
  // A large first frame holds the only slot while the rest queue.
  std::vector<Op> first(4096, Credit(kPlayer, 1));
  for (Op& op : first) op.op_id = coffer::testing::NextOpId();
  auto p =
      std::make_shared<std::promise<absl::StatusOr<std::vector<OpResult>>>>();
  auto first_done = p->get_future();
  c.ApplyAsync(first, [p](absl::StatusOr<std::vector<OpResult>> r) {
    p->set_value(std::move(r));
  });
  const uint64_t framed_before = c.calls_framed() - c.frames_made();
  call(Credit(kPlayer, 10), 0);
  call(Credit(kPlayer, 100), long_ago);  // a new op claimed 30 h old
  call(Credit(kPlayer, 1000), 0);
  call(Credit(kPlayer, 10000), 0);
  ASSERT_TRUE(first_done.get().ok());
  std::vector<ResultCode> codes;
  for (auto& f : calls) codes.push_back(One(f.get()).code);
  EXPECT_EQ(codes,
            (std::vector<ResultCode>{ResultCode::kOk, ResultCode::kOpExpired,
                                     ResultCode::kOk, ResultCode::kOk}));
  EXPECT_EQ(Balance(), 4096 + 10 + 1000 + 10000);
  std::printf("calls merged into shared frames: %llu\n",
              static_cast<unsigned long long>(c.calls_framed() -
                                              c.frames_made() - framed_before));
}

TEST_F(NetVersionTest, VersionOneClientsStillWorkAndCanBeRefused) {
  auto v1 = Connect(/*version_max=*/1);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->server_info().version, 1);
  ASSERT_TRUE(One(v1->Apply({CreateAccount(kPlayer)})).ok());
  // Version 1 drops the issue time: even one from 30 hours ago applies.
  EXPECT_TRUE(
      One(v1->Apply({Credit(kPlayer, 5)}, clock_.now_ns.load() - 30 * kHourNs))
          .ok());
  EXPECT_EQ(Balance(), 5);
  // A filter cannot travel in version 1: refused, not silently dropped.
  HistoryFilter only_reason;
  only_reason.has_reason = true;
  only_reason.reason = 3;
  auto h = v1->History(kPlayer, 0, 10, only_reason);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kFailedPrecondition)
      << h.status();
  EXPECT_TRUE(v1->History(kPlayer, 0, 10).ok());

  // An operator who has upgraded every client refuses version 1.
  ServerConfig sc;
  sc.protocol_version_min = 2;
  StartServer(sc);
  ClientOptions o = server_->client_options();
  o.version_max = 1;
  auto refused = Client::Connect(o);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  auto v2 = Connect();
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->server_info().version, 2);
  EXPECT_EQ(Balance(), 5);  // the same ledger, recovered
}

TEST_F(NetVersionTest, HistoryFiltersByTimeAndReasonPageByPage) {
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(One(c->Apply({CreateAccount(kPlayer)})).ok());
  // 30 credits, one a second, reasons 0, 1, 2 in turn: entries 2..31.
  const uint64_t start = clock_.now_ns.load();
  for (uint32_t i = 0; i < 30; ++i) {
    clock_.now_ns += kSecondNs;
    Op credit = Credit(kPlayer, 1);
    credit.reason = i % 3;
    ASSERT_TRUE(One(c->Apply({credit})).ok());
  }
  // Credit i is stamped at second i + 1 and is entry i + 2 (entry 1 is the
  // creation). Reason 1 between seconds 10 and 21: i = 10, 13, 16, 19.
  HistoryFilter f;
  f.timestamp_min_ns = start + 10 * kSecondNs;
  f.timestamp_max_ns = start + 21 * kSecondNs;
  f.has_reason = true;
  f.reason = 1;
  std::vector<uint32_t> numbers;
  uint32_t before = 0;
  for (int page = 0; page < 10; ++page) {
    auto r = c->History(kPlayer, before, /*limit=*/3, f);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const HistoryEntry& e : r->entries) {
      EXPECT_EQ(e.reason, 1u);
      EXPECT_GE(e.timestamp_ns, f.timestamp_min_ns);
      EXPECT_LE(e.timestamp_ns, f.timestamp_max_ns);
      numbers.push_back(e.number);
    }
    before = r->next_before;
    if (before == 0) break;
  }
  EXPECT_EQ(before, 0u) << "the pages end";
  EXPECT_EQ(numbers, (std::vector<uint32_t>{21, 18, 15, 12}));  // newest first

  // A time range alone, and a malformed one.
  HistoryFilter last_five;
  last_five.timestamp_min_ns = start + 26 * kSecondNs;
  auto r = c->History(kPlayer, 0, 100, last_five);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->entries.size(), 5u);
  EXPECT_EQ(r->next_before, 0u);
  HistoryFilter backwards;
  backwards.timestamp_min_ns = start + 2 * kSecondNs;
  backwards.timestamp_max_ns = start + kSecondNs;
  EXPECT_EQ(c->History(kPlayer, 0, 10, backwards).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace coffer::net
