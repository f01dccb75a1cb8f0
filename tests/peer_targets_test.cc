// The comparison's peer targets (bench/load/postgres_target.cc,
// redis_target.cc) against private servers this test starts in a temporary
// directory on a free loopback port: pipelined single ops and a batch,
// insufficient funds, an unknown account, a retried op id answered as a
// duplicate without charging twice, lookups, the balances read back, and a
// second CreateAccounts resetting the ledger. Skips, saying why, where the
// server binaries are not installed.
#include <gtest/gtest.h>

#ifdef COFFER_PEER_TARGETS

#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/load/target.h"

namespace coffer::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto kDeadline = std::chrono::seconds(15);

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string MakeTempDir() {
  std::string templ =
      (fs::temp_directory_path() / "coffer-peer-test.XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return "";
  return templ;
}

// Accounts 1..3 at 100 each; each op's expected answer.
struct Expected {
  ResultCode code;
  bool duplicate;
  int64_t balance;
};

// Sends six pipelined requests at once, then drives Flush / poll /
// OnReadable until all are answered or the deadline passes.
void ExerciseTarget(LoadTarget& target) {
  ASSERT_TRUE(target.CreateAccounts(1, 3, 100).ok());
  auto connection = target.Connect();
  ASSERT_TRUE(connection.ok()) << connection.status();
  LoadConnection& conn = **connection;

  const LoadOp debit_30{LoadOpKind::kDebit, 101, 1, 0, 30};
  const std::vector<std::vector<LoadOp>> requests = {
      {debit_30},                               // ok: 70 left
      {{LoadOpKind::kDebit, 102, 1, 0, 80}},    // insufficient
      {debit_30},                               // retry: duplicate
      {{LoadOpKind::kDebit, 103, 999, 0, 5}},   // unknown account
      {{LoadOpKind::kTransfer, 104, 2, 3, 50},  // 2: 50, 3: 150
       {LoadOpKind::kLookup, 0, 3, 0, 0},       // 150
       {LoadOpKind::kDebit, 105, 2, 0, 60},     // insufficient
       {LoadOpKind::kDebit, 104, 2, 0, 50}},    // op id reused: dup
      {{LoadOpKind::kLookup, 0, 1, 0, 0}},      // 70
  };
  const std::vector<std::vector<Expected>> expected = {
      {{ResultCode::kOk, false, 0}},
      {{ResultCode::kInsufficientFunds, false, 0}},
      {{ResultCode::kOk, true, 0}},
      {{ResultCode::kAccountNotFound, false, 0}},
      {{ResultCode::kOk, false, 0},
       {ResultCode::kOk, false, 150},
       {ResultCode::kInsufficientFunds, false, 0},
       {ResultCode::kOk, true, 0}},
      {{ResultCode::kOk, false, 70}},
  };
  for (const auto& ops : requests) ASSERT_TRUE(conn.Send(ops).ok());

  std::vector<std::vector<LoadResult>> completed;
  const auto deadline = Clock::now() + kDeadline;
  while (completed.size() < requests.size() && Clock::now() < deadline) {
    auto unsent = conn.Flush();
    ASSERT_TRUE(unsent.ok()) << unsent.status();
    pollfd p{conn.fd(), static_cast<short>(POLLIN | (*unsent ? POLLOUT : 0)),
             0};
    ASSERT_GE(::poll(&p, 1, 100), 0);
    if ((p.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      absl::Status s = conn.OnReadable(&completed);
      ASSERT_TRUE(s.ok()) << s;
    }
  }
  ASSERT_EQ(completed.size(), requests.size()) << "answers before deadline";
  for (size_t r = 0; r < requests.size(); ++r) {
    ASSERT_EQ(completed[r].size(), expected[r].size()) << "request " << r;
    for (size_t i = 0; i < expected[r].size(); ++i) {
      EXPECT_EQ(completed[r][i].code, expected[r][i].code)
          << "request " << r << " op " << i;
      EXPECT_EQ(completed[r][i].duplicate, expected[r][i].duplicate)
          << "request " << r << " op " << i;
      EXPECT_EQ(completed[r][i].balance, expected[r][i].balance)
          << "request " << r << " op " << i;
    }
  }
  auto balances = target.ReadBalances(1, 3);
  ASSERT_TRUE(balances.ok()) << balances.status();
  EXPECT_EQ(*balances, (std::vector<int64_t>{70, 50, 150}));

  // A new run: balances reset, and op 101 is new again (not a duplicate).
  ASSERT_TRUE(target.CreateAccounts(1, 3, 100).ok());
  auto again = target.Connect();
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE((*again)->Send(std::vector<LoadOp>{debit_30}).ok());
  completed.clear();
  const auto deadline2 = Clock::now() + kDeadline;
  while (completed.empty() && Clock::now() < deadline2) {
    auto unsent = (*again)->Flush();
    ASSERT_TRUE(unsent.ok()) << unsent.status();
    pollfd p{(*again)->fd(), POLLIN, 0};
    ASSERT_GE(::poll(&p, 1, 100), 0);
    if (p.revents != 0) {
      ASSERT_TRUE((*again)->OnReadable(&completed).ok());
    }
  }
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0][0].code, ResultCode::kOk);
  EXPECT_FALSE(completed[0][0].duplicate);
  balances = target.ReadBalances(1, 3);
  ASSERT_TRUE(balances.ok()) << balances.status();
  EXPECT_EQ(*balances, (std::vector<int64_t>{70, 100, 100}));
}

