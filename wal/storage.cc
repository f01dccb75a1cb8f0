#include "wal/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace coffer::wal {
namespace {

// Every message names the file (and the offset where there is one), so an
// operator reading a log line knows which disk object failed.
absl::Status ErrnoError(int err, std::string_view what, std::string_view path) {
  return absl::ErrnoToStatus(
      err, absl::StrCat(std::string(what), " ", std::string(path)));
}

absl::Status ErrnoErrorAt(int err, std::string_view what, std::string_view path,
                          uint64_t offset) {
  return absl::ErrnoToStatus(
      err, absl::StrFormat("%s %s at offset %d", what, path, offset));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0) return Closed();
    // pwrite at our own offset: the file may be longer than the data
    // (Preallocate), so O_APPEND or the file size would put it at the wrong
    // place.
    while (!data.empty()) {
      ssize_t n =
          ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(offset_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoErrorAt(errno, "write", path_, offset_);
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrFormat(
            "write %s at offset %d: wrote 0 bytes", path_, offset_));
      }
      offset_ += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    written_ = std::max(written_, offset_);
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return Closed();
    // No EINTR retry loop on purpose: fdatasync is not interrupted by
    // signals on Linux, and retrying after any failure could report success
    // for pages the kernel already dropped.
    if (::fdatasync(fd_) != 0) {
      return ErrnoErrorAt(errno, "fdatasync", path_, offset_);
    }
    return absl::OkStatus();
  }

  absl::Status Preallocate(uint64_t bytes) override {
    if (fd_ < 0) return Closed();
    // posix_fallocate uses fallocate(fd, 0, ...) (a real allocation, file
    // size included) and falls back to writing zeros where the file system
    // lacks it. It returns the error instead of setting errno.
    int err = ::posix_fallocate(fd_, 0, static_cast<off_t>(bytes));
    if (err != 0) {
      return absl::ErrnoToStatus(
          err, absl::StrFormat("fallocate %d bytes for %s", bytes, path_));
    }
    // Zeros over [written_, bytes): see Storage::Preallocate for why.
    static const std::string* const zeros = new std::string(1 << 20, '\0');
    while (written_ < bytes) {
      const size_t chunk = static_cast<size_t>(
          std::min<uint64_t>(zeros->size(), bytes - written_));
      ssize_t n =
          ::pwrite(fd_, zeros->data(), chunk, static_cast<off_t>(written_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoErrorAt(errno, "write zeros to", path_, written_);
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrFormat(
            "write zeros to %s at offset %d: wrote 0 bytes", path_, written_));
      }
      written_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return Closed();
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoError(errno, "close", path_);
    return absl::OkStatus();
  }

 private:
  absl::Status Closed() const {
    return absl::FailedPreconditionError(
        absl::StrCat("file ", path_, " is closed"));
  }

  std::string path_;
  int fd_;
  uint64_t offset_ = 0;   // where the next Append writes
  uint64_t written_ = 0;  // [0, written_) holds data or zeros we wrote
};

// fsync of the directory that holds `path` ("." for a bare name).
absl::Status SyncParentDir(const std::string& path) {
  std::string_view p(path);
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  const size_t slash = p.rfind('/');
  std::string parent = slash == std::string_view::npos ? "."
                       : slash == 0                    ? "/"
                                    : std::string(p.substr(0, slash));
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, "open directory", parent);
  absl::Status status;
  if (::fsync(fd) != 0) status = ErrnoError(errno, "fsync directory", parent);
  ::close(fd);
  return status;
}

class PosixStorageImpl final : public Storage {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError(errno, "open", path);
    return std::make_unique<PosixWritableFile>(path, fd);
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open", path);
    std::string out;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      out.reserve(static_cast<size_t>(st.st_size));
    }
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoErrorAt(err, "read", path, out.size());
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return ErrnoError(errno, "opendir", dir);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* e = ::readdir(d);
      if (e == nullptr) {
        int err = errno;
        ::closedir(d);
        if (err != 0) return ErrnoError(err, "readdir", dir);
        break;
      }
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      names.emplace_back(name);
    }
    return names;
  }

  absl::Status CreateDir(const std::string& dir) override {
    // mkdir -p: create each missing component in turn.
    for (size_t pos = 1; pos <= dir.size(); ++pos) {
      if (pos != dir.size() && dir[pos] != '/') continue;
      std::string prefix = dir.substr(0, pos);
      if (::mkdir(prefix.c_str(), 0755) == 0) {
        // A new directory's entry is durable only once its parent is
        // synced: without this a crash could lose the whole log directory
        // even though every file in it was synced.
        if (absl::Status s = SyncParentDir(prefix); !s.ok()) return s;
      } else if (errno != EEXIST) {
        return ErrnoError(errno, "mkdir", prefix);
      }
    }
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoError(errno, "stat", dir);
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " exists and is not a directory"));
    }
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoError(errno, "rename", absl::StrCat(from, " to ", to));
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return ErrnoError(errno, "unlink", path);
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open directory", dir);
    absl::Status status;
    if (::fsync(fd) != 0) status = ErrnoError(errno, "fsync directory", dir);
    ::close(fd);
    return status;
  }

  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, "stat", path);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status Truncate(const std::string& path, uint64_t size) override {
    // Synced before returning: a repair that cuts off a damaged region must
    // not come back after a crash.
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoError(errno, "open", path);
    absl::Status status;
    if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      status = ErrnoErrorAt(errno, "truncate", path, size);
    } else if (::fsync(fd) != 0) {
      status = ErrnoError(errno, "fsync", path);
    }
    ::close(fd);
    return status;
  }
};

}  // namespace

Storage* PosixStorage() {
  static Storage* const storage = new PosixStorageImpl();
  return storage;
}

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return std::string(dir) + std::string(name);
  return std::string(dir) + "/" + std::string(name);
}

}  // namespace coffer::wal
