// disk_probe: what the disk under a directory can do for a write-ahead log,
// measured with plain POSIX calls (no Coffer code), so that the log's own
// figures (wal_bench) can be read against the hardware's limits.
//
//   disk_probe [--dir=D] [--write_bytes=N] [--max_syncs=N]
//              [--seconds_per_test=S] [--bandwidth_mib=M]
//
// 1. fdatasync latency and rate for small writes (--write_bytes; default: 512
//    and 4096 bytes) appended to a file prepared three ways:
//      zero-filled  written with zeros and synced first: later syncs write
//                   data only (what wal/ does to its segments);
//      fallocated   posix_fallocate only: the blocks are "unwritten extents",
//                   so the first write into each one changes the extent map
//                   and the sync commits that metadata too;
//      growing      no preallocation: every sync also writes the new size.
// 2. Sequential bandwidth: 1 MiB writes, fdatasync after every 8 MiB.
//
// Each latency test stops after --max_syncs syncs or --seconds_per_test
// seconds, the bandwidth test after --bandwidth_mib MiB or 4 s: the default
// run takes well under 20 s. Files go to a fresh directory under --dir
// (default: the current directory, so run it from the build directory) and
// are removed at the end.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "net/program_flags.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string dir = ".";
  // Sizes of the small writes; 4 KiB is where every sync starts a new
  // block, which is where fallocated and zero-filled files differ most.
  std::vector<uint64_t> write_bytes = {512, 4096};
  uint64_t max_syncs = 2000;
  double seconds_per_test = 3.0;
  uint64_t bandwidth_mib = 256;
};

[[noreturn]] void Die(const char* what, const std::string& path) {
  std::fprintf(stderr, "disk_probe: %s %s: %s\n", what, path.c_str(),
               std::strerror(errno));
  std::exit(1);
}

}  // namespace

// Flags: Abseil flags, parsed by the programs' shared parser
// (net/program_flags.h): --help lists them, a bad value exits 2.
ABSL_FLAG(std::string, dir, ".",
          "a fresh directory is made (and removed) under this one");
// 4 KiB is where every sync starts a new block, which is where fallocated
// and zero-filled files differ most.
ABSL_FLAG(std::vector<std::string>, write_bytes,
          std::vector<std::string>({"512", "4096"}),
          "sizes of the small synced appends");
ABSL_FLAG(uint64_t, max_syncs, 2000, "syncs per latency test at most");
ABSL_FLAG(double, seconds_per_test, 3.0, "time per latency test at most");
ABSL_FLAG(uint64_t, bandwidth_mib, 256, "MiB written by the bandwidth test");

namespace {

[[noreturn]] void FlagError(const char* what) {
  std::fprintf(stderr, "disk_probe: %s (see --help)\n", what);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  const std::vector<std::string> rest = coffer::net::ParseProgramFlags(
      argc, argv,
      "Measures fdatasync latency/rate for small appends (zero-filled, "
      "fallocated\nand growing files) and sequential write bandwidth in a "
      "fresh directory under --dir.\nUsage: disk_probe [--flag=value ...]",
      "bench/disk_probe");
  if (!rest.empty()) FlagError("unexpected argument");
  Flags f;
  f.dir = absl::GetFlag(FLAGS_dir);
  f.write_bytes.clear();
  for (const std::string& w : absl::GetFlag(FLAGS_write_bytes)) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(w, &n) || n == 0) {
      FlagError("--write_bytes takes positive numbers");
    }
    f.write_bytes.push_back(n);
  }
  f.max_syncs = absl::GetFlag(FLAGS_max_syncs);
  f.seconds_per_test = absl::GetFlag(FLAGS_seconds_per_test);
  f.bandwidth_mib = absl::GetFlag(FLAGS_bandwidth_mib);
  if (f.write_bytes.empty() || f.max_syncs == 0 || f.bandwidth_mib == 0 ||
      !(f.seconds_per_test > 0)) {
    FlagError("sizes, counts and times must be positive");
  }
  return f;
}

void WriteAll(int fd, const char* data, uint64_t bytes, uint64_t offset,
              const std::string& path) {
  while (bytes > 0) {
    ssize_t n = ::pwrite(fd, data, bytes, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("pwrite", path);
    data += n;
    bytes -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void DataSync(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) Die("fdatasync", path);
}

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) Die("open", dir);
  if (::fsync(fd) != 0) Die("fsync", dir);
  ::close(fd);
}

