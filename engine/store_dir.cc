#include "engine/store_dir.h"

#include <filesystem>
#include <mutex>
#include <system_error>

#include "rocksdb/env.h"

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

}  // namespace coffer::internal
