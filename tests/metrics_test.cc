// GET /metrics (net/metrics_server.h, net/metrics_text.h): the text is
// Prometheus' exposition format (checked with promtool where it is
// installed: tools/bootstrap installs it), and the HTTP side answers 200,
// 404, 405, 400 and 401 as its contract says.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/metrics_server.h"
#include "net/metrics_text.h"
#include "net/server_metrics.h"

namespace coffer::net {
namespace {

MetricsInput SampleInput() {
  MetricsInput in;
  in.engine.requests = 12;
  in.engine.ops_sequenced = 340;
  in.engine.last_seq = 340;
  in.engine.durable_seq = 330;
  in.engine.shards = {ShardStats{100, 2, 0, 7}, ShardStats{90, 2, 1, 5}};
  in.server.connections_open = 3;
  in.server.busy_replies = 4;
  StageSnapshot total{Stage::kTotal, {}};
  total.histogram.counts[20] = 5;
  total.histogram.count = 5;
  total.histogram.max = 1'500'000;
  StageSnapshot batch{Stage::kLogBatchOps, {}};
  batch.histogram.counts[5] = 2;
  batch.histogram.count = 2;
  batch.histogram.max = 40;
  in.stages = {total, batch};
  in.disk = {DiskAreaUsage{DiskArea::kLog, 2, 1 << 20}};
  in.recovery_seconds = 1.5;
  return in;
}

TEST(MetricsText, EverySampleFollowsItsHelpAndType) {
  const std::string text = FormatMetrics(SampleInput());
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> typed, samples;
  while (std::getline(lines, line)) {
    ASSERT_FALSE(line.empty());
    if (absl::StartsWith(line, "# TYPE ")) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(name).second) << "TYPE twice: " << name;
      continue;
    }
    if (absl::StartsWith(line, "# HELP ")) continue;
    const std::string series = line.substr(0, line.rfind(' '));
    const std::string name = series.substr(0, series.find('{'));
    EXPECT_TRUE(typed.count(name)) << "no TYPE before " << line;
    EXPECT_TRUE(absl::StartsWith(name, "coffer_")) << line;
    EXPECT_TRUE(samples.insert(series).second) << "series twice: " << line;
  }
  EXPECT_NE(text.find("\ncoffer_ops_sequenced_total 340\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\ncoffer_durability_lag_ops 10\n"), std::string::npos);
  EXPECT_NE(text.find("coffer_shard_accounts{shard=\"1\"} 5\n"),
            std::string::npos);
  EXPECT_NE(text.find("coffer_disk_bytes{area=\"log\"} 1048576\n"),
            std::string::npos);
  EXPECT_NE(text.find("coffer_stage_samples_total{stage=\"total\"} 5\n"),
            std::string::npos);
  // Ops per sync are a count, not seconds: not among the latencies.
  EXPECT_EQ(text.find("coffer_stage_seconds{stage=\"log_batch_ops\""),
            std::string::npos);
  EXPECT_NE(text.find("coffer_log_batch_ops{percentile=\"50\"}"),
            std::string::npos);
}

TEST(MetricsText, PromtoolAcceptsIt) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "promtool is not installed (tools/bootstrap installs the "
                    "prometheus package)";
  }
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/metrics-", getpid(), ".txt");
  {
    FILE* f = std::fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    const std::string text = FormatMetrics(SampleInput());
    ASSERT_EQ(std::fwrite(text.data(), 1, text.size(), f), text.size());
    std::fclose(f);
  }
  const std::string cmd =
      absl::StrCat("promtool check metrics < ", path, " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  std::remove(path.c_str());
}

// Sends `request` to 127.0.0.1:port and reads until the server closes.
std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t w =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) break;  // the server may close early (a head too large)
    sent += static_cast<size_t>(w);
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

std::string Get(const std::string& path, const std::string& extra = "") {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n", extra, "\r\n");
}

