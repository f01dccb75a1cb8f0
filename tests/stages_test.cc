// The per-stage latency breakdown (issue 12): the histogram on its own
// (bucket bounds, quantiles of known samples, merging), and STAGES end to
// end over loopback against a server with a write-ahead log.
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/read.hpp"
#include "boost/asio/write.hpp"
#include "engine/latency_histogram.h"
#include "gtest/gtest.h"
#include "net/cli.h"
#include "net/codec.h"
#include "net/local_server.h"
#include "tests/test_util.h"

namespace coffer {
namespace {

TEST(LatencyHistogram, BucketsTileTheRangeWithoutGaps) {
  EXPECT_EQ(HistogramBucketLow(0), 0u);
  for (uint32_t b = 0; b + 1 < kHistogramBuckets; ++b) {
    SCOPED_TRACE(b);
    EXPECT_LE(HistogramBucketLow(b), HistogramBucketHigh(b));
    EXPECT_EQ(HistogramBucketHigh(b) + 1, HistogramBucketLow(b + 1));
    EXPECT_EQ(HistogramBucketOf(HistogramBucketLow(b)), b);
    EXPECT_EQ(HistogramBucketOf(HistogramBucketHigh(b)), b);
    // 2 significant bits: a bucket is at most a quarter of its low bound.
    if (b >= 4) {
      EXPECT_LE(4 * (HistogramBucketHigh(b) - HistogramBucketLow(b) + 1),
                HistogramBucketLow(b));
    }
  }
  const uint32_t last = kHistogramBuckets - 1;
  EXPECT_EQ(HistogramBucketHigh(last), (uint64_t{1} << 36) - 1);
  // Larger values share the last bucket.
  EXPECT_EQ(HistogramBucketOf(uint64_t{1} << 36), last);
  EXPECT_EQ(HistogramBucketOf(~uint64_t{0}), last);
  // Small values are exact.
  for (uint64_t v = 0; v < 4; ++v) EXPECT_EQ(HistogramBucketOf(v), v);
  EXPECT_EQ(HistogramBucketOf(4), 4u);
  EXPECT_EQ(HistogramBucketOf(7), 7u);
  EXPECT_EQ(HistogramBucketOf(8), 8u);
  EXPECT_EQ(HistogramBucketOf(9), 8u);
  EXPECT_EQ(HistogramBucketOf(10), 9u);
}

TEST(LatencyHistogram, QuantilesOfKnownSamples) {
  LatencyHistogram h;
  EXPECT_EQ(h.Snapshot().count, 0u);
  EXPECT_EQ(h.Snapshot().Quantile(0.5), 0u);
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, 1000u);
  EXPECT_EQ(s.max, 1000u);
  // The true p50 is 500, in bucket [448, 511]; p99 is 990, in [896, 1023]
  // capped by the max; p99.9 is 999.
  EXPECT_EQ(s.Quantile(0.5), 511u);
  EXPECT_EQ(s.Quantile(0.99), 1000u);
  EXPECT_EQ(s.Quantile(0.999), 1000u);
  EXPECT_EQ(s.Quantile(1.0), 1000u);
  EXPECT_EQ(s.Quantile(0.0), 1u);
  // Never below the true quantile, at most 25% above it.
  for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) {
    const auto truth = static_cast<uint64_t>(q * 1000);
    EXPECT_GE(s.Quantile(q), truth) << q;
    EXPECT_LE(s.Quantile(q), truth + truth / 4) << q;
  }
  // Small values are exact: 100 samples of 3 and one of 2.
  LatencyHistogram small;
  small.Record(2);
  for (int i = 0; i < 100; ++i) small.Record(3);
  EXPECT_EQ(small.Snapshot().Quantile(0.001), 2u);
  EXPECT_EQ(small.Snapshot().Quantile(0.5), 3u);
  // Intervals that run backwards record 0.
  LatencyHistogram back;
  back.RecordInterval(10, 5);
  EXPECT_EQ(back.Snapshot().counts[0], 1u);
}

