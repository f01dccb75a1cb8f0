// The programs as a user runs them: the real `coffer` binary against a real
// cofferd (argument errors, the --json conventions), and --help on cofferd,
// coffer and coffer-wal. tests/net_cli_test.cc drives the same commands
// in-process through RunCli.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/cofferd_process.h"

#ifndef COFFER_CLI_BINARY
#error "tests/CMakeLists.txt passes the coffer path as COFFER_CLI_BINARY"
#endif

extern char** environ;

namespace coffer::testing {
namespace {

namespace fs = std::filesystem;

struct ProgramRun {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `program` with `args` (no shell), stdout and stderr to files, and
// waits for it. Every program run here ends by itself: coffer has its
// --timeout_ms, and --help exits at once.
ProgramRun RunProgram(const std::string& program,
                      const std::vector<std::string>& args) {
  static int serial = 0;
  const std::string prefix =
      absl::StrCat(::testing::TempDir(), "/cli-test-", getpid(), "-", serial++);
  std::vector<std::string> all = {program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                   (prefix + ".out").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                   (prefix + ".err").c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  pid_t pid = -1;
  const int rc =
      posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ProgramRun run;
  if (rc != 0) {
    run.err = absl::StrCat("spawn ", program, " failed: ", rc);
    return run;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  run.out = ReadFile(prefix + ".out");
  run.err = ReadFile(prefix + ".err");
  unlink((prefix + ".out").c_str());
  unlink((prefix + ".err").c_str());
  return run;
}

ProgramRun Coffer(std::vector<std::string> args) {
  args.insert(args.begin(), "--timeout_ms=10000");
  return RunProgram(COFFER_CLI_BINARY, args);
}

// Operands and flag values out of range are usage errors (exit 2) whose
// message names the argument and what it may be. No server is needed: they
// are refused before connecting (port 1 answers nothing).
TEST(Cli, BadNumbersAreUsageErrorsThatSayWhatIsAllowed) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::string amounts = "from 1 to 9223372036854775807";
  const std::string ids = "from 1 to 18446744073709551615";
  const std::vector<Case> cases = {
      {{"credit", "1001", "-5"}, "AMOUNT must be a whole number " + amounts},
      {{"debit", "1001", "ten"}, "AMOUNT must be a whole number " + amounts},
      {{"credit", "1001", "0"}, "AMOUNT must be a whole number " + amounts},
      {{"credit", "1001", "9223372036854775808"},
       "AMOUNT must be a whole number " + amounts},
      {{"transfer", "1", "2", "-1"}, "AMOUNT must be a whole number"},
      {{"credit", "-7", "5"}, "ACCOUNT must be a whole number " + ids},
      {{"transfer", "1", "-2", "5"}, "TO must be a whole number " + ids},
      {{"balance", "1", "-2"}, "ACCOUNT must be a whole number " + ids},
      {{"release", "1", "-3"}, "HOLD_ID must be a whole number " + ids},
      {{"create-account", "1", "-1"},
       "CURRENCY must be a whole number from 1 to 4294967295"},
      {{"--op_id=-5", "credit", "1", "5"},
       "--op_id must be a whole number from 0 to 18446744073709551615"},
      {{"credit", "1", "5", "--currency", "-2"},
       "--currency must be a whole number from 0 to 4294967295"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"--server=127.0.0.1:1"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const ProgramRun run = Coffer(args);
    const std::string shown = absl::StrJoin(c.args, " ");
    EXPECT_EQ(run.exit_code, 2) << shown << ": " << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos)
        << shown << ": " << run.err;
    EXPECT_TRUE(run.out.empty()) << shown << ": " << run.out;
  }
  // The value itself is quoted back.
  const ProgramRun run = Coffer({"--server=127.0.0.1:1", "credit", "1", "-5"});
  EXPECT_NE(run.err.find("got '-5'"), std::string::npos) << run.err;
}

// Keys of `json` whose value is a JSON number (not a string).
std::set<std::string> NumberKeys(const std::string& json) {
  static const std::regex number_field("\"([a-z_]+)\":-?[0-9]");
  std::set<std::string> keys;
  for (std::sregex_iterator it(json.begin(), json.end(), number_field), end;
       it != end; ++it) {
    keys.insert((*it)[1].str());
  }
  return keys;
}

// Every --json output prints 64- and 128-bit integers as strings (JSON
// numbers are doubles to JavaScript); only 32-bit fields are numbers.
TEST(Cli, JsonPrintsEveryLargeIntegerAsAString) {
  const std::string dir =
      (fs::path(::testing::TempDir()) / absl::StrCat("cli-json-", getpid()))
          .string();
  fs::remove_all(dir);
  CofferdProcess server;
  ASSERT_TRUE(server.Start({"--data_dir=" + dir, "--shards=2"}).ok());
  const std::string at = absl::StrCat("--server=127.0.0.1:", server.port());
  ASSERT_EQ(Coffer({at, "create-account", "1001", "1"}).exit_code, 0);
  ASSERT_EQ(Coffer({at, "create-account", "1002", "1"}).exit_code, 0);
  ASSERT_EQ(Coffer({at, "credit", "1001", "100"}).exit_code, 0);
  ASSERT_EQ(
      Coffer({at, "--op_id=9007199254740993", "hold", "1001", "30"}).exit_code,
      0);

  const std::set<std::string> small = {"code",   "currency",      "reason",
                                       "number", "history_count", "next_before",
                                       "stage",  "area"};
  std::vector<std::string> outputs;
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"balance", "1001", "1002"},
                                             {"digest"},
                                             {"transfer", "1001", "1002", "5"},
                                             {"history", "1001"},
                                             {"stats"}}) {
    std::vector<std::string> args = {at, "--json"};
    args.insert(args.end(), command.begin(), command.end());
    const ProgramRun run = Coffer(args);
    ASSERT_EQ(run.exit_code, 0) << command[0] << ": " << run.err;
    for (const std::string& key : NumberKeys(run.out)) {
      EXPECT_TRUE(small.contains(key))
          << command[0] << ": \"" << key << "\" is a number: " << run.out;
    }
    outputs.push_back(run.out);
  }
  const std::string& balance = outputs[0];
  EXPECT_NE(balance.find("\"id\":\"1001\""), std::string::npos) << balance;
  EXPECT_NE(balance.find("\"balance\":\"100\""), std::string::npos) << balance;
  EXPECT_NE(balance.find("\"held\":\"30\""), std::string::npos) << balance;
  EXPECT_NE(balance.find("\"available\":\"70\""), std::string::npos);
  EXPECT_NE(balance.find("\"seq\":\""), std::string::npos) << balance;
  EXPECT_NE(balance.find("\"currency\":1,"), std::string::npos) << balance;
  const std::string& digest = outputs[1];
  EXPECT_NE(digest.find("\"accounts\":\"2\""), std::string::npos) << digest;
  EXPECT_NE(digest.find("\"holds\":\"1\""), std::string::npos) << digest;
  EXPECT_NE(digest.find("\"balance\":\"100\""), std::string::npos) << digest;
  EXPECT_NE(digest.find("\"held\":\"30\""), std::string::npos) << digest;
  EXPECT_NE(digest.find("\"seq\":\""), std::string::npos) << digest;
  EXPECT_NE(outputs[2].find("\"balance_after\":\"95\""), std::string::npos)
      << outputs[2];
  // 2^53 + 1: a double would print it as ...992.
  EXPECT_NE(outputs[3].find("\"op_id\":\"9007199254740993\""),
            std::string::npos)
      << outputs[3];
  server.Kill();
  fs::remove_all(dir);
}

TEST(Cli, HelpExitsZeroOnEveryProgram) {
  for (const std::string program :
       {COFFERD_BINARY, COFFER_CLI_BINARY, COFFER_WAL_TOOL}) {
    for (const std::string flag : {"--help", "-h"}) {
      const ProgramRun run = RunProgram(program, {flag});
      EXPECT_EQ(run.exit_code, 0) << program << " " << flag << ": " << run.err;
      EXPECT_FALSE(run.out.empty()) << program << " " << flag;
    }
  }
}

// The smallest op-id window is stated in cofferd's --help, and a value below
// it is refused in terms of cofferd's own flags, before anything starts.
TEST(Cli, CofferdStatesTheOpIdWindowMinimumInItsOwnFlags) {
  const ProgramRun help = RunProgram(COFFERD_BINARY, {"--help"});
  ASSERT_EQ(help.exit_code, 0) << help.err;
  const size_t at = help.out.find("op_ids_remembered_max");
  ASSERT_NE(at, std::string::npos) << help.out;
  EXPECT_NE(help.out.find("at least 1048576", at), std::string::npos)
      << help.out.substr(at, 400);

  const ProgramRun small = RunProgram(
      COFFERD_BINARY,
      {"--data_dir=", "--listen=127.0.0.1:0", "--op_ids_remembered_max=1000"});
  EXPECT_EQ(small.exit_code, 2) << small.out << small.err;
  EXPECT_NE(small.err.find("--op_ids_remembered_max must be at least "
                           "--ops_in_flight_max (1048576)"),
            std::string::npos)
      << small.err;
  EXPECT_EQ(small.out.find("listening"), std::string::npos) << small.out;
}

// tools/systemd/cofferd.conf names only flags cofferd has, and a server
// starts from it (its paths overridden by flags, which win over the file).
TEST(Cli, CofferdStartsFromTheShippedSystemdConfig) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cli-systemd-", getpid());
  fs::remove_all(dir);
  {
    CofferdProcess server;
    ASSERT_TRUE(server
                    .Start({absl::StrCat("--config=", COFFER_SOURCE_DIR,
                                         "/tools/systemd/cofferd.conf"),
                            "--data_dir=" + dir, "--listen=127.0.0.1:0"})
                    .ok())
        << server.Stderr();
    const ProgramRun ping =
        Coffer({absl::StrCat("--server=127.0.0.1:", server.port()), "ping"});
    EXPECT_EQ(ping.exit_code, 0) << ping.err;
  }
  fs::remove_all(dir);
}

