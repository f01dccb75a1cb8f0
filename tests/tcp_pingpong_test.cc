// tcp-pingpong (bench/tcp_pingpong.cc), the network half of issue 12's C=1
// floor: a short run prints its one line with a p50 and exits 0, --json is
// one object, --help exits 0 and a bad flag exits 2. bench/compare/report
// parses that line, so its shape is what is checked.
#if defined(COFFER_TCP_PINGPONG_BINARY)

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace {

struct Output {
  int status = -1;
  std::string text;
};

Output RunProbe(const std::string& flags) {
  const std::string cmd =
      std::string(COFFER_TCP_PINGPONG_BINARY) + " " + flags + " 2>&1";
  Output out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.text.append(buf, n);
  out.status = ::pclose(p);
  return out;
}

bool ExitedWith(int status, int code) {
  return WIFEXITED(status) && WEXITSTATUS(status) == code;
}

TEST(TcpPingpong, ShortRunPrintsPercentilesAndExitsZero) {
  const Output out = RunProbe("--rounds=200 --warmup_rounds=10 --seconds=10");
  EXPECT_TRUE(ExitedWith(out.status, 0)) << out.text;
  EXPECT_NE(out.text.find("tcp ping-pong loopback    96 B messages: p50 "),
            std::string::npos)
      << out.text;
  EXPECT_NE(out.text.find(" p99.9 "), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("(200 rounds)"), std::string::npos) << out.text;
}

TEST(TcpPingpong, JsonIsOneObject) {
  const Output out = RunProbe("--rounds=50 --message_bytes=16 --json");
  EXPECT_TRUE(ExitedWith(out.status, 0)) << out.text;
  EXPECT_EQ(out.text.rfind("{\"message_bytes\": 16, \"rounds\": 50,", 0), 0u)
      << out.text;
  EXPECT_NE(out.text.find("\"rtt_us\": {\"p50\": "), std::string::npos)
      << out.text;
}

TEST(TcpPingpong, HelpExitsZeroAndBadFlagsExitTwo) {
  const Output help = RunProbe("--help");
  EXPECT_TRUE(ExitedWith(help.status, 0)) << help.text;
  EXPECT_NE(help.text.find("--rounds"), std::string::npos) << help.text;
  EXPECT_TRUE(ExitedWith(RunProbe("--rounds=0").status, 2));
  EXPECT_TRUE(ExitedWith(RunProbe("--no_such_flag=1").status, 2));
}

}  // namespace

#endif  // COFFER_TCP_PINGPONG_BINARY
