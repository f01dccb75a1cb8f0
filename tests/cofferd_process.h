// The real cofferd binary as a child process, for the tests that must kill
// it, fill its disk or watch it exit (fail-stop, torture). Header-only: the
// tests are globbed into one binary and this is their only shared code.
//
//   CofferdProcess server;
//   ASSERT_TRUE(server.Start({"--data_dir=" + dir}).ok());
//   auto client = net::Client::Connect({.port = server.port()});
//   server.Kill();  // SIGKILL, then reaped
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace coffer::testing {

class CofferdProcess {
 public:
  CofferdProcess() = default;
  CofferdProcess(const CofferdProcess&) = delete;
  CofferdProcess& operator=(const CofferdProcess&) = delete;
  // Kills a server still running, then as Retire.
  ~CofferdProcess() {
    if (running()) Kill();
    Retire();
  }

  // Starts cofferd on an ephemeral loopback port with `flags` (more flags
  // after these override them) and waits up to `start_timeout_ms` for its
  // "listening on" line. stdout and stderr go to files next to `log_prefix`
  // (default: the test temp dir). If the server exits before listening,
  // returns an error with its exit status and stderr; exit_status() holds it.
  absl::Status Start(const std::vector<std::string>& flags,
                     uint32_t start_timeout_ms = 60'000,
                     const std::string& log_prefix = "") {
    if (absl::Status s = Spawn(flags, log_prefix); !s.ok()) return s;
    return WaitUntilListening(start_timeout_ms);
  }

  // Starts the process without waiting for it to listen (to kill it while
  // it recovers).
  absl::Status Spawn(const std::vector<std::string>& flags,
                     const std::string& log_prefix = "") {
    if (running()) return absl::FailedPreconditionError("already running");
    Retire();
    static int serial = 0;
    const std::string prefix =
        log_prefix.empty() ? absl::StrCat(::testing::TempDir(), "/cofferd-",
                                          getpid(), "-", serial++)
                           : log_prefix;
    stdout_path_ = prefix + ".out";
    stderr_path_ = prefix + ".err";
    exit_status_.reset();
    port_ = 0;

    std::vector<std::string> args = {COFFERD_BINARY, "--listen=127.0.0.1:0",
                                     "--io_threads=1"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                     stdout_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO,
                                     stderr_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    const int rc =
        posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return absl::ErrnoToStatus(rc, absl::StrCat("spawn ", COFFERD_BINARY));
    }
    return absl::OkStatus();
  }

  // Waits for the "listening on" line of a spawned process.
  absl::Status WaitUntilListening(uint32_t start_timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(start_timeout_ms);
    for (;;) {
      if (std::optional<uint16_t> port = ListeningPort(); port.has_value()) {
        port_ = *port;
        return absl::OkStatus();
      }
      if (Reap(/*block=*/false)) {
        return absl::UnavailableError(
            absl::StrCat("cofferd exited before listening (", DescribeStatus(),
                         "): ", Stderr()));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        Kill();
        return absl::DeadlineExceededError(
            absl::StrCat("cofferd did not listen within ", start_timeout_ms,
                         " ms: ", Stderr()));
      }
      // Polling a file the child writes: there is no event to wait on.
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // SIGKILL and reap. No-op if not running.
  void Kill() {
    if (!running()) return;
    kill(pid_, SIGKILL);
    Reap(/*block=*/true);
  }

  // Waits up to `timeout_ms` for the child to exit by itself; false if it is
  // still running then (it is left running).
  bool WaitForExit(uint32_t timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(timeout_ms);
    while (running()) {
      if (Reap(/*block=*/false)) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // The last child's wait status, once reaped.
  std::optional<int> exit_status() const { return exit_status_; }
  bool exited_with(int code) const {
    return exit_status_.has_value() && WIFEXITED(*exit_status_) &&
           WEXITSTATUS(*exit_status_) == code;
  }
  std::string DescribeStatus() const {
    if (!exit_status_.has_value()) return "running";
    const int s = *exit_status_;
    if (WIFEXITED(s)) return absl::StrCat("exit ", WEXITSTATUS(s));
    if (WIFSIGNALED(s)) return absl::StrCat("signal ", WTERMSIG(s));
    return absl::StrCat("status ", s);
  }
  std::string Stderr() const { return ReadAll(stderr_path_); }
  std::string Stdout() const { return ReadAll(stdout_path_); }

 private:
  // Done with the last child's files: a sanitizer report on its stderr
  // fails the test (a server killed, or stopped by _exit, never reaches the
  // sanitizer's exit code); the files are removed unless the test has
  // failed (then they are evidence).
  void Retire() {
    if (stderr_path_.empty()) return;
    const std::string err = Stderr();
    if (err.find("Sanitizer") != std::string::npos) {
      ADD_FAILURE() << "cofferd (" << stderr_path_ << "): " << err;
    }
    if (!::testing::Test::HasFailure()) {
      unlink(stdout_path_.c_str());
      unlink(stderr_path_.c_str());
    }
    stdout_path_.clear();
    stderr_path_.clear();
  }

  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // From "cofferd listening on 127.0.0.1:PORT: ...".
  std::optional<uint16_t> ListeningPort() const {
    const std::string out = Stdout();
    const std::string marker = "listening on ";
    const size_t at = out.find(marker);
    if (at == std::string::npos) return std::nullopt;
    const size_t end = out.find(": ", at);
    if (end == std::string::npos) return std::nullopt;
    const std::string endpoint =
        out.substr(at + marker.size(), end - at - marker.size());
    const size_t colon = endpoint.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return std::nullopt;
    }
    return static_cast<uint16_t>(port);
  }

  // True once the child has been reaped.
  bool Reap(bool block) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, block ? 0 : WNOHANG);
    if (r != pid_) return false;
    exit_status_ = status;
    pid_ = -1;
    return true;
  }

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::optional<int> exit_status_;
  std::string stdout_path_;
  std::string stderr_path_;
};

}  // namespace coffer::testing
