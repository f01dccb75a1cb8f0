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
//   8  u32 version (1 or 2)
//  12  u32 header_bytes (48)
//  16  u64 seq
//  24  u64 payload_bytes (version 2: 0, the trailer has it)
//  32  u64 payload checksum (XXH3_64bits of the payload; version 2: 0)
//  40  u64 header checksum (XXH3_64bits of bytes 0..39)
constexpr size_t kHeaderChecksummed = 40;

// Version 2 trailer layout, right after the payload:
//   0  magic "COFFSNPT"      8
//   8  u64 payload_bytes
//  16  u64 payload checksum (XXH3_64bits of the payload)
//  24  u64 trailer checksum (XXH3_64bits of bytes 0..23)
constexpr size_t kTrailerChecksummed = 24;

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status Damaged(const std::string& path, uint64_t offset,
                     std::string_view why) {
  return absl::DataLossError(
      absl::StrFormat("%s at offset %d: %s", path, offset, why));
}

std::string EncodeHeader(uint64_t seq) {
  std::string header(kSnapshotHeaderBytes, '\0');
  std::memcpy(header.data(), kSnapshotMagic.data(), kSnapshotMagic.size());
  PutU32(header.data() + 8, kSnapshotVersion2);
  PutU32(header.data() + 12, static_cast<uint32_t>(kSnapshotHeaderBytes));
  PutU64(header.data() + 16, seq);
  // 24 and 32 (payload_bytes and its checksum) stay 0: see the trailer.
  PutU64(header.data() + kHeaderChecksummed,
         XXH3_64bits(header.data(), kHeaderChecksummed));
  return header;
}

std::string EncodeTrailer(uint64_t payload_bytes, uint64_t payload_checksum) {
  std::string trailer(kSnapshotTrailerBytes, '\0');
  std::memcpy(trailer.data(), kSnapshotTrailerMagic.data(),
              kSnapshotTrailerMagic.size());
  PutU64(trailer.data() + 8, payload_bytes);
  PutU64(trailer.data() + 16, payload_checksum);
  PutU64(trailer.data() + kTrailerChecksummed,
         XXH3_64bits(trailer.data(), kTrailerChecksummed));
  return trailer;
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

struct SnapshotFileWriter::Checksum {
  XXH3_state_t state;
};

absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> SnapshotFileWriter::Create(
    Storage* storage, const std::string& dir, uint64_t seq) {
  if (storage == nullptr) storage = PosixStorage();
  if (absl::Status s = storage->CreateDir(dir); !s.ok()) return s;
  std::string path = JoinPath(dir, SnapshotFileName(seq));
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      storage->NewWritableFile(absl::StrCat(path, ".tmp"));
  if (!file.ok()) return file.status();
  std::unique_ptr<SnapshotFileWriter> writer(
      new SnapshotFileWriter(storage, dir, std::move(path), *std::move(file)));
  // On failure the writer's destructor removes the .tmp.
  if (absl::Status s = writer->file_->Append(EncodeHeader(seq)); !s.ok()) {
    return s;
  }
  return writer;
}

SnapshotFileWriter::SnapshotFileWriter(Storage* storage, std::string dir,
                                       std::string path,
                                       std::unique_ptr<WritableFile> file)
    : storage_(storage),
      dir_(std::move(dir)),
      path_(std::move(path)),
      temp_(absl::StrCat(path_, ".tmp")),
      file_(std::move(file)),
      checksum_(std::make_unique<Checksum>()) {
  XXH3_INITSTATE(&checksum_->state);
  XXH3_64bits_reset(&checksum_->state);
}

SnapshotFileWriter::~SnapshotFileWriter() {
  if (!finished_) Discard();
}

absl::Status SnapshotFileWriter::Append(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", path_, " is already finished"));
  }
  if (bytes.empty()) return absl::OkStatus();
  if (absl::Status s = file_->Append(bytes); !s.ok()) return Fail(s);
  XXH3_64bits_update(&checksum_->state, bytes.data(), bytes.size());
  payload_bytes_ += bytes.size();
  return absl::OkStatus();
}

absl::Status SnapshotFileWriter::Finish() {
  if (!failed_.ok()) return failed_;
  if (finished_) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", path_, " is already finished"));
  }
  absl::Status s = file_->Append(
      EncodeTrailer(payload_bytes_, XXH3_64bits_digest(&checksum_->state)));
  if (s.ok()) s = file_->Sync();
  if (s.ok()) {
    s = file_->Close();
    file_.reset();
  }
  if (s.ok()) s = storage_->Rename(temp_, path_);
  if (!s.ok()) return Fail(s);
  temp_exists_ = false;
  // Renamed: from here on the snapshot stays, even if this fails.
  if (s = storage_->SyncDir(dir_); !s.ok()) return Fail(s);
  finished_ = true;
  return absl::OkStatus();
}