TEST(LatencyHistogram, MergeAddsCountsAndKeepsTheMax) {
  LatencyHistogram a, b;
  for (int i = 0; i < 90; ++i) a.Record(100);
  for (int i = 0; i < 10; ++i) b.Record(1'000'000);
  b.Record(uint64_t{1} << 40);  // beyond the range: max stays exact
  HistogramSnapshot s = a.Snapshot();
  s.Merge(b.Snapshot());
  EXPECT_EQ(s.count, 101u);
  EXPECT_EQ(s.max, uint64_t{1} << 40);
  EXPECT_EQ(s.Quantile(0.5), HistogramBucketHigh(HistogramBucketOf(100)));
  EXPECT_EQ(s.Quantile(0.95),
            HistogramBucketHigh(HistogramBucketOf(1'000'000)));
  EXPECT_EQ(s.Quantile(1.0), uint64_t{1} << 40);
}

// ---- STAGES end to end

class StagesEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/coffer-stages-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StagesEndToEnd, EveryNetworkRequestIsInEveryRequestStage) {
  EngineConfig ec;
  ec.shard_count = 2;
  ec.idle_spin_iterations = 64;  // tests share two cores: sleep soon
  ec.data_dir = dir_;
  net::ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 2;
  auto local = net::LocalServer::Start(ec, sc);
  ASSERT_TRUE(local.ok()) << local.status();
  auto client = (*local)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  net::Client& c = **client;

