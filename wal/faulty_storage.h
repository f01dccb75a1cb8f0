// A Storage wrapper for tests that fails a chosen append or sync, and can
// hold syncs back. It is how the tests prove the two rules the log's
// durability rests on: an I/O error kills the writer for good, and nothing is
// acknowledged before its fdatasync returned.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "wal/storage.h"

namespace coffer::wal {

enum class Fault {
  kNone,
  kFailSync,    // Sync returns EIO without syncing.
  kFailWrite,   // Append returns EIO without writing.
  kNoSpace,     // Append returns ENOSPC without writing.
  kShortWrite,  // Append writes the first half of the bytes, then fails (EIO).
  kFailPreallocate,  // Preallocate returns ENOSPC without allocating.
  kFailSyncDir,      // Storage::SyncDir returns EIO without syncing.
};

// Thread-safe: the counters are atomic and the sync gate has its own mutex,
// so a test thread can watch a writer thread.
class FaultyStorage : public Storage {
 public:
  explicit FaultyStorage(Storage* base);
  ~FaultyStorage() override;

  // Fails the `nth` (1-based) Append (kFailWrite, kNoSpace, kShortWrite),
  // Sync (kFailSync), Preallocate (kFailPreallocate) or SyncDir
  // (kFailSyncDir) counted across all files from this call on, once.
  // Arm(Fault::kNone, 0) disarms.
  void Arm(Fault fault, uint64_t nth);
  // Whether the armed fault has been injected.
  bool fired() const { return fired_.load(); }

  // Calls made through files of this storage since construction (failed ones
  // included).
  uint64_t appends() const { return appends_.load(); }
  uint64_t syncs() const { return syncs_.load(); }

  // While blocked, every WritableFile::Sync waits before it reaches the base
  // file: the data is written but not yet durable.
  void BlockSyncs();
  void UnblockSyncs();
  // Whether some Sync is waiting in BlockSyncs now.
  bool sync_waiting() const;

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    return base_->FileSize(path);
  }

 private:
  friend class FaultyWritableFile;

  // What the file should do for this call: kNone to pass it through.
  Fault OnAppend();
  Fault OnSync();
  Fault OnPreallocate();
  Fault OnSyncDir();
  // Counts this call down if the armed fault is one of `faults` (those of
  // the call's kind); returns the fault when it fires, else kNone.
  Fault Consume(std::initializer_list<Fault> faults);
  void WaitWhileSyncsBlocked();

  Storage* const base_;
  std::atomic<uint64_t> appends_{0};
  std::atomic<uint64_t> syncs_{0};

  std::mutex fault_mu_;
  Fault fault_ = Fault::kNone;  // guarded by fault_mu_
  uint64_t countdown_ = 0;      // guarded by fault_mu_
  std::atomic<bool> fired_{false};

  mutable std::mutex block_mu_;
  std::condition_variable block_cv_;
  bool blocked_ = false;  // guarded by block_mu_
  int waiting_ = 0;       // guarded by block_mu_
};

}  // namespace coffer::wal
