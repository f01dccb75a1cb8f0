#include "wal/archive.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "wal/log_reader.h"

namespace coffer::wal {
namespace {

struct SizedSegment {
  std::string path;
  uint64_t bytes = 0;
};

// Oldest first; a missing directory is an empty list.
absl::StatusOr<std::vector<SizedSegment>> SizedSegments(
    Storage* storage, const std::string& dir) {
  absl::StatusOr<std::vector<Segment>> segments = ListSegments(storage, dir);
  if (absl::IsNotFound(segments.status())) {
    return std::vector<SizedSegment>{};
  }
  if (!segments.ok()) return segments.status();
  std::vector<SizedSegment> sized;
  sized.reserve(segments->size());
  for (const Segment& s : *segments) {
    absl::StatusOr<uint64_t> bytes = storage->FileSize(s.path);
    if (!bytes.ok()) return bytes.status();
    sized.push_back({s.path, *bytes});
  }
  return sized;
}

}  // namespace

absl::Status PrepareArchive(Storage* storage, const std::string& log_dir,
                            const std::string& archive_dir) {
  if (storage == nullptr) storage = PosixStorage();
  if (absl::Status s = storage->CreateDir(archive_dir); !s.ok()) return s;
  // Not a segment name, so no reader ever takes a leftover for log.
  const std::string name = ".archive-probe";
  const std::string from = JoinPath(log_dir, name);
  const std::string to = JoinPath(archive_dir, name);
  absl::StatusOr<std::unique_ptr<WritableFile>> probe =
      storage->NewWritableFile(from);
  if (!probe.ok()) return probe.status();
  if (absl::Status s = (*probe)->Close(); !s.ok()) return s;
  if (absl::Status s = storage->Rename(from, to); !s.ok()) {
    storage->Remove(from).IgnoreError();
    return absl::FailedPreconditionError(
        absl::StrCat("the log archive ", archive_dir,
                     " must be on the same file system as the log in ", log_dir,
                     " (segments are moved there by rename): ", s.message()));
  }
  return storage->Remove(to);
}

absl::StatusOr<FileUsage> MeasureSegments(Storage* storage,
                                          const std::string& dir) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<SizedSegment>> sized = SizedSegments(storage, dir);
  if (!sized.ok()) return sized.status();
  FileUsage usage;
  for (const SizedSegment& s : *sized) {
    ++usage.files;
    usage.bytes += s.bytes;
  }
  return usage;
}

absl::StatusOr<FileUsage> MeasureFiles(Storage* storage,
                                       const std::string& dir) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (absl::IsNotFound(names.status())) return FileUsage{};
  if (!names.ok()) return names.status();
  FileUsage usage;
  for (const std::string& name : *names) {
    absl::StatusOr<uint64_t> bytes = storage->FileSize(dir + "/" + name);
    if (absl::IsNotFound(bytes.status())) continue;  // removed meanwhile
    if (!bytes.ok()) return bytes.status();
    ++usage.files;
    usage.bytes += *bytes;
  }
  return usage;
}

absl::StatusOr<uint64_t> TrimArchive(Storage* storage,
                                     const std::string& archive_dir,
                                     uint64_t bytes_max) {
  if (bytes_max == 0) return 0;
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<SizedSegment>> sized =
      SizedSegments(storage, archive_dir);
  if (!sized.ok()) return sized.status();
  uint64_t total = 0;
  for (const SizedSegment& s : *sized) total += s.bytes;
  uint64_t removed = 0;
  // Oldest first: what stays is one run of seqs up to the live log.
  for (const SizedSegment& s : *sized) {
    if (total <= bytes_max) break;
    if (absl::Status st = storage->Remove(s.path); !st.ok()) return st;
    total -= s.bytes;
    ++removed;
  }
  if (removed > 0) {
    if (absl::Status st = storage->SyncDir(archive_dir); !st.ok()) return st;
  }
  return removed;
}

}  // namespace coffer::wal