absl::Status SnapshotFileWriter::Fail(absl::Status status) {
  failed_ = status;
  Discard();
  return status;
}

void SnapshotFileWriter::Discard() {
  if (file_ != nullptr) {
    file_->Close().IgnoreError();
    file_.reset();
  }
  if (temp_exists_) {
    storage_->Remove(temp_).IgnoreError();
    temp_exists_ = false;
  }
}

absl::Status WriteSnapshotFile(
    Storage* storage, const std::string& dir, uint64_t seq,
    const std::vector<std::string_view>& payload_chunks) {
  absl::StatusOr<std::unique_ptr<SnapshotFileWriter>> writer =
      SnapshotFileWriter::Create(storage, dir, seq);
  if (!writer.ok()) return writer.status();
  for (std::string_view chunk : payload_chunks) {
    if (absl::Status s = (*writer)->Append(chunk); !s.ok()) return s;
  }
  return (*writer)->Finish();
}

namespace {

// Version 1: the header says how long the payload is and its checksum; the
// payload runs to the end of the file.
absl::StatusOr<std::string_view> VerifyV1(const std::string& path,
                                          std::string_view d) {
  const char* p = d.data();
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
  return d.substr(kSnapshotHeaderBytes);
}

// Version 2: the header's payload fields are 0, the trailer (the file's
// last kSnapshotTrailerBytes) has them.
absl::StatusOr<std::string_view> VerifyV2(const std::string& path,
                                          std::string_view d) {
  const char* p = d.data();
  if (GetU64(p + 24) != 0 || GetU64(p + 32) != 0) {
    return Damaged(
        path, 24,
        "nonzero payload fields in a version 2 header (the trailer has "
        "them)");
  }
  constexpr size_t kMinBytes = kSnapshotHeaderBytes + kSnapshotTrailerBytes;
  if (d.size() < kMinBytes) {
    return Damaged(
        path, d.size(),
        absl::StrFormat("file ends inside the %d-byte trailer, which cannot "
                        "start before offset %d",
                        kSnapshotTrailerBytes, kSnapshotHeaderBytes));
  }
  const uint64_t t = d.size() - kSnapshotTrailerBytes;
  const char* tp = p + t;
  if (GetU64(tp + kTrailerChecksummed) !=
      XXH3_64bits(tp, kTrailerChecksummed)) {
    return Damaged(path, t + kTrailerChecksummed, "trailer checksum mismatch");
  }
  if (std::string_view(tp, 8) != kSnapshotTrailerMagic) {
    return Damaged(path, t, "bad trailer magic");
  }
  const uint64_t payload_bytes = GetU64(tp + 8);
  if (payload_bytes != d.size() - kMinBytes) {
    return Damaged(path, t + 8,
                   absl::StrFormat("trailer says %d payload bytes, file has %d",
                                   payload_bytes, d.size() - kMinBytes));
  }
  if (GetU64(tp + 16) != XXH3_64bits(p + kSnapshotHeaderBytes, payload_bytes)) {
    return Damaged(path, kSnapshotHeaderBytes, "payload checksum mismatch");
  }
  return d.substr(kSnapshotHeaderBytes, payload_bytes);
}

}  // namespace

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
  const uint32_t version = GetU32(p + 8);
  if ((version != kSnapshotVersion1 && version != kSnapshotVersion2) ||
      GetU32(p + 12) != kSnapshotHeaderBytes) {
    return Damaged(path, 8,
                   absl::StrFormat("unsupported version %d / header size %d",
                                   version, GetU32(p + 12)));
  }
  absl::StatusOr<std::string_view> payload =
      version == kSnapshotVersion1 ? VerifyV1(path, d) : VerifyV2(path, d);
  if (!payload.ok()) return payload.status();
  SnapshotFile out;
  out.seq = GetU64(p + 16);
  uint64_t name_seq = 0;
  if (ParseSnapshotFileName(BaseName(path), &name_seq) && name_seq != out.seq) {
    return Damaged(path, 16,
                   absl::StrFormat("header says seq %d, file name says %d",
                                   out.seq, name_seq));
  }
  // The payload is data's bytes [48, 48 + size): move them to the front
  // rather than copy the whole snapshot.
  const size_t payload_bytes = payload->size();
  out.payload = *std::move(data);
  out.payload.resize(kSnapshotHeaderBytes + payload_bytes);
  out.payload.erase(0, kSnapshotHeaderBytes);
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
