// tcp-pingpong: the bare loopback round trip between two processes, with
// plain POSIX calls (no Coffer code), so that a server's latency at one
// connection can be read against what the kernel's TCP path and two wake-ups
// cost on this machine. With disk_probe's fdatasync p50 it makes the C=1
// floor of issue 12: fdatasync p50 + ping-pong p50.
//
//   tcp-pingpong [--rounds=N] [--seconds=S] [--message_bytes=B]
//                [--warmup_rounds=N] [--json]
//
// The process forks: the child is an echo server on 127.0.0.1 (ephemeral
// port, one connection), the parent the client. Both sides use blocking
// sockets with TCP_NODELAY, as a server's request/reply path does. Each
// round writes --message_bytes and reads as many back; the round trip is
// timed with steady_clock. Stops after --rounds rounds or --seconds seconds,
// whichever is first; the child is killed and reaped on every way out.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "net/program_flags.h"

ABSL_FLAG(uint64_t, rounds, 20000, "timed round trips at most");
ABSL_FLAG(double, seconds, 10.0, "time for the timed rounds at most");
ABSL_FLAG(uint64_t, message_bytes, 96,
          "bytes each way per round (96: a small request's frame)");
ABSL_FLAG(uint64_t, warmup_rounds, 200,
          "untimed rounds first (connection set-up, first-touch faults)");
ABSL_FLAG(bool, json, false, "print one JSON object instead of the text line");