// Polls `ready` until it holds or the deadline passes.
template <typename Ready>
bool WaitFor(Ready ready) {
  const auto deadline = Clock::now() + kDeadline;
  while (Clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string FindExecutable(const std::vector<std::string>& candidates) {
  for (const std::string& path : candidates) {
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

class RedisServer {
 public:
  ~RedisServer() {
    std::ifstream pid_file(dir_ + "/redis.pid");
    pid_t pid = 0;
    if (pid_file >> pid && pid > 0) {
      ::kill(pid, SIGTERM);
      WaitFor([&] { return ::kill(pid, 0) != 0; });
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Empty on success, else why not.
  std::string Start(const std::string& binary) {
    dir_ = MakeTempDir();
    port_ = FreePort();
    if (dir_.empty() || port_ == 0) return "no temp dir or free port";
    const std::string command =
        binary + " --port " + std::to_string(port_) +
        " --bind 127.0.0.1 --dir " + dir_ +
        " --appendonly yes --appendfsync always --save '' --daemonize yes"
        " --pidfile " +
        dir_ + "/redis.pid --logfile " + dir_ + "/redis.log";
    if (std::system(command.c_str()) != 0) return "redis-server failed";
    return "";
  }
  uint16_t port() const { return port_; }

 private:
  std::string dir_;
  uint16_t port_ = 0;
};

class PostgresServer {
 public:
  ~PostgresServer() {
    if (started_) {
      (void)std::system(AsOwner(bin_ + "/pg_ctl -D " + dir_ +
                                "/data -m immediate -w stop "
                                ">/dev/null 2>&1")
                            .c_str());
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::string Start(const std::string& bin) {
    bin_ = bin;
    dir_ = MakeTempDir();
    port_ = FreePort();
    if (dir_.empty() || port_ == 0) return "no temp dir or free port";
    if (::geteuid() == 0) {
      // PostgreSQL refuses to run as root: run it as the postgres user.
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) return "running as root and no 'postgres' user";
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return "chown";
      as_postgres_ = true;
    }
    const std::string data = dir_ + "/data";
    if (std::system(AsOwner(bin_ + "/initdb -D " + data +
                            " -A trust -U postgres -N >" + dir_ +
                            "/initdb.log 2>&1")
                        .c_str()) != 0) {
      return "initdb failed (see its log)";
    }
    const std::string options =
        "-c listen_addresses=127.0.0.1 -c port=" + std::to_string(port_) +
        " -c unix_socket_directories=" + dir_ +
        " -c max_connections=20 -c shared_buffers=32MB -c fsync=on"
        " -c synchronous_commit=on";
    if (std::system(AsOwner(bin_ + "/pg_ctl -D " + data + " -l " + dir_ +
                            "/postgres.log -w -t 15 -o '" + options +
                            "' start >/dev/null 2>&1")
                        .c_str()) != 0) {
      return "pg_ctl start failed";
    }
    started_ = true;
    return "";
  }
  uint16_t port() const { return port_; }

 private:
  std::string AsOwner(const std::string& command) const {
    return as_postgres_ ? "runuser -u postgres -- " + command : command;
  }

  std::string bin_;
  std::string dir_;
  uint16_t port_ = 0;
  bool as_postgres_ = false;
  bool started_ = false;
};

TEST(PeerTargetsTest, RedisFunctionDebitsPipelinedAndIdempotent) {
  const std::string binary =
      FindExecutable({"/usr/bin/redis-server", "/usr/local/bin/redis-server"});
  if (binary.empty()) {
    GTEST_SKIP() << "redis-server not installed (apt-get install redis-server)";
  }
  RedisServer server;
  const std::string error = server.Start(binary);
  ASSERT_EQ(error, "");
  const TargetFactory* factory = FindTarget("redis");
  ASSERT_NE(factory, nullptr);
  TargetOptions options;
  options.port = server.port();
  options.peer_dir = COFFER_PEER_DIR;
  std::unique_ptr<LoadTarget> target;
  ASSERT_TRUE(WaitFor([&] {
    auto made = (*factory)(options);
    if (made.ok()) target = *std::move(made);
    return made.ok();
  })) << "redis did not come up on port "
      << server.port();
  EXPECT_NE(target->settings().find("appendfsync=always"), std::string::npos)
      << target->settings();
  ExerciseTarget(*target);
}

TEST(PeerTargetsTest, PostgresTransactionsPipelinedAndIdempotent) {
  const std::string bin = []() -> std::string {
    for (const char* dir :
         {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
          "/usr/lib/postgresql/17/bin"}) {
      if (::access((std::string(dir) + "/pg_ctl").c_str(), X_OK) == 0) {
        return dir;
      }
    }
    return "";
  }();
  if (bin.empty()) {
    GTEST_SKIP() << "PostgreSQL server not installed "
                    "(apt-get install postgresql-15)";
  }
  PostgresServer server;
  const std::string error = server.Start(bin);
  ASSERT_EQ(error, "");
  const TargetFactory* factory = FindTarget("postgres");
  ASSERT_NE(factory, nullptr);
  TargetOptions options;
  options.port = server.port();
  options.user = "postgres";
  options.database = "postgres";
  options.peer_dir = COFFER_PEER_DIR;
  auto target = (*factory)(options);
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_NE((*target)->settings().find("synchronous_commit=on"),
            std::string::npos)
      << (*target)->settings();
  ExerciseTarget(**target);
}

TEST(PeerTargetsTest, UnreachableServerIsAClearError) {
  for (const char* name : {"redis", "postgres"}) {
    const TargetFactory* factory = FindTarget(name);
    ASSERT_NE(factory, nullptr) << name;
    TargetOptions options;
    options.port = FreePort();
    auto target = (*factory)(options);
    ASSERT_FALSE(target.ok()) << name;
    EXPECT_NE(target.status().message().find("connect"), std::string::npos)
        << target.status();
  }
}

}  // namespace
}  // namespace coffer::bench

#else  // !COFFER_PEER_TARGETS

TEST(PeerTargetsTest, NeedsClientLibraries) {
  GTEST_SKIP() << "built without libpq/hiredis (tools/bootstrap installs "
                  "libpq-dev and libhiredis-dev)";
}

#endif  // COFFER_PEER_TARGETS