enum class Prep { kZeroFilled, kFallocated, kGrowing };

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void SyncLatency(const Flags& f, uint64_t write_bytes, const std::string& dir,
                 Prep prep, const char* label) {
  const std::string path = dir + "/sync-" + label;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open", path);
  const uint64_t file_bytes = write_bytes * f.max_syncs;
  if (prep == Prep::kFallocated || prep == Prep::kZeroFilled) {
    int err = ::posix_fallocate(fd, 0, static_cast<off_t>(file_bytes));
    if (err != 0) {
      errno = err;
      Die("posix_fallocate", path);
    }
  }
  if (prep == Prep::kZeroFilled) {
    const std::string zeros(1 << 20, '\0');
    for (uint64_t off = 0; off < file_bytes; off += zeros.size()) {
      WriteAll(fd, zeros.data(),
               std::min<uint64_t>(zeros.size(), file_bytes - off), off, path);
    }
  }
  DataSync(fd, path);
  SyncDir(dir);

  // Non-zero bytes, different in every write, as a log's records are.
  std::string data(write_bytes, '\0');
  std::vector<double> latencies_us;
  latencies_us.reserve(f.max_syncs);
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(
                  std::chrono::duration<double>(f.seconds_per_test));
  uint64_t offset = 0;
  for (uint64_t i = 0; i < f.max_syncs; ++i) {
    for (size_t j = 0; j < data.size(); ++j) {
      data[j] = static_cast<char>(1 + (i + j) % 251);
    }
    const auto t0 = Clock::now();
    WriteAll(fd, data.data(), data.size(), offset, path);
    DataSync(fd, path);
    const auto t1 = Clock::now();
    offset += data.size();
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (t1 >= deadline) break;
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  ::unlink(path.c_str());
  std::printf(
      "fdatasync %-12s %5llu B writes: p50 %8.1f us  p99 %8.1f us  "
      "max %8.1f us  %8.0f syncs/s  (%zu syncs)\n",
      label, static_cast<unsigned long long>(write_bytes),
      Percentile(latencies_us, 0.50), Percentile(latencies_us, 0.99),
      Percentile(latencies_us, 1.0),
      static_cast<double>(latencies_us.size()) / seconds, latencies_us.size());
}

void Bandwidth(const Flags& f, const std::string& dir) {
  const std::string path = dir + "/bandwidth";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open", path);
  constexpr uint64_t kWriteBytes = 1 << 20;
  constexpr uint64_t kSyncEvery = 8 << 20;
  const uint64_t total = f.bandwidth_mib << 20;
  std::string data(kWriteBytes, '\0');
  for (size_t j = 0; j < data.size(); ++j) {
    data[j] = static_cast<char>(1 + j % 251);
  }
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(4);
  uint64_t written = 0;
  while (written < total) {
    for (uint64_t n = 0; n < kSyncEvery && written < total; n += kWriteBytes) {
      WriteAll(fd, data.data(), data.size(), written, path);
      written += kWriteBytes;
    }
    DataSync(fd, path);
    if (Clock::now() >= deadline) break;
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  ::unlink(path.c_str());
  std::printf(
      "sequential 1 MiB writes, fdatasync every 8 MiB: %8.1f MB/s  "
      "(%llu MiB in %.2f s)\n",
      static_cast<double>(written) / 1e6 / seconds,
      static_cast<unsigned long long>(written >> 20), seconds);
}

}  // namespace

int main(int argc, char** argv) {
  const Flags f = ParseFlags(argc, argv);
  std::string templ = f.dir + "/disk_probe.XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) Die("mkdtemp", templ);
  const std::string dir = templ;
  std::printf("disk_probe in %s\n", dir.c_str());
  for (uint64_t write_bytes : f.write_bytes) {
    SyncLatency(f, write_bytes, dir, Prep::kZeroFilled, "zero-filled");
    SyncLatency(f, write_bytes, dir, Prep::kFallocated, "fallocated");
    SyncLatency(f, write_bytes, dir, Prep::kGrowing, "growing");
  }
  Bandwidth(f, dir);
  if (::rmdir(dir.c_str()) != 0) Die("rmdir", dir);
  return 0;
}
