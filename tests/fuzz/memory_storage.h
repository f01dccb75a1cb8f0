// An in-memory wal::Storage for the fuzz targets: files are strings keyed
// by path, so a target can hand the real readers a log or snapshot
// directory built from its input without touching the disk (fast, and
// nothing is left behind). Syncs do nothing. Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wal/storage.h"

namespace coffer::fuzz {

class MemoryStorage : public wal::Storage {
 public:
  // Creates or replaces a file; its directory need not be created first.
  void Put(const std::string& path, std::string content);
  const std::map<std::string, std::string>& files() const { return files_; }

  absl::StatusOr<std::unique_ptr<wal::WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override;

 private:
  std::map<std::string, std::string> files_;
};

}  // namespace coffer::fuzz
