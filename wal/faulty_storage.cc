#include "wal/faulty_storage.h"

#include <errno.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace coffer::wal {

class FaultyWritableFile final : public WritableFile {
 public:
  FaultyWritableFile(FaultyStorage* owner, std::string path,
                     std::unique_ptr<WritableFile> base)
      : owner_(owner), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(std::string_view data) override {
    switch (owner_->OnAppend()) {
      case Fault::kFailWrite:
        return Injected(EIO, "write", data.size());
      case Fault::kNoSpace:
        return Injected(ENOSPC, "write", data.size());
      case Fault::kShortWrite: {
        // What a full disk or a dying device does to a large write: part of
        // it lands, then the call fails.
        size_t half = data.size() / 2;
        absl::Status s = base_->Append(data.substr(0, half));
        if (!s.ok()) return s;
        offset_ += half;
        return absl::ErrnoToStatus(
            EIO, absl::StrFormat("injected short write to %s at offset %d: "
                                 "wrote %d of %d bytes",
                                 path_, offset_ - half, half, data.size()));
      }
      default:
        break;
    }
    absl::Status s = base_->Append(data);
    if (s.ok()) offset_ += data.size();
    return s;
  }

  absl::Status Sync() override {
    owner_->WaitWhileSyncsBlocked();
    if (owner_->OnSync() == Fault::kFailSync) {
      return Injected(EIO, "fdatasync", 0);
    }
    return base_->Sync();
  }

  absl::Status Preallocate(uint64_t bytes) override {
    if (owner_->OnPreallocate() == Fault::kFailPreallocate) {
      return Injected(ENOSPC, "fallocate", bytes);
    }
    return base_->Preallocate(bytes);
  }
  absl::Status Close() override { return base_->Close(); }

 private:
  absl::Status Injected(int err, const char* what, size_t bytes) {
    return absl::ErrnoToStatus(
        err,
        absl::StrFormat("injected %s failure on %s at offset %d (%d bytes)",
                        what, path_, offset_, bytes));
  }

  FaultyStorage* const owner_;
  const std::string path_;
  std::unique_ptr<WritableFile> base_;
  uint64_t offset_ = 0;
};

FaultyStorage::FaultyStorage(Storage* base) : base_(base) {}

FaultyStorage::~FaultyStorage() { UnblockSyncs(); }

void FaultyStorage::Arm(Fault fault, uint64_t nth) {
  std::lock_guard<std::mutex> lock(fault_mu_);
  fault_ = fault;
  countdown_ = nth;
  fired_.store(false);
}

Fault FaultyStorage::Consume(std::initializer_list<Fault> faults) {
  std::lock_guard<std::mutex> lock(fault_mu_);
  if (fault_ == Fault::kNone ||
      std::find(faults.begin(), faults.end(), fault_) == faults.end()) {
    return Fault::kNone;
  }
  if (countdown_ == 0 || --countdown_ != 0) return Fault::kNone;
  Fault f = fault_;
  fault_ = Fault::kNone;
  fired_.store(true);
  return f;
}

Fault FaultyStorage::OnAppend() {
  appends_.fetch_add(1);
  return Consume({Fault::kFailWrite, Fault::kNoSpace, Fault::kShortWrite});
}

Fault FaultyStorage::OnSync() {
  syncs_.fetch_add(1);
  return Consume({Fault::kFailSync});
}

Fault FaultyStorage::OnPreallocate() {
  return Consume({Fault::kFailPreallocate});
}

Fault FaultyStorage::OnSyncDir() { return Consume({Fault::kFailSyncDir}); }

void FaultyStorage::BlockSyncs() {
  std::lock_guard<std::mutex> lock(block_mu_);
  blocked_ = true;
}

void FaultyStorage::UnblockSyncs() {
  {
    std::lock_guard<std::mutex> lock(block_mu_);
    blocked_ = false;
  }
  block_cv_.notify_all();
}

bool FaultyStorage::sync_waiting() const {
  std::lock_guard<std::mutex> lock(block_mu_);
  return waiting_ > 0;
}

void FaultyStorage::WaitWhileSyncsBlocked() {
  std::unique_lock<std::mutex> lock(block_mu_);
  if (!blocked_) return;
  ++waiting_;
  block_cv_.wait(lock, [this] { return !blocked_; });
  --waiting_;
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultyStorage::NewWritableFile(
    const std::string& path) {
  absl::StatusOr<std::unique_ptr<WritableFile>> base =
      base_->NewWritableFile(path);
  if (!base.ok()) return base.status();
  return std::unique_ptr<WritableFile>(
      new FaultyWritableFile(this, path, *std::move(base)));
}

absl::StatusOr<std::string> FaultyStorage::ReadFile(const std::string& path) {
  return base_->ReadFile(path);
}
absl::StatusOr<std::vector<std::string>> FaultyStorage::ListDir(
    const std::string& dir) {
  return base_->ListDir(dir);
}
absl::Status FaultyStorage::CreateDir(const std::string& dir) {
  return base_->CreateDir(dir);
}
absl::Status FaultyStorage::Rename(const std::string& from,
                                   const std::string& to) {
  return base_->Rename(from, to);
}
absl::Status FaultyStorage::Remove(const std::string& path) {
  return base_->Remove(path);
}
absl::Status FaultyStorage::SyncDir(const std::string& dir) {
  if (OnSyncDir() == Fault::kFailSyncDir) {
    return absl::ErrnoToStatus(
        EIO, absl::StrFormat("injected fsync failure on directory %s", dir));
  }
  return base_->SyncDir(dir);
}
absl::Status FaultyStorage::Truncate(const std::string& path, uint64_t size) {
  return base_->Truncate(path, size);
}

}  // namespace coffer::wal
