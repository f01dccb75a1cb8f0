#include "engine/store_dir.h"

#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/assert.h"
#include "engine/config.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/options.h"
#include "rocksdb/rate_limiter.h"
#include "rocksdb/utilities/checkpoint.h"

namespace coffer::internal {

void PrepareStoreDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(kIngestPrefix)) {
      std::filesystem::remove(entry.path(), ec);
    }
  }
}

void LowerCompactionPriority() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Where this is not supported, compactions keep the normal priority.
    rocksdb::Env::Default()
        ->LowerThreadPoolCPUPriority(rocksdb::Env::LOW,
                                     rocksdb::CpuPriority::kLow)
        .PermitUncheckedError();
  });
}

std::shared_ptr<rocksdb::RateLimiter> SharedCompactionWriteLimiter(
    uint64_t bytes_per_s) {
  if (bytes_per_s == 0) return nullptr;
  // EngineConfig::Validate refuses more; RocksDB's rate is signed.
  COFFER_ASSERT(bytes_per_s <= kStoreCompactionWriteBytesPerSMax);
  // Taken when a store opens, never on the money path.
  static std::mutex mu;
  static auto* limiters =
      new std::map<uint64_t, std::shared_ptr<rocksdb::RateLimiter>>();
  std::lock_guard<std::mutex> lock(mu);
  std::shared_ptr<rocksdb::RateLimiter>& limiter = (*limiters)[bytes_per_s];
  if (limiter == nullptr) {
    // Refilled every 100 ms (RocksDB's default), fairness 10; not
    // auto-tuned: auto-tuning raises the rate while compactions are behind,
    // which is when the log needs the disk most.
    limiter.reset(rocksdb::NewGenericRateLimiter(
        static_cast<int64_t>(bytes_per_s), /*refill_period_us=*/100'000,
        /*fairness=*/10, rocksdb::RateLimiter::Mode::kWritesOnly,
        /*auto_tuned=*/false));
  }
  return limiter;
}

void SetSharedStoreOptions(uint64_t compaction_write_bytes_per_s,
                           rocksdb::Options* options) {
  options->max_open_files = kStoreOpenFilesMax;
  options->rate_limiter =
      SharedCompactionWriteLimiter(compaction_write_bytes_per_s);
  options->level0_slowdown_writes_trigger = std::numeric_limits<int>::max();
  options->level0_stop_writes_trigger = std::numeric_limits<int>::max();
  options->soft_pending_compaction_bytes_limit = 0;  // 0: no stall
  options->hard_pending_compaction_bytes_limit = 0;
}

absl::Status CheckpointStore(rocksdb::DB* db, const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db, &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0 asks for a flush first; the stores write no
  // memtable (every write is an ingested table file), so it has nothing to
  // flush and the copy is the table files alone.
  if (s.ok()) s = checkpoint->CreateCheckpoint(dir, 0);
  if (s.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("checkpoint of ", db->GetName(),
                                          " into ", dir, ": ", s.ToString()));
}

}  // namespace coffer::internal
