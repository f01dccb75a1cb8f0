#include "wal/snapshot_file.h"

// For XXH3_state_t on the stack.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wal/format.h"

namespace coffer::wal {
namespace {

// Header layout (little-endian), see FORMAT.md:
//   0  magic "COFFSNP1"      8
//   8  u32 version (1)
//  12  u32 header_bytes (48)
//  16  u64 seq
//  24  u64 payload_bytes
//  32  u64 payload checksum (XXH3_64bits of the payload)
//  40  u64 header checksum (XXH3_64bits of bytes 0..39)
constexpr size_t kHeaderChecksummed = 40;

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status Damaged(const std::string& path, uint64_t offset,
                     std::string_view why) {
  return absl::DataLossError(
      absl::StrFormat("%s at offset %d: %s", path, offset, why));
}

}  // namespace

std::string SnapshotFileName(uint64_t seq) {
  return absl::StrFormat("snap-%020d.snap", seq);
}

bool ParseSnapshotFileName(std::string_view name, uint64_t* seq) {
  constexpr std::string_view kPrefix = "snap-";
  constexpr std::string_view kSuffix = ".snap";
  if (name.size() != kPrefix.size() + 20 + kSuffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  uint64_t v = 0;
  for (char c : name.substr(kPrefix.size(), 20)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *seq = v;
  return true;
}

absl::Status WriteSnapshotFile(
    Storage* storage, const std::string& dir, uint64_t seq,
    const std::vector<std::string_view>& payload_chunks) {
  if (storage == nullptr) storage = PosixStorage();
  if (absl::Status s = storage->CreateDir(dir); !s.ok()) return s;

  uint64_t payload_bytes = 0;
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_64bits_reset(&state);
  for (std::string_view chunk : payload_chunks) {
    payload_bytes += chunk.size();
    XXH3_64bits_update(&state, chunk.data(), chunk.size());
  }
  std::string header(kSnapshotHeaderBytes, '\0');
  std::memcpy(header.data(), kSnapshotMagic.data(), kSnapshotMagic.size());
  PutU32(header.data() + 8, kSnapshotVersion);
  PutU32(header.data() + 12, static_cast<uint32_t>(kSnapshotHeaderBytes));
  PutU64(header.data() + 16, seq);
  PutU64(header.data() + 24, payload_bytes);
  PutU64(header.data() + 32, XXH3_64bits_digest(&state));
  PutU64(header.data() + kHeaderChecksummed,
         XXH3_64bits(header.data(), kHeaderChecksummed));

  const std::string path = JoinPath(dir, SnapshotFileName(seq));
  const std::string temp = absl::StrCat(path, ".tmp");
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      storage->NewWritableFile(temp);
  if (!file.ok()) return file.status();
  absl::Status s = (*file)->Append(header);
  for (std::string_view chunk : payload_chunks) {
    if (!s.ok()) break;
    if (!chunk.empty()) s = (*file)->Append(chunk);
  }
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = storage->Rename(temp, path);
  if (!s.ok()) {
    (*file)->Close().IgnoreError();
    storage->Remove(temp).IgnoreError();
    return s;
  }
  return storage->SyncDir(dir);
}

absl::StatusOr<SnapshotFile> ReadSnapshotFile(Storage* storage,
                                              const std::string& path) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::string> data = storage->ReadFile(path);
  if (!data.ok()) return data.status();
  const std::string& d = *data;
  if (d.size() < kSnapshotHeaderBytes) {
    return Damaged(path, d.size(),
                   absl::StrFormat("file ends inside the %d-byte header",
                                   kSnapshotHeaderBytes));
  }
  const char* p = d.data();
  if (GetU64(p + kHeaderChecksummed) != XXH3_64bits(p, kHeaderChecksummed)) {
    return Damaged(path, kHeaderChecksummed, "header checksum mismatch");
  }
  if (std::string_view(p, 8) != kSnapshotMagic) {
    return Damaged(path, 0, "bad magic");
  }
  if (GetU32(p + 8) != kSnapshotVersion ||
      GetU32(p + 12) != kSnapshotHeaderBytes) {
    return Damaged(path, 8,
                   absl::StrFormat("unsupported version %d / header size %d",
                                   GetU32(p + 8), GetU32(p + 12)));
  }
  SnapshotFile out;
  out.seq = GetU64(p + 16);
  const uint64_t payload_bytes = GetU64(p + 24);
  if (payload_bytes != d.size() - kSnapshotHeaderBytes) {
    return Damaged(
        path,
        std::min<uint64_t>(d.size(), kSnapshotHeaderBytes + payload_bytes),
        absl::StrFormat("header says %d payload bytes, file has %d",
                        payload_bytes, d.size() - kSnapshotHeaderBytes));
  }
  if (GetU64(p + 32) != XXH3_64bits(p + kSnapshotHeaderBytes, payload_bytes)) {
    return Damaged(path, kSnapshotHeaderBytes, "payload checksum mismatch");
  }
  uint64_t name_seq = 0;
  if (ParseSnapshotFileName(BaseName(path), &name_seq) && name_seq != out.seq) {
    return Damaged(path, 16,
                   absl::StrFormat("header says seq %d, file name says %d",
                                   out.seq, name_seq));
  }
  out.payload = d.substr(kSnapshotHeaderBytes);
  out.path = path;
  return out;
}

absl::StatusOr<SnapshotFile> ReadNewestSnapshot(
    Storage* storage, const std::string& dir,
    std::vector<std::string>* skipped) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (!names.ok()) {
    if (absl::IsNotFound(names.status())) {
      return absl::NotFoundError(absl::StrCat("no snapshot in ", dir));
    }
    return names.status();
  }
  std::vector<std::pair<uint64_t, std::string>> snaps;
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    if (ParseSnapshotFileName(name, &seq)) snaps.emplace_back(seq, name);
  }
  std::sort(snaps.begin(), snaps.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [seq, name] : snaps) {
    std::string path = JoinPath(dir, name);
    absl::StatusOr<SnapshotFile> snap = ReadSnapshotFile(storage, path);
    if (snap.ok()) return snap;
    if (!absl::IsDataLoss(snap.status())) return snap.status();
    if (skipped != nullptr) skipped->push_back(path);
  }
  return absl::NotFoundError(absl::StrCat(
      "no valid snapshot in ", dir,
      snaps.empty() ? "" : absl::StrFormat(" (%d damaged)", snaps.size())));
}

