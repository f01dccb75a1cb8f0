// The `coffer` CLI (RunCli) against an in-process server: output and exit
// codes (0 ok, 1 refused, 2 usage, 3 no answer); and the `key = value`
// config file that cofferd reads.
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "gtest/gtest.h"
#include "net/cli.h"
#include "net/config_file.h"
#include "net/local_server.h"

ABSL_FLAG(uint32_t, net_cli_test_number, 0, "a flag for the config tests");
ABSL_FLAG(std::string, net_cli_test_text, "", "a flag for the config tests");

namespace coffer::net {
namespace {

class NetCli : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineConfig ec;
    ec.shard_count = 2;
    ec.idle_spin_iterations = 64;
    ServerConfig sc;
    sc.port = 0;
    sc.io_threads = 1;
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local).value();
    options_.server = "127.0.0.1:" + std::to_string(server_->port());
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunCli(args, options_, out_, err_);
  }

  std::unique_ptr<LocalServer> server_;
  CliOptions options_;
  std::ostringstream out_, err_;
};

TEST_F(NetCli, OperationsAndExitCodes) {
  EXPECT_EQ(Run({"create-account", "1", "7"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("ok: create-account"), std::string::npos);
  EXPECT_EQ(Run({"create-account", "1", "7"}), kExitOk);  // account_exists
  EXPECT_NE(out_.str().find("account_exists"), std::string::npos);
  EXPECT_EQ(Run({"create-account", "2", "7"}), kExitOk);
  EXPECT_EQ(Run({"credit", "1", "100"}), kExitOk);
  EXPECT_EQ(Run({"debit", "1", "500"}), kExitRefused);
  EXPECT_NE(out_.str().find("insufficient_funds"), std::string::npos);
  EXPECT_EQ(Run({"transfer", "1", "2", "0x10"}), kExitOk);
  options_.op_id = 4242;
  EXPECT_EQ(Run({"hold", "1", "20"}), kExitOk);
  EXPECT_NE(out_.str().find("hold id 4242"), std::string::npos);
  options_.op_id = 0;
  EXPECT_EQ(Run({"capture", "1", "4242", "2", "5"}), kExitOk) << out_.str();
  EXPECT_EQ(Run({"release", "1", "4242"}), kExitRefused);  // closed
  EXPECT_EQ(Run({"balance", "1", "2"}), kExitOk);
  EXPECT_NE(out_.str().find("account 1: balance 79"), std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("account 2: balance 21"), std::string::npos);
  EXPECT_EQ(Run({"balance", "1", "99"}), kExitRefused);  // 99 not found
  EXPECT_EQ(Run({"history", "1"}), kExitOk);
  EXPECT_NE(out_.str().find("capture_out"), std::string::npos) << out_.str();
  EXPECT_EQ(Run({"history", "99"}), kExitRefused);
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_NE(out_.str().find("ops_sequenced"), std::string::npos);
  EXPECT_EQ(Run({"digest"}), kExitOk);
  EXPECT_NE(out_.str().find("2 accounts"), std::string::npos) << out_.str();
  EXPECT_EQ(Run({"ping"}), kExitOk);
}

TEST_F(NetCli, RetryWithTheSameOpIdIsAnsweredAsDuplicate) {
  ASSERT_EQ(Run({"create-account", "5", "1"}), kExitOk);
  ASSERT_EQ(Run({"credit", "5", "10"}), kExitOk);
  options_.op_id = 777;
  options_.json = true;
  ASSERT_EQ(Run({"debit", "5", "4"}), kExitOk);
  EXPECT_NE(out_.str().find("\"duplicate\":false"), std::string::npos);
  ASSERT_EQ(Run({"debit", "5", "4"}), kExitOk);
  EXPECT_NE(out_.str().find("\"duplicate\":true"), std::string::npos);
  EXPECT_NE(out_.str().find("\"balance_after\":\"6\""), std::string::npos)
      << out_.str();
}

TEST_F(NetCli, JsonOutput) {
  options_.json = true;
  ASSERT_EQ(Run({"create-account", "3", "1"}), kExitOk);
  EXPECT_NE(out_.str().find("\"result\":\"ok\""), std::string::npos);
  ASSERT_EQ(Run({"balance", "3"}), kExitOk);
  EXPECT_NE(out_.str().find("\"found\":true"), std::string::npos);
  ASSERT_EQ(Run({"history", "3"}), kExitOk);
  EXPECT_NE(out_.str().find("\"kind\":\"create\""), std::string::npos);
  ASSERT_EQ(Run({"stats"}), kExitOk);
  EXPECT_NE(out_.str().find("\"shards\":["), std::string::npos);
  ASSERT_EQ(Run({"digest"}), kExitOk);
  EXPECT_NE(out_.str().find("\"digest\":\""), std::string::npos);
}

TEST_F(NetCli, StatsWatchPrintsOneLinePerIntervalWithTheRates) {
  ASSERT_EQ(Run({"create-account", "8", "1"}), kExitOk);
  options_.watch = true;
  options_.watch_interval_ms = 5;
  options_.watch_count = 3;
  ASSERT_EQ(Run({"stats"}), kExitOk) << err_.str();
  std::istringstream lines(out_.str());
  std::string header, line;
  ASSERT_TRUE(std::getline(lines, header));
  EXPECT_NE(header.find("ops/s"), std::string::npos) << header;
  EXPECT_NE(header.find("ops/sync"), std::string::npos) << header;
  int samples = 0;
  while (std::getline(lines, line)) {
    ++samples;
    // Columns: time, 7 rates and counts, last_seq (the create above: 1),
    // dur_lag, snaps.
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string w; fields >> w;) f.push_back(w);
    ASSERT_EQ(f.size(), 11u) << line;
    EXPECT_EQ(f[8], "1") << line;
  }
  EXPECT_EQ(samples, 3) << out_.str();
  options_.json = true;
  options_.watch_count = 2;
  ASSERT_EQ(Run({"stats"}), kExitOk) << err_.str();
  std::istringstream json(out_.str());
  samples = 0;
  while (std::getline(json, line)) {
    ++samples;
    EXPECT_EQ(line.front(), '{') << line;
    EXPECT_NE(line.find("\"last_seq\":\"1\""), std::string::npos) << line;
  }
  EXPECT_EQ(samples, 2) << out_.str();
}

TEST_F(NetCli, UsageErrors) {
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_EQ(Run({"debit", "1"}), kExitUsage);
  EXPECT_EQ(Run({"debit", "1", "lots"}), kExitUsage);
  EXPECT_NE(err_.str().find("AMOUNT"), std::string::npos);
  EXPECT_EQ(Run({"create-account", "1", "99999999999"}), kExitUsage);
  options_.server = "nonsense";
  EXPECT_EQ(Run({"ping"}), kExitUsage);
}

TEST_F(NetCli, HistoryFiltersByTimeAndReason) {
  ASSERT_EQ(Run({"create-account", "8", "1"}), kExitOk);
  options_.reason = 7;
  ASSERT_EQ(Run({"credit", "8", "11"}), kExitOk);
  options_.reason = 3;
  ASSERT_EQ(Run({"credit", "8", "13"}), kExitOk);
  options_.reason = 0;
  options_.json = true;
  options_.with_reason = "7";
  ASSERT_EQ(Run({"history", "8"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("\"amount\":\"11\""), std::string::npos)
      << out_.str();
  EXPECT_EQ(out_.str().find("\"amount\":\"13\""), std::string::npos);
  // Every entry is from after 2020 and before 2100, in both notations.
  options_.with_reason.clear();
  options_.timestamp_min = "2020-01-01T00:00:00Z";
  options_.timestamp_max = "4102444800000000000";
  ASSERT_EQ(Run({"history", "8"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("\"kind\":\"create\""), std::string::npos);
  options_.timestamp_max = "2020-01-01T00:00:00Z";  // nothing that old
  options_.timestamp_min.clear();
  ASSERT_EQ(Run({"history", "8"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("\"entries\":[]"), std::string::npos) << out_.str();
  // Bad filters are usage errors that name the flag.
  for (const auto& [min, max, reason] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"yesterday", "", ""},
           {"", "-5", ""},
           {"2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z", ""},
           {"", "", "seven"}}) {
    options_.timestamp_min = min;
    options_.timestamp_max = max;
    options_.with_reason = reason;
    EXPECT_EQ(Run({"history", "8"}), kExitUsage) << min << max << reason;
    EXPECT_NE(err_.str().find("--"), std::string::npos) << err_.str();
  }
}

TEST_F(NetCli, NoServerIsAConnectionError) {
  server_.reset();
  EXPECT_EQ(Run({"ping"}), kExitConnection);
  EXPECT_EQ(Run({"debit", "1", "1"}), kExitConnection);
  EXPECT_FALSE(err_.str().empty());
}

TEST(NetConfigFile, AppliesSettingsAndNamesTheBadLine) {
  const std::vector<std::string> allowed = {"net_cli_test_number",
                                            "net_cli_test_text"};
  ASSERT_TRUE(ApplyConfigText("a.conf",
                              "# a comment\n"
                              "\n"
                              "  net_cli_test_number = 42  \n"
                              "net_cli_test_text=hello world\n",
                              allowed)
                  .ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_net_cli_test_number), 42u);
  EXPECT_EQ(absl::GetFlag(FLAGS_net_cli_test_text), "hello world");
  absl::Status s = ApplyConfigText("b.conf", "\nshards = 4\n", allowed);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("b.conf:2"), absl::string_view::npos) << s;
  s = ApplyConfigText("c.conf", "net_cli_test_number = many\n", allowed);
  EXPECT_NE(s.message().find("c.conf:1"), absl::string_view::npos) << s;
  s = ApplyConfigText("d.conf", "just words\n", allowed);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(
      absl::IsNotFound(ApplyConfigFile("/nonexistent/x.conf", allowed)));
}

TEST(NetConfigFile, FindsTheConfigFlagInArgv) {
  const char* a[] = {"cofferd", "--shards=2", "--config=/etc/c.conf", "x"};
  EXPECT_EQ(FindFlagInArgv(4, const_cast<char**>(a), "config"), "/etc/c.conf");
  const char* b[] = {"cofferd", "-config", "/tmp/y.conf"};
  EXPECT_EQ(FindFlagInArgv(3, const_cast<char**>(b), "config"), "/tmp/y.conf");
  const char* c[] = {"cofferd", "--configx=1", "--", "--config=no"};
  EXPECT_EQ(FindFlagInArgv(4, const_cast<char**>(c), "config"), "");
}

}  // namespace
}  // namespace coffer::net