  // Everything over the network (an in-process Apply would count in the
  // engine's stages only): 2 setup ops, then debits and reads.
  constexpr uint64_t kAccount = 7;
  constexpr int kDebits = 40;
  constexpr int kLookups = 10;
  ASSERT_TRUE(c.Apply({testing::CreateAccount(kAccount)}).ok());
  ASSERT_TRUE(c.Apply({testing::Credit(kAccount, 1'000)}).ok());
  for (int i = 0; i < kDebits; ++i) {
    auto r = c.Apply({testing::Debit(kAccount, 1)});
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->at(0).ok());
  }
  for (int i = 0; i < kLookups; ++i) ASSERT_TRUE(c.Lookup({kAccount}).ok());
  // Answered by the network layer itself: in no stage.
  ASSERT_TRUE(c.Stats().ok());
  ASSERT_TRUE(c.Ping().ok());
  const uint64_t n = 2 + kDebits + kLookups;

  auto reply = c.Stages();
  ASSERT_TRUE(reply.ok()) << reply.status();
  std::map<uint16_t, net::StageRecord> by_stage;
  for (const net::StageRecord& r : reply->stages) {
    EXPECT_TRUE(by_stage.emplace(r.stage, r).second) << "twice: " << r.stage;
  }
  ASSERT_EQ(by_stage.size(), kStageMax + 0u);
  for (const auto& [id, r] : by_stage) {
    SCOPED_TRACE(std::string(StageName(static_cast<Stage>(id))));
    EXPECT_LE(r.p50_ns, r.p99_ns);
    EXPECT_LE(r.p99_ns, r.p999_ns);
    EXPECT_LE(r.p999_ns, r.max_ns);
  }
  // The client had every reply before it sent STAGES, so each write had
  // completed (its completion ran before this frame was read, on the same
  // io thread): counts are exact.
  const net::StageRecord& total = by_stage[6];
  for (uint16_t id = 1; id <= 6; ++id) {
    SCOPED_TRACE(std::string(StageName(static_cast<Stage>(id))));
    const net::StageRecord& r = by_stage[id];
    EXPECT_EQ(r.count, n);
    EXPECT_GT(r.max_ns, 0u);
    // Each request's total is the sum of its parts.
    EXPECT_GE(total.p50_ns, r.p50_ns);
    EXPECT_GE(total.p99_ns, r.p99_ns);
    EXPECT_GE(total.max_ns, r.max_ns);
  }
  // Every op reply waited for an fsync: at least one sync, at most one
  // per request, and no batch larger than all the ops.
  const net::StageRecord& fsync = by_stage[7];
  const net::StageRecord& batch = by_stage[8];
  EXPECT_GE(fsync.count, 1u);
  EXPECT_LE(fsync.count, n);
  EXPECT_EQ(batch.count, fsync.count);
  EXPECT_GE(batch.max_ns, 1u);
  EXPECT_LE(batch.max_ns, 2u + kDebits);
  EXPECT_GT(fsync.max_ns, 0u);
}

TEST(StagesCli, StatsPrintsTheStageTable) {
  EngineConfig ec;
  ec.shard_count = 1;
  ec.idle_spin_iterations = 64;
  net::ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 1;
  auto local = net::LocalServer::Start(ec, sc);
  ASSERT_TRUE(local.ok()) << local.status();
  net::CliOptions options;
  options.server = "127.0.0.1:" + std::to_string((*local)->port());
  std::ostringstream out, err;
  ASSERT_EQ(net::RunCli({"ping"}, options, out, err), net::kExitOk);
  ASSERT_EQ(net::RunCli({"create-account", "1", "1"}, options, out, err),
            net::kExitOk);
  out.str("");
  ASSERT_EQ(net::RunCli({"stats"}, options, out, err), net::kExitOk);
  EXPECT_NE(out.str().find("p99.9 µs"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("\ntotal "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("log_batch_ops"), std::string::npos);
  options.json = true;
  out.str("");
  ASSERT_EQ(net::RunCli({"stats"}, options, out, err), net::kExitOk);
  EXPECT_NE(out.str().find("\"stages\":[{\"stage\":1,"), std::string::npos)
      << out.str();
  // u64 values are strings of decimal digits (they may exceed 2^53).
  EXPECT_NE(out.str().find("\"name\":\"total\",\"count\":\"1\""),
            std::string::npos)
      << out.str();
}

// A server from before STAGES: answers hello and stats, and STAGES with
// ERROR unknown_kind (closing), as the old connection code does. Serves
// connections one at a time until stopped.
class OldServer {
 public:
  OldServer()
      : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Run(); });
  }
  ~OldServer() {
    stop_.store(true);
    // Wake the blocking accept with a connection of our own.
    boost::asio::ip::tcp::socket wake(io_);
    boost::system::error_code ec;
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  uint16_t port() const { return acceptor_.local_endpoint().port(); }

 private:
  void Run() {
    while (!stop_.load()) {
      boost::asio::ip::tcp::socket s(io_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_.load()) return;
      while (Serve(s)) {
      }
    }
  }
  // One frame; false once the connection is done.
  bool Serve(boost::asio::ip::tcp::socket& s) {
    namespace asio = boost::asio;
    uint8_t header[net::kHeaderBytes];
    boost::system::error_code ec;
    asio::read(s, asio::buffer(header), ec);
    if (ec) return false;
    const net::FrameHeader h = net::DecodeHeader(header);
    std::vector<uint8_t> body(std::min<uint32_t>(h.body_bytes, 4096));
    asio::read(s, asio::buffer(body), ec);
    if (ec) return false;
    std::vector<uint8_t> out;
    const auto kind = static_cast<net::MessageKind>(h.kind);
    bool more = true;
    if (kind == net::MessageKind::kHello) {
      net::HelloOk ok;
      ok.shard_count = 1;
      ok.max_body_bytes = 1 << 20;
      ok.max_ops_per_request = 8192;
      ok.max_requests_in_flight = 128;
      ok.max_history_limit = 1000;
      net::EncodeFrame(h.request_id, ok, out);
    } else if (kind == net::MessageKind::kStats) {
      net::StatsReply stats;
      stats.engine.requests = 5;
      net::EncodeFrame(h.request_id, stats, out);
    } else {
      net::EncodeError(h.request_id, net::ErrorCode::kUnknownKind,
                       net::kErrorFlagClosing, "kind 8 is not a request kind",
                       out);
      more = false;
    }
    asio::write(s, asio::buffer(out), ec);
    return more && !ec;
  }

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(StagesCli, AnOlderServerGetsTheCountersAlone) {
  OldServer old;
  net::CliOptions options;
  options.server = "127.0.0.1:" + std::to_string(old.port());
  options.timeout_ms = 5000;
  std::ostringstream out, err;
  ASSERT_EQ(net::RunCli({"stats"}, options, out, err), net::kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("requests"), std::string::npos) << out.str();
  EXPECT_EQ(out.str().find("p50"), std::string::npos) << out.str();
  options.json = true;
  out.str("");
  ASSERT_EQ(net::RunCli({"stats"}, options, out, err), net::kExitOk)
      << err.str();
  EXPECT_NE(out.str().find("\"requests\":\"5\","), std::string::npos)
      << out.str();
  EXPECT_EQ(out.str().find("stages"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace coffer
