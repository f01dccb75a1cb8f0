#include "engine/backup.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/backup_files.h"
#include "engine/history_store.h"
#include "engine/op_id_index.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"
#include "wal/storage.h"

namespace coffer::internal {
namespace {

namespace fs = std::filesystem;

// A file the backup chose, by seq (a snapshot's, or a segment's first).
struct Chosen {
  uint64_t seq = 0;
  std::string name;
  SourceFile file;  // not open: the file was gone (see OpenSegments)
  bool open = false;
};

// The destination, normalized, once it is known to be usable: absolute,
// absent or an empty directory, its parent an existing directory.
absl::StatusOr<std::string> CheckDestination(const std::string& dir) {
  if (dir.empty() || dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "backup destination '", dir,
        "' is not an absolute path (it is a path on the server's host)"));
  }
  std::string norm = fs::path(dir).lexically_normal().string();
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  if (norm == "/") {
    return absl::InvalidArgumentError("backup destination '/' is the root");
  }
  std::error_code ec;
  const fs::path parent = fs::path(norm).parent_path();
  if (!fs::is_directory(parent, ec)) {
    return absl::FailedPreconditionError(
        absl::StrCat("backup destination's parent ", parent.string(),
                     " is not an existing directory"));
  }
  const fs::file_status st = fs::symlink_status(norm, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backup destination ", norm, " exists and is not a directory"));
    }
    if (!fs::is_empty(norm, ec) || ec) {
      return absl::FailedPreconditionError(absl::StrCat(
          "backup destination ", norm, " exists and is not empty"));
    }
  }
  return norm;
}

// "DIR.tmp-XXXXXX" beside DIR, holding the marker, both durable.
absl::StatusOr<std::string> MakeTempDir(const std::string& dir) {
  std::string name = dir + ".tmp-XXXXXX";
  if (::mkdtemp(name.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("creating ", name));
  }
  const std::string marker = wal::JoinPath(name, kBackupIncompleteMarker);
  std::FILE* f = std::fopen(marker.c_str(), "w");
  absl::Status s;
  if (f == nullptr || std::fclose(f) != 0) {
    s = absl::ErrnoToStatus(errno, absl::StrCat("creating ", marker));
  }
  if (s.ok()) s = SyncTree(name).status();
  if (s.ok()) s = SyncDirectory(fs::path(dir).parent_path().string());
  if (!s.ok()) {
    std::error_code ec;
    fs::remove_all(name, ec);
    return s;
  }
  return name;
}

// The files of `dir` whose names `parse` accepts, sorted by seq, opened
// now. A file gone by the time it is opened is looked for in `also` (the
// archive) and otherwise kept as not open: whether it was needed is
// decided later.
template <typename Parse>
absl::StatusOr<std::vector<Chosen>> OpenFiles(const std::string& dir,
                                              const std::string& also,
                                              Parse parse) {
  auto names = wal::PosixStorage()->ListDir(dir);
  if (!names.ok()) return names.status();
  std::vector<Chosen> out;
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    if (parse(name, &seq)) out.push_back({seq, name, {}, false});
  }
  std::sort(out.begin(), out.end(),
            [](const Chosen& a, const Chosen& b) { return a.seq < b.seq; });
  for (Chosen& c : out) {
    auto f = SourceFile::Open(wal::JoinPath(dir, c.name));
    if (absl::IsNotFound(f.status()) && !also.empty()) {
      f = SourceFile::Open(wal::JoinPath(also, c.name));
    }
    if (absl::IsNotFound(f.status())) continue;
    if (!f.ok()) return f.status();
    c.file = std::move(f).value();
    c.open = true;
  }
  return out;
}

// Copies the newest snapshot that verifies into `temp`; its seq, or 0 if
// there is none. A damaged one is removed from the copy and the next older
// tried, as recovery itself would.
absl::StatusOr<uint64_t> CopyNewestSnapshot(std::vector<Chosen>& snapshots,
                                            const std::string& temp,
                                            const std::atomic<bool>* cancel) {
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    if (!it->open) continue;  // removed before it was opened
    const std::string to = wal::JoinPath(temp, it->name);
    absl::Status s = CopySnapshot(it->file, it->seq, to, cancel);
    if (s.ok()) return it->seq;
    if (!absl::IsDataLoss(s)) return s;
    std::fprintf(stderr, "coffer: backup: skipping damaged snapshot: %s\n",
                 std::string(s.message()).c_str());
    std::error_code ec;
    fs::remove(to, ec);
  }
  return 0;
}