TEST(Cli, CofferdArchivesOldSegmentsByDefaultAndRefusesABadArchive) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/cli-archive-", getpid());
  fs::remove_all(dir);
  {
    CofferdProcess server;
    ASSERT_TRUE(
        server.Start({"--data_dir=" + dir, "--listen=127.0.0.1:0"}).ok())
        << server.Stderr();
    EXPECT_NE(
        server.Stdout().find("old log segments kept in " + dir + "/archive"),
        std::string::npos)
        << server.Stdout();
    EXPECT_TRUE(fs::is_directory(dir + "/archive"));
    const ProgramRun stats =
        Coffer({absl::StrCat("--server=127.0.0.1:", server.port()), "stats"});
    ASSERT_EQ(stats.exit_code, 0) << stats.err;
    for (const char* area : {"log ", "archive ", "snapshots "}) {
      EXPECT_NE(stats.out.find(std::string("\n") + area), std::string::npos)
          << area << " in\n"
          << stats.out;
    }
  }
  // An archive that cannot be a directory: refused at start, naming it.
  const std::string file = dir + "/not-a-dir";
  std::ofstream(file) << "x";
  const ProgramRun bad =
      RunProgram(COFFERD_BINARY, {"--data_dir=" + dir, "--listen=127.0.0.1:0",
                                  "--wal_archive_dir=" + file});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find(file), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out.find("listening"), std::string::npos) << bad.out;
  // --wal_archive=false: deleted as before, and said so.
  {
    CofferdProcess server;
    ASSERT_TRUE(server
                    .Start({"--data_dir=" + dir, "--listen=127.0.0.1:0",
                            "--wal_archive=false"})
                    .ok())
        << server.Stderr();
    EXPECT_NE(server.Stdout().find("old log segments are deleted"),
              std::string::npos)
        << server.Stdout();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace coffer::testing