TEST(MetricsServerTest, AnswersScrapesAndRefusesTheRest) {
  int renders = 0;
  MetricsServer::Handlers h;
  h.metrics = [&] {
    ++renders;
    return std::string("coffer_up 1\n");
  };
  auto s = MetricsServer::Start("127.0.0.1:0", "", h);
  ASSERT_TRUE(s.ok()) << s.status();
  const uint16_t port = (*s)->port();
  const std::string ok = Exchange(port, Get("/metrics"));
  EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_TRUE(absl::EndsWith(ok, "\r\n\r\ncoffer_up 1\n")) << ok;
  EXPECT_NE(ok.find("Content-Length: 12\r\n"), std::string::npos) << ok;
  EXPECT_TRUE(absl::StartsWith(Exchange(port, Get("/other")), "HTTP/1.1 404"));
  EXPECT_TRUE(absl::StartsWith(Exchange(port, "POST /metrics HTTP/1.1\r\n\r\n"),
                               "HTTP/1.1 405"));
  EXPECT_TRUE(
      absl::StartsWith(Exchange(port, "nonsense\r\n\r\n"), "HTTP/1.1 400"));
  const std::string huge =
      Exchange(port, Get("/metrics", "X: " + std::string(10000, 'a') + "\r\n"));
  EXPECT_TRUE(huge.empty() || absl::StartsWith(huge, "HTTP/1.1 400")) << huge;
  (*s)->Stop();
  EXPECT_EQ(renders, 1);  // only the one good scrape rendered
}

TEST(MetricsServerTest, WithATokenAScrapeMustCarryIt) {
  MetricsServer::Handlers h;
  h.metrics = [] { return std::string("coffer_up 1\n"); };
  auto s = MetricsServer::Start("127.0.0.1:0", "s3cret", h);
  ASSERT_TRUE(s.ok()) << s.status();
  const uint16_t port = (*s)->port();
  EXPECT_TRUE(
      absl::StartsWith(Exchange(port, Get("/metrics")), "HTTP/1.1 401"));
  EXPECT_TRUE(absl::StartsWith(
      Exchange(port, Get("/metrics", "Authorization: Bearer wrong\r\n")),
      "HTTP/1.1 401"));
  EXPECT_TRUE(absl::StartsWith(
      Exchange(port, Get("/metrics", "authorization: Bearer s3cret\r\n")),
      "HTTP/1.1 200"));
}

TEST(MetricsServerTest, ANonLoopbackAddressNeedsAToken) {
  MetricsServer::Handlers h;
  h.metrics = [] { return std::string(); };
  auto s = MetricsServer::Start("0.0.0.0:0", "", h);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not loopback"), std::string::npos)
      << s.status();
  EXPECT_FALSE(MetricsServer::Start("127.0.0.1", "", h).ok());  // no port
}

TEST(MetricsServerTest, ReadySays503WhileRecoveringAnd200OnceServing) {
  ServerMetrics state;
  MetricsServer::Handlers h;
  h.metrics = [&] { return state.Render(); };
  h.ready = [&] { return state.Ready(); };
  auto s = MetricsServer::Start("127.0.0.1:0", "", h);
  ASSERT_TRUE(s.ok()) << s.status();
  const uint16_t port = (*s)->port();
  RecoveryProgress p;
  p.snapshot_seq = 40;
  p.ops_replayed = 7;
  p.ops_total = 9;
  state.OnRecoveryProgress(p);
  const std::string recovering = Exchange(port, Get("/ready"));
  EXPECT_TRUE(absl::StartsWith(recovering, "HTTP/1.1 503")) << recovering;
  EXPECT_NE(recovering.find("replayed 7 of ~9"), std::string::npos)
      << recovering;
  const std::string early = Exchange(port, Get("/metrics"));
  EXPECT_NE(early.find("\ncoffer_ready 0\n"), std::string::npos) << early;
  EXPECT_NE(early.find("\ncoffer_recovery_ops_replayed 7\n"),
            std::string::npos);

  EngineConfig ec;
  ec.shard_count = 1;
  ec.idle_spin_iterations = 64;
  ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 1;
  auto local = LocalServer::Start(ec, sc);
  ASSERT_TRUE(local.ok()) << local.status();
  state.SetServing((*local)->engine.get(), (*local)->server.get());
  EXPECT_TRUE(absl::StartsWith(Exchange(port, Get("/ready")), "HTTP/1.1 200"));
  const std::string full = Exchange(port, Get("/metrics"));
  EXPECT_NE(full.find("\ncoffer_ready 1\n"), std::string::npos) << full;
  EXPECT_NE(full.find("\ncoffer_connections_open "), std::string::npos) << full;
  (*s)->Stop();  // before the server and engine it reads
}

}  // namespace
}  // namespace coffer::net