namespace {

using Clock = std::chrono::steady_clock;

// A blocked read or write gives up after this long: a wedged peer must not
// hang the benchmark run that called us.
constexpr int kIoTimeoutS = 5;

// The echo child, while it exists; every exit path of the parent goes
// through KillChild, so no echo server outlives the run.
pid_t g_child_pid = -1;

void KillChild() {
  if (g_child_pid <= 0) return;
  ::kill(g_child_pid, SIGKILL);
  while (::waitpid(g_child_pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  g_child_pid = -1;
}

[[noreturn]] void Die(const char* what) {
  const int err = errno;
  KillChild();
  std::fprintf(stderr, "tcp-pingpong: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

[[noreturn]] void FlagError(const char* what) {
  std::fprintf(stderr, "tcp-pingpong: %s (see --help)\n", what);
  std::exit(2);
}

// Ctrl-C or a TERM from the run script: reap the child, then go.
extern "C" void OnSignal(int) {
  if (g_child_pid > 0) ::kill(g_child_pid, SIGKILL);
  _exit(130);
}

struct Flags {
  uint64_t rounds = 0;
  double seconds = 0;
  uint64_t message_bytes = 0;
  uint64_t warmup_rounds = 0;
  bool json = false;
};

Flags ParseFlags(int argc, char** argv) {
  const std::vector<std::string> rest = coffer::net::ParseProgramFlags(
      argc, argv,
      "Measures the loopback TCP round trip of small messages between two "
      "processes\n(a forked echo server and a client, TCP_NODELAY, blocking "
      "sockets).\nUsage: tcp-pingpong [--flag=value ...]",
      "bench/tcp_pingpong");
  if (!rest.empty()) FlagError("unexpected argument");
  Flags f;
  f.rounds = absl::GetFlag(FLAGS_rounds);
  f.seconds = absl::GetFlag(FLAGS_seconds);
  f.message_bytes = absl::GetFlag(FLAGS_message_bytes);
  f.warmup_rounds = absl::GetFlag(FLAGS_warmup_rounds);
  f.json = absl::GetFlag(FLAGS_json);
  if (f.rounds == 0 || f.message_bytes == 0 || !(f.seconds > 0)) {
    FlagError("--rounds, --message_bytes and --seconds must be positive");
  }
  if (f.message_bytes > (1 << 20))
    FlagError("--message_bytes is at most 1 MiB");
  return f;
}

// False on end of stream or error (errno says which; 0 for end of stream).
bool ReadAll(int fd, char* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::read(fd, data, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = 0;
      return false;
    }
    data += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool WriteAll(int fd, const char* data, size_t bytes) {
  while (bytes > 0) {
    const ssize_t n = ::send(fd, data, bytes, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool SetSocketOptions(int fd) {
  const int one = 1;
  const timeval timeout{kIoTimeoutS, 0};
  return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
         ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) ==
             0 &&
         ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) ==
             0;
}

// Listens on 127.0.0.1, port chosen by the kernel; returns the fd and port.
int Listen(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, 1) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("listen on 127.0.0.1");
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// The child: echo one connection until the parent closes it. It dies with
// the parent (PDEATHSIG) and after a hard deadline, whatever happens.
[[noreturn]] void EchoChild(int listen_fd, const Flags& f, pid_t parent_pid) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent_pid) _exit(1);  // the parent died before prctl
  ::alarm(static_cast<unsigned>(f.seconds) + 2 * kIoTimeoutS + 10);
  const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0 || !SetSocketOptions(fd)) _exit(1);
  ::close(listen_fd);
  std::vector<char> buf(f.message_bytes);
  while (ReadAll(fd, buf.data(), buf.size())) {
    if (!WriteAll(fd, buf.data(), buf.size())) _exit(1);
  }
  _exit(errno == 0 ? 0 : 1);
}

int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    Die("connect to the echo child");
  }
  if (!SetSocketOptions(fd)) Die("setsockopt");
  return fd;
}

// One round: the message out, the echo back. The content changes per round
// so that an echo of a stale buffer would show.
void Round(int fd, std::vector<char>* out, std::vector<char>* in,
           uint64_t round) {
  (*out)[0] = static_cast<char>(round);
  if (!WriteAll(fd, out->data(), out->size())) Die("send");
  if (!ReadAll(fd, in->data(), in->size())) {
    if (errno == 0) errno = ECONNRESET;
    Die("read the echo");
  }
  if ((*in)[0] != (*out)[0]) {
    errno = EPROTO;
    Die("the echo differs from the message");
  }
}

std::vector<double> Measure(int fd, const Flags& f, double* seconds_out) {
  std::vector<char> out(f.message_bytes, 'x');
  std::vector<char> in(f.message_bytes);
  for (uint64_t i = 0; i < f.warmup_rounds; ++i) Round(fd, &out, &in, i);
  std::vector<double> rtt_us;
  rtt_us.reserve(std::min<uint64_t>(f.rounds, 10'000'000));
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(f.seconds));
  for (uint64_t i = 0; i < f.rounds; ++i) {
    const auto t0 = Clock::now();
    Round(fd, &out, &in, i);
    const auto t1 = Clock::now();
    rtt_us.push_back(
        std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (t1 >= deadline) break;
  }
  *seconds_out = std::chrono::duration<double>(Clock::now() - start).count();
  return rtt_us;
}

// Closing the connection ends the child's loop: give it a moment to exit by
// itself (its status says whether the echo side saw an error), then make sure.
void ReapChild() {
  for (int i = 0; i < 100 && g_child_pid > 0; ++i) {
    int status = 0;
    const pid_t r = ::waitpid(g_child_pid, &status, WNOHANG);
    if (r == g_child_pid) {
      g_child_pid = -1;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "tcp-pingpong: the echo child failed (%d)\n",
                     status);
        std::exit(1);
      }
      return;
    }
    if (r < 0 && errno != EINTR) break;
    ::usleep(10'000);
  }
  KillChild();
}

// Nearest rank on a sorted vector, as disk_probe computes it.
double Percentile(const std::vector<double>& sorted, double p) {
  size_t i =
      static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

void Print(const Flags& f, std::vector<double> rtt_us, double seconds) {
  std::sort(rtt_us.begin(), rtt_us.end());
  const double rate = static_cast<double>(rtt_us.size()) / seconds;
  if (f.json) {
    std::printf(
        "{\"message_bytes\": %llu, \"rounds\": %zu, \"seconds\": %.3f, "
        "\"round_trips_per_s\": %.0f, \"rtt_us\": {\"p50\": %.1f, "
        "\"p99\": %.1f, \"p999\": %.1f, \"max\": %.1f}}\n",
        static_cast<unsigned long long>(f.message_bytes), rtt_us.size(),
        seconds, rate, Percentile(rtt_us, 0.50), Percentile(rtt_us, 0.99),
        Percentile(rtt_us, 0.999), rtt_us.back());
    return;
  }
  std::printf(
      "tcp ping-pong loopback %5llu B messages: p50 %8.1f us  p99 %8.1f us  "
      "p99.9 %8.1f us  max %8.1f us  %8.0f round trips/s  (%zu rounds)\n",
      static_cast<unsigned long long>(f.message_bytes),
      Percentile(rtt_us, 0.50), Percentile(rtt_us, 0.99),
      Percentile(rtt_us, 0.999), rtt_us.back(), rate, rtt_us.size());
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  uint16_t port = 0;
  const int listen_fd = Listen(&port);
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  ::sigemptyset(&sa.sa_mask);
  // Installed before the fork so that no signal finds a child not yet known.
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  std::fflush(nullptr);
  const pid_t parent_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) Die("fork");
  if (pid == 0) {
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGHUP, SIG_DFL);
    EchoChild(listen_fd, f, parent_pid);
  }
  g_child_pid = pid;
  ::close(listen_fd);
  const int fd = Connect(port);
  double seconds = 0;
  std::vector<double> rtt_us = Measure(fd, f, &seconds);
  ::close(fd);
  ReapChild();
  Print(f, std::move(rtt_us), seconds);
  return 0;
}
