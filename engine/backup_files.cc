#include "engine/backup_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"

namespace coffer::internal {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  return absl::ErrnoToStatus(e, absl::StrCat(what, " ", path));
}

absl::Status Damaged(const std::string& path, uint64_t offset,
                     absl::string_view why) {
  return absl::DataLossError(
      absl::StrCat(path, " at offset ", offset, ": ", why));
}

bool Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_acquire);
}

absl::Status CancelledError() {
  return absl::CancelledError("the backup was cancelled");
}

// A new file for writing; closed on destruction (without a sync: SyncTree
// syncs the whole copy once).
class NewFile {
 public:
  static absl::StatusOr<NewFile> Create(const std::string& path) {
    NewFile f;
    f.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f.fd_ < 0) return Errno("creating", path);
    f.path_ = path;
    return f;
  }
  NewFile(NewFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
    o.fd_ = -1;
  }
  ~NewFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Write(const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Errno("writing", path_);
      p += w;
      n -= static_cast<size_t>(w);
    }
    return absl::OkStatus();
  }
  absl::Status Close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return Errno("closing", path_);
    return absl::OkStatus();
  }

 private:
  NewFile() = default;
  int fd_ = -1;
  std::string path_;
};

// Copies [0, bytes) of `from` to `to`, handing each chunk to `seen` (with
// its offset) before it is written.
template <typename Seen>
absl::Status CopyWith(const SourceFile& from, uint64_t bytes,
                      const std::string& to, const std::atomic<bool>* cancel,
                      Seen seen) {
  absl::StatusOr<NewFile> out = NewFile::Create(to);
  if (!out.ok()) return out.status();
  std::vector<char> buffer(kCopyChunkBytes);
  for (uint64_t at = 0; at < bytes;) {
    if (Cancelled(cancel)) return CancelledError();
    const uint64_t n = std::min<uint64_t>(kCopyChunkBytes, bytes - at);
    if (absl::Status s = from.ReadAt(at, n, buffer.data()); !s.ok()) return s;
    seen(at, std::string_view(buffer.data(), n));
    if (absl::Status s = out->Write(buffer.data(), n); !s.ok()) return s;
    at += n;
  }
  return out->Close();
}

// The payload's place in snapshot file `f` (already read: its header),
// and the checksum it must have, from the header (version 1) or the
// trailer (version 2).
struct SnapshotLayout {
  uint64_t payload_bytes = 0;
  uint64_t payload_checksum = 0;
};

absl::StatusOr<SnapshotLayout> ReadSnapshotLayout(const SourceFile& f,
                                                  uint64_t seq) {
  using wal::GetU32;
  using wal::GetU64;
  constexpr size_t kHeader = wal::kSnapshotHeaderBytes;
  constexpr size_t kTrailer = wal::kSnapshotTrailerBytes;
  const std::string& path = f.path();
  if (f.size() < kHeader) return Damaged(path, f.size(), "shorter than header");
  char h[kHeader];
  if (absl::Status s = f.ReadAt(0, kHeader, h); !s.ok()) return s;
  if (GetU64(h + 40) != XXH3_64bits(h, 40)) {
    return Damaged(path, 40, "header checksum mismatch");
  }
  const uint32_t version = GetU32(h + 8);
  if (std::string_view(h, 8) != wal::kSnapshotMagic ||
      GetU32(h + 12) != kHeader ||
      (version != wal::kSnapshotVersion1 &&
       version != wal::kSnapshotVersion2)) {
    return Damaged(path, 0, "bad magic, version or header size");
  }
  if (GetU64(h + 16) != seq) {
    return Damaged(path, 16,
                   absl::StrCat("header says seq ", GetU64(h + 16),
                                ", file name says ", seq));
  }
  if (version == wal::kSnapshotVersion1) {
    if (GetU64(h + 24) != f.size() - kHeader) {
      return Damaged(path, 24, "payload length differs from the file's");
    }
    return SnapshotLayout{GetU64(h + 24), GetU64(h + 32)};
  }
  if (f.size() < kHeader + kTrailer) {
    return Damaged(path, f.size(), "shorter than header and trailer");
  }
  char t[kTrailer];
  const uint64_t t_at = f.size() - kTrailer;
  if (absl::Status s = f.ReadAt(t_at, kTrailer, t); !s.ok()) return s;
  if (GetU64(t + 24) != XXH3_64bits(t, 24) ||
      std::string_view(t, 8) != wal::kSnapshotTrailerMagic ||
      GetU64(t + 8) != f.size() - kHeader - kTrailer) {
    return Damaged(path, t_at, "bad trailer");
  }
  return SnapshotLayout{GetU64(t + 8), GetU64(t + 16)};
}

struct HashState {
  HashState() : state(XXH3_createState()) { XXH3_64bits_reset(state); }
  ~HashState() { XXH3_freeState(state); }
  HashState(const HashState&) = delete;
  HashState& operator=(const HashState&) = delete;
  XXH3_state_t* state;
};

}  // namespace

absl::StatusOr<SourceFile> SourceFile::Open(const std::string& path) {
  SourceFile f;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) return Errno("opening", path);
  struct stat st;
  if (::fstat(f.fd_, &st) != 0) return Errno("stat of", path);
  f.size_ = static_cast<uint64_t>(st.st_size);
  f.path_ = path;
  return f;
}

