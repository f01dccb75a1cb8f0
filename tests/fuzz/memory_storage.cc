#include "tests/fuzz/memory_storage.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace coffer::fuzz {
namespace {

class MemoryFile : public wal::WritableFile {
 public:
  MemoryFile(std::map<std::string, std::string>* files, std::string path)
      : files_(files), path_(std::move(path)) {}

  absl::Status Append(std::string_view data) override {
    std::string* f = File();
    if (f == nullptr) return absl::FailedPreconditionError("file closed");
    // Appends at the append offset (after Preallocate the file is longer).
    if (f->size() < offset_ + data.size()) f->resize(offset_ + data.size());
    std::copy(data.begin(), data.end(), f->begin() + offset_);
    offset_ += data.size();
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    return File() == nullptr ? absl::FailedPreconditionError("file closed")
                             : absl::OkStatus();
  }
  absl::Status Preallocate(uint64_t bytes) override {
    std::string* f = File();
    if (f == nullptr) return absl::FailedPreconditionError("file closed");
    // The targets' logs are small; a large preallocation is refused rather
    // than allocated.
    if (bytes > (1u << 20)) return absl::ResourceExhaustedError("too large");
    if (f->size() < bytes) f->resize(bytes, '\0');
    return absl::OkStatus();
  }
  absl::Status Close() override {
    closed_ = true;
    return absl::OkStatus();
  }

 private:
  std::string* File() {
    if (closed_) return nullptr;
    auto it = files_->find(path_);
    return it == files_->end() ? nullptr : &it->second;
  }
  std::map<std::string, std::string>* files_;
  std::string path_;
  uint64_t offset_ = 0;
  bool closed_ = false;
};

// The directory part of `path` ("" for a bare name).
std::string_view DirOf(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view()
                                         : path.substr(0, slash);
}

}  // namespace

void MemoryStorage::Put(const std::string& path, std::string content) {
  files_[path] = std::move(content);
}

absl::StatusOr<std::unique_ptr<wal::WritableFile>>
MemoryStorage::NewWritableFile(const std::string& path) {
  files_[path].clear();
  return std::make_unique<MemoryFile>(&files_, path);
}

absl::StatusOr<std::string> MemoryStorage::ReadFile(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return absl::NotFoundError(path);
  return it->second;
}

absl::StatusOr<std::vector<std::string>> MemoryStorage::ListDir(
    const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& [path, content] : files_) {
    if (DirOf(path) == dir) names.push_back(path.substr(dir.size() + 1));
  }
  // An empty directory and a missing one look alike here; the readers treat
  // both as "nothing there".
  if (names.empty()) return absl::NotFoundError(dir);
  return names;
}

absl::Status MemoryStorage::CreateDir(const std::string&) {
  return absl::OkStatus();
}

absl::Status MemoryStorage::Rename(const std::string& from,
                                   const std::string& to) {
  auto it = files_.find(from);
  if (it == files_.end()) return absl::NotFoundError(from);
  std::string content = std::move(it->second);
  files_.erase(it);
  files_[to] = std::move(content);
  return absl::OkStatus();
}

absl::Status MemoryStorage::Remove(const std::string& path) {
  return files_.erase(path) == 1 ? absl::OkStatus() : absl::NotFoundError(path);
}

absl::StatusOr<uint64_t> MemoryStorage::FileSize(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return absl::NotFoundError(path);
  return static_cast<uint64_t>(it->second.size());
}

absl::Status MemoryStorage::SyncDir(const std::string&) {
  return absl::OkStatus();
}

absl::Status MemoryStorage::Truncate(const std::string& path, uint64_t size) {
  auto it = files_.find(path);
  if (it == files_.end()) return absl::NotFoundError(path);
  if (size > it->second.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("truncate ", path, " to ", size, ": beyond its end"));
  }
  it->second.resize(size);
  return absl::OkStatus();
}

}  // namespace coffer::fuzz
