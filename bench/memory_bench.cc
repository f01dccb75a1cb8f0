// Resident memory per account in one shard (not a Google Benchmark loop).
//
//   build/release/bench/memory_bench [accounts=10000000] [batch=4096]
//
// Builds a single Shard (history_entries_per_shard_max = 0, so only the
// account state is measured), reads VmRSS from /proc/self/status, creates
// `accounts` accounts (ids 1..N) with create_account ops through
// Shard::ApplyInline in batches, and prints the RSS growth per account,
// with progress every 1M accounts. The request buffers are allocated and
// touched before the first reading so that they are not counted.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "engine/config.h"
#include "engine/request.h"
#include "engine/shard.h"
#include "engine/types.h"

namespace {

// A /proc/self/status field in kB (VmRSS, VmHWM), or -1.
long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t accounts =
      argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10'000'000;
  const uint64_t batch = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 4096;
  if (accounts == 0 || batch == 0) {
    std::fprintf(stderr, "usage: memory_bench [accounts] [batch]\n");
    return 2;
  }

  coffer::EngineConfig config;
  config.shard_count = 1;
  config.history_entries_per_shard_max = 0;
  coffer::internal::Shard shard(0, 1, config);

  coffer::Request r;
  r.ops.resize(batch);
  r.results.resize(batch);
  for (coffer::Op& op : r.ops) {
    op.kind = coffer::OpKind::kCreateAccount;
    op.currency = 1;
  }

  const long rss_before_kb = StatusKb("VmRSS");
  std::printf("accounts=%llu batch=%llu sizeof(AccountState)=%zu\n",
              static_cast<unsigned long long>(accounts),
              static_cast<unsigned long long>(batch),
              sizeof(coffer::internal::AccountState));
  std::printf("VmRSS before: %ld kB\n", rss_before_kb);
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  uint64_t next_id = 1, op_id = 1, seq = 1, failed = 0;
  uint64_t next_report = 1'000'000;
  while (next_id <= accounts) {
    const uint64_t n = std::min<uint64_t>(batch, accounts - next_id + 1);
    r.ops.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      r.ops[i].op_id = op_id++;
      r.ops[i].account_id = next_id++;
    }
    shard.ApplyInline(&r, seq, 1'000'000'000 + seq);
    seq += n;
    for (uint64_t i = 0; i < n; ++i) failed += !r.results[i].ok();
    const uint64_t created = next_id - 1;
    if (created >= next_report || created == accounts) {
      const long rss = StatusKb("VmRSS");
      std::printf(
          "  %10llu accounts  VmRSS %8ld kB  +%8ld kB  %6.1f bytes/account\n",
          static_cast<unsigned long long>(created), rss, rss - rss_before_kb,
          (rss - rss_before_kb) * 1024.0 / static_cast<double>(created));
      std::fflush(stdout);
      while (next_report <= created) next_report += 1'000'000;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const long rss_after_kb = StatusKb("VmRSS");
  const long hwm_kb = StatusKb("VmHWM");
  const double per_account =
      (rss_after_kb - rss_before_kb) * 1024.0 / static_cast<double>(accounts);
  std::printf("VmRSS after:  %ld kB (peak VmHWM %ld kB)\n", rss_after_kb,
              hwm_kb);
  std::printf("bytes/account: %.1f (peak: %.1f)  target <= 96: %s\n",
              per_account,
              (hwm_kb - rss_before_kb) * 1024.0 / static_cast<double>(accounts),
              per_account <= 96.0 ? "met" : "MISSED");
  std::printf("created in %.2f s (%.2f M accounts/s), failed ops: %llu\n", secs,
              static_cast<double>(accounts) / secs / 1e6,
              static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}