SourceFile::SourceFile(SourceFile&& o) noexcept
    : fd_(o.fd_), size_(o.size_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

SourceFile& SourceFile::operator=(SourceFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

SourceFile::~SourceFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status SourceFile::ReadAt(uint64_t offset, uint64_t n, char* out) const {
  while (n > 0) {
    const ssize_t r = ::pread(fd_, out, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Errno("reading", path_);
    if (r == 0) return Damaged(path_, offset, "file ends early");
    out += r;
    offset += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
  return absl::OkStatus();
}

absl::Status CopyPrefix(const SourceFile& from, uint64_t bytes,
                        const std::string& to,
                        const std::atomic<bool>* cancel) {
  return CopyWith(from, bytes, to, cancel, [](uint64_t, std::string_view) {});
}

absl::Status CopySnapshot(const SourceFile& from, uint64_t seq,
                          const std::string& to,
                          const std::atomic<bool>* cancel) {
  absl::StatusOr<SnapshotLayout> layout = ReadSnapshotLayout(from, seq);
  if (!layout.ok()) return layout.status();
  // The payload is bytes [48, 48 + payload_bytes): hash what of each chunk
  // falls inside, as the copy streams (never the whole file in memory).
  const uint64_t begin = wal::kSnapshotHeaderBytes;
  const uint64_t end = begin + layout->payload_bytes;
  HashState hash;
  absl::Status s = CopyWith(
      from, from.size(), to, cancel, [&](uint64_t at, std::string_view chunk) {
        const uint64_t lo = std::max(at, begin);
        const uint64_t hi = std::min(at + chunk.size(), end);
        if (lo < hi) {
          XXH3_64bits_update(hash.state, chunk.data() + (lo - at), hi - lo);
        }
      });
  if (!s.ok()) return s;
  if (XXH3_64bits_digest(hash.state) != layout->payload_checksum) {
    return Damaged(from.path(), begin, "payload checksum mismatch");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> RecordEndOffset(const SourceFile& segment,
                                         uint64_t first_seq, uint64_t last_seq,
                                         const std::atomic<bool>* cancel) {
  const std::string& path = segment.path();
  uint64_t at = wal::kSegmentHeaderBytes;
  uint64_t expect = first_seq;
  std::vector<char> buffer(kCopyChunkBytes);
  while (expect <= last_seq) {
    if (Cancelled(cancel)) return CancelledError();
    if (segment.size() < at + wal::kRecordHeaderBytes) {
      return Damaged(path, at, absl::StrCat("no record for seq ", expect));
    }
    char header[wal::kRecordHeaderBytes];
    if (absl::Status s = segment.ReadAt(at, sizeof(header), header); !s.ok()) {
      return s;
    }
    const wal::RecordHeader h = wal::DecodeRecordHeader(header);
    const uint64_t room = segment.size() - at - wal::kRecordHeaderBytes;
    if (!wal::PlausibleRecordHeader(h, room) || h.first_seq != expect ||
        h.last_seq > last_seq) {
      return Damaged(path, at,
                     absl::StrCat("no valid record for seq ", expect,
                                  " ending at or before seq ", last_seq));
    }
    // The record checksum hashes the header's first 24 bytes, then the
    // payload: one streaming hash over both.
    HashState hash;
    XXH3_64bits_update(hash.state, header, wal::kRecordHeaderChecksummed);
    for (uint64_t done = 0; done < h.payload_bytes;) {
      const uint64_t n =
          std::min<uint64_t>(buffer.size(), h.payload_bytes - done);
      const uint64_t off = at + wal::kRecordHeaderBytes + done;
      if (absl::Status s = segment.ReadAt(off, n, buffer.data()); !s.ok()) {
        return s;
      }
      XXH3_64bits_update(hash.state, buffer.data(), n);
      done += n;
    }
    if (XXH3_64bits_digest(hash.state) != h.checksum) {
      return Damaged(path, at, "record checksum mismatch");
    }
    at += wal::kRecordHeaderBytes + h.payload_bytes;
    expect = h.last_seq + 1;
  }
  return at;
}

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("opening directory", dir);
  const int rc = ::fsync(fd);
  const int e = errno;
  ::close(fd);
  if (rc != 0) {
    errno = e;
    return Errno("syncing directory", dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<TreeUsage> SyncTree(const std::string& dir) {
  TreeUsage usage;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string path = entry.path().string();
    if (entry.is_directory(ec)) {
      absl::StatusOr<TreeUsage> sub = SyncTree(path);
      if (!sub.ok()) return sub.status();
      usage.files += sub->files;
      usage.bytes += sub->bytes;
      continue;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("opening", path);
    struct stat st;
    const int rc = ::fstat(fd, &st) == 0 ? ::fsync(fd) : -1;
    const int e = errno;
    ::close(fd);
    if (rc != 0) {
      errno = e;
      return Errno("syncing", path);
    }
    ++usage.files;
    usage.bytes += static_cast<uint64_t>(st.st_size);
  }
  if (ec)
    return absl::InternalError(
        absl::StrCat("listing ", dir, ": ", ec.message()));
  if (absl::Status s = SyncDirectory(dir); !s.ok()) return s;
  return usage;
}

}  // namespace coffer::internal
