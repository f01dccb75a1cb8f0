// history_store_bench: what the history store (engine/history_store.h)
// costs: per entry added, on disk per entry, and per page read, warm and
// cold.
//
//   history_store_bench [--dir=/tmp] [--accounts=10000]
//                       [--entries_per_account=1000] [--pages=2000]
//                       [--limit=100]
//
// Fills a fresh store with --accounts × --entries_per_account entries in
// batches of kHistoryFeedEntriesMax, the accounts interleaved as a shard's
// ring hands them over. Then reads --pages pages of --limit entries each,
// at a random account and a random cursor:
// - fresh: right after the fill, while RocksDB may still be compacting
//   what came in (as during heavy ingest);
// - warm: after a full compaction (block cache and page cache hold what
//   they hold);
// - cold: the store reopened with a 1 MB block cache, and before each page
//   every table file dropped from the page cache (posix_fadvise DONTNEED),
//   so each page reads the disk.
// Prints the add cost per entry, the disk bytes per entry, and each read's
// p50/p99/max in microseconds. The store lives in a fresh directory under
// --dir, removed at the end.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "engine/history_store.h"
#include "engine/shard.h"
#include "net/program_flags.h"
#include "wal/archive.h"
#include "wal/storage.h"

ABSL_FLAG(std::string, dir, "/tmp", "parent directory of the store");
ABSL_FLAG(uint64_t, accounts, 10'000, "accounts");
ABSL_FLAG(uint64_t, entries_per_account, 1000, "entries of each account");
ABSL_FLAG(uint64_t, pages, 2000, "pages read, warm and cold each");
ABSL_FLAG(uint32_t, limit, 100, "entries per page");

namespace {

using Clock = std::chrono::steady_clock;
using coffer::HistoryEntry;
using coffer::internal::HistoryStore;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void Die(const absl::Status& s) {
  std::fprintf(stderr, "history_store_bench: %s\n",
               std::string(s.message()).c_str());
  std::exit(1);
}

void DropPageCache(const std::string& dir) {
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    const int fd = ::open(f.path().c_str(), O_RDONLY);
    if (fd < 0) continue;
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

void Fill(HistoryStore& store, uint64_t accounts, uint64_t per_account) {
  std::vector<HistoryEntry> batch;
  const auto started = Clock::now();
  for (uint64_t n = 1; n <= per_account; ++n) {
    for (uint64_t a = 1; a <= accounts; ++a) {
      HistoryEntry e;
      e.account_id = a * 0x9E3779B97F4A7C15ull;
      e.number = static_cast<uint32_t>(n);
      e.seq = (n - 1) * accounts + a;
      e.op_id = e.seq * 7919;
      e.amount = 100;
      e.balance_after = static_cast<int64_t>(n * 100);
      e.timestamp_ns = 1'700'000'000'000'000'000ull + e.seq * 1000;
      e.reason = static_cast<uint32_t>(n % 16);
      e.kind = coffer::EntryKind::kCredit;
      batch.push_back(e);
      if (batch.size() == coffer::internal::kHistoryFeedEntriesMax) {
        if (absl::Status s = store.Add(batch); !s.ok()) Die(s);
        batch.clear();
      }
    }
  }
  if (absl::Status s = store.Add(batch); !s.ok()) Die(s);
  const double total = static_cast<double>(accounts * per_account);
  std::printf("add: %.0f entries in %.2f s: %.0f ns per entry\n", total,
              Seconds(started), Seconds(started) * 1e9 / total);
}

void ReadPages(const HistoryStore& store, const std::string& dir,
               const char* name, bool cold) {
  const uint64_t accounts = absl::GetFlag(FLAGS_accounts);
  const uint64_t per_account = absl::GetFlag(FLAGS_entries_per_account);
  const uint32_t limit = absl::GetFlag(FLAGS_limit);
  std::mt19937_64 rng(cold ? 5 : 3);
  std::vector<double> us;
  uint64_t entries = 0;
  for (uint64_t p = 0; p < absl::GetFlag(FLAGS_pages); ++p) {
    const uint64_t account = (rng() % accounts + 1) * 0x9E3779B97F4A7C15ull;
    const auto below = static_cast<uint32_t>(rng() % per_account + 2);
    if (cold) DropPageCache(dir);
    uint32_t got = 0;
    const auto started = Clock::now();
    absl::Status s = store.Read(
        account, below, [&](const HistoryEntry&) { return ++got < limit; });
    us.push_back(Seconds(started) * 1e6);
    if (!s.ok()) Die(s);
    entries += got;
  }
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))];
  };
  std::printf(
      "%s page of up to %u: p50 %.1f us, p99 %.1f us, max %.1f us "
      "(%zu pages, %.1f entries each)\n",
      name, limit, at(0.5), at(0.99), us.back(), us.size(),
      static_cast<double>(entries) / static_cast<double>(us.size()));
}

}  // namespace

int main(int argc, char** argv) {
  coffer::net::ParseProgramFlags(
      argc, argv,
      "Cost of the history store: per entry added, per entry on disk, and "
      "per page read warm and cold.\n"
      "Usage: history_store_bench [--dir=/tmp] [--accounts=N] "
      "[--entries_per_account=N] [--pages=N] [--limit=N]");
  const std::string dir = absl::GetFlag(FLAGS_dir) + "/history_store_bench-" +
                          std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  coffer::internal::HistoryStoreOptions options;
  options.dir = dir;
  {
    auto store = HistoryStore::Open(options);
    if (!store.ok()) Die(store.status());
    Fill(**store, absl::GetFlag(FLAGS_accounts),
         absl::GetFlag(FLAGS_entries_per_account));
    ReadPages(**store, dir, "fresh", /*cold=*/false);
    const auto started = Clock::now();
    if (absl::Status s = (*store)->CompactAll(); !s.ok()) Die(s);
    std::printf("compaction: %.2f s\n", Seconds(started));
    ReadPages(**store, dir, "warm", /*cold=*/false);
  }
  options.block_cache_bytes = 1 << 20;
  {
    auto store = HistoryStore::Open(options);
    if (!store.ok()) Die(store.status());
    ReadPages(**store, dir, "cold", /*cold=*/true);
  }
  auto usage = coffer::wal::MeasureFiles(coffer::wal::PosixStorage(), dir);
  if (usage.ok()) {
    const double total =
        static_cast<double>(absl::GetFlag(FLAGS_accounts) *
                            absl::GetFlag(FLAGS_entries_per_account));
    std::printf("disk: %lu bytes in %lu files: %.1f bytes per entry\n",
                static_cast<unsigned long>(usage->bytes),
                static_cast<unsigned long>(usage->files),
                static_cast<double>(usage->bytes) / total);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