namespace {

// The seq of snapshot file `name` ("snap-<seq>.snap" or its ".tmp").
bool ParseSnapshotOrTempName(std::string_view name, uint64_t* seq) {
  constexpr std::string_view kTempSuffix = ".tmp";
  if (name.size() > kTempSuffix.size() &&
      name.substr(name.size() - kTempSuffix.size()) == kTempSuffix) {
    name.remove_suffix(kTempSuffix.size());
  }
  return ParseSnapshotFileName(name, seq);
}

}  // namespace

absl::StatusOr<FileUsage> MeasureSnapshots(Storage* storage,
                                           const std::string& dir) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (!names.ok()) {
    if (absl::IsNotFound(names.status())) return FileUsage{};
    return names.status();
  }
  FileUsage usage;
  for (const std::string& name : *names) {
    uint64_t seq = 0;
    if (!ParseSnapshotOrTempName(name, &seq)) continue;
    absl::StatusOr<uint64_t> bytes = storage->FileSize(JoinPath(dir, name));
    if (absl::IsNotFound(bytes.status())) continue;  // removed meanwhile
    if (!bytes.ok()) return bytes.status();
    ++usage.files;
    usage.bytes += *bytes;
  }
  return usage;
}

absl::Status RemoveSnapshotsBefore(Storage* storage, const std::string& dir,
                                   uint64_t seq) {
  if (storage == nullptr) storage = PosixStorage();
  absl::StatusOr<std::vector<std::string>> names = storage->ListDir(dir);
  if (!names.ok()) {
    if (absl::IsNotFound(names.status())) return absl::OkStatus();
    return names.status();
  }
  absl::Status first_error;
  int removed = 0;
  for (const std::string& name : *names) {
    uint64_t snap_seq = 0;
    if (!ParseSnapshotOrTempName(name, &snap_seq) || snap_seq >= seq) {
      continue;
    }
    absl::Status s = storage->Remove(JoinPath(dir, name));
    // Already gone (a concurrent cleanup) is what we wanted.
    if (s.ok() || absl::IsNotFound(s)) {
      ++removed;
    } else if (first_error.ok()) {
      first_error = s;
    }
  }
  // Removals are not durable until the directory is synced; a removal that
  // is lost in a crash only leaves an old file for the next call.
  if (removed > 0) {
    if (absl::Status s = storage->SyncDir(dir); !s.ok() && first_error.ok()) {
      first_error = s;
    }
  }
  return first_error;
}

}  // namespace coffer::wal