// Copies the segments that hold seqs snapshot_seq + 1 .. durable_seq, the
// last one cut just past durable_seq's record.
absl::Status CopyLog(const std::vector<Chosen>& segments, uint64_t snapshot_seq,
                     uint64_t durable_seq, const std::string& temp,
                     const std::atomic<bool>* cancel) {
  if (durable_seq <= snapshot_seq) return absl::OkStatus();  // nothing after
  // Segment i holds seqs [its first seq, segment i+1's first seq - 1].
  auto starts_after = [&](uint64_t seq) {
    return std::upper_bound(
        segments.begin(), segments.end(), seq,
        [](uint64_t s, const Chosen& c) { return s < c.seq; });
  };
  auto first = starts_after(snapshot_seq + 1);
  auto last = starts_after(durable_seq);
  if (first == segments.begin()) {
    return absl::DataLossError(
        absl::StrCat("no log segment holds seq ", snapshot_seq + 1,
                     " (the first after the snapshot): the log starts later"));
  }
  --first;
  --last;
  for (auto it = first; it <= last; ++it) {
    if (!it->open) {
      return absl::UnavailableError(absl::StrCat(
          "log segment ", it->name,
          " was removed while the backup ran (snapshots were taken "
          "meanwhile); take the backup again"));
    }
    uint64_t bytes = it->file.size();
    if (it == last) {
      auto end = RecordEndOffset(it->file, it->seq, durable_seq, cancel);
      if (!end.ok()) return end.status();
      bytes = *end;
    }
    if (absl::Status s =
            CopyPrefix(it->file, bytes, wal::JoinPath(temp, it->name), cancel);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckpointStores(const BackupSources& sources,
                              const std::string& temp) {
  if (sources.op_id_index != nullptr) {
    if (absl::Status s =
            sources.op_id_index->Checkpoint(wal::JoinPath(temp, "op_ids"));
        !s.ok()) {
      return s;
    }
  }
  if (sources.history_store != nullptr) {
    return sources.history_store->Checkpoint(wal::JoinPath(temp, "history"));
  }
  return absl::OkStatus();
}

// Removes the marker, then renames the synced copy into place, durably.
absl::Status Publish(const std::string& temp, const std::string& dir) {
  const std::string marker = wal::JoinPath(temp, kBackupIncompleteMarker);
  if (std::remove(marker.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("removing ", marker));
  }
  if (absl::Status s = SyncDirectory(temp); !s.ok()) return s;
  // rename(2) replaces an empty directory at `dir` atomically.
  if (std::rename(temp.c_str(), dir.c_str()) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("renaming ", temp, " to ", dir));
  }
  return SyncDirectory(fs::path(dir).parent_path().string());
}

class BackupRun {
 public:
  BackupRun(const BackupSources& sources, const BackupOptions& options)
      : sources_(sources), options_(options) {}

  absl::StatusOr<BackupResult> Run(const std::string& temp,
                                   const std::string& dir) {
    auto snapshots =
        OpenFiles(sources_.data_dir, "", [](std::string_view n, uint64_t* s) {
          return wal::ParseSnapshotFileName(n, s);
        });
    if (!snapshots.ok()) return snapshots.status();
    // The stores after the snapshots were chosen (their cuts are in the
    // past), the durable end after the stores (their covered_seq are at
    // most it), the segments after that (every one up to it exists).
    if (absl::Status s = Step("stores"); !s.ok()) return s;
    if (absl::Status s = CheckpointStores(sources_, temp); !s.ok()) return s;
    const uint64_t durable = sources_.durable_seq();
    auto segments = OpenFiles(sources_.data_dir, sources_.archive_dir,
                              [](std::string_view n, uint64_t* s) {
                                return wal::ParseSegmentFileName(n, s);
                              });
    if (!segments.ok()) return segments.status();
    if (absl::Status s = Step("snapshot"); !s.ok()) return s;
    auto snapshot_seq = CopyNewestSnapshot(*snapshots, temp, options_.cancel);
    if (!snapshot_seq.ok()) return snapshot_seq.status();
    if (absl::Status s = Step("log"); !s.ok()) return s;
    if (absl::Status s =
            CopyLog(*segments, *snapshot_seq, durable, temp, options_.cancel);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Step("sync"); !s.ok()) return s;
    auto usage = SyncTree(temp);
    if (!usage.ok()) return usage.status();
    if (absl::Status s = Step("publish"); !s.ok()) return s;
    if (absl::Status s = Publish(temp, dir); !s.ok()) return s;
    BackupResult r;
    r.dir = dir;
    r.seq = std::max(*snapshot_seq, durable);
    r.snapshot_seq = *snapshot_seq;
    r.files = usage->files - 1;  // not the marker (empty)
    r.bytes = usage->bytes;
    return r;
  }

 private:
  absl::Status Step(std::string_view name) const {
    if (options_.cancel != nullptr &&
        options_.cancel->load(std::memory_order_acquire)) {
      return absl::CancelledError("the backup was cancelled");
    }
    if (options_.before_step) return options_.before_step(name);
    return absl::OkStatus();
  }

  const BackupSources& sources_;
  const BackupOptions& options_;
};

}  // namespace

absl::StatusOr<BackupResult> WriteBackup(const BackupSources& sources,
                                         const BackupOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  auto dir = CheckDestination(options.dir);
  if (!dir.ok()) return dir.status();
  auto temp = MakeTempDir(*dir);
  if (!temp.ok()) return temp.status();
  absl::StatusOr<BackupResult> r = BackupRun(sources, options).Run(*temp, *dir);
  if (!r.ok()) {
    if (!options.keep_temp_on_failure) {
      std::error_code ec;
      fs::remove_all(*temp, ec);
    }
    return absl::Status(
        r.status().code(),
        absl::StrCat("backup to ", *dir, ": ", r.status().message()));
  }
  r->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return r;
}

}  // namespace coffer::internal
