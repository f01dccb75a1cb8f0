#include "engine/store_dir.h"

#include <filesystem>
#include <system_error>

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

}  // namespace coffer::internal
