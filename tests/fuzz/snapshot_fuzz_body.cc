// The snapshot reader: wal::ReadSnapshotFile and ReadNewestSnapshot over a
// file made from the input in an in-memory Storage, then the engine's
// DecodeSnapshot on the payload. Both file versions (1: the header carries
// payload_bytes and the payload checksum; 2: zeros there and a 32-byte
// trailer after the payload, wal/FORMAT.md) and both payload versions (1:
// four count-prefixed sections; 2: blocks ending with an end block,
// engine/snapshot_codec.h) are read.
//
// Input: one flags byte, then the snapshot file. The file is named after
// the seq in its header (bytes 16..23), as the writer names it.
//
// Flags bit 0 ("fix"): first make the framing agree with the bytes, as the
// file's version (header bytes 8..11) needs, so that mutations reach the
// payload decoder instead of dying at a length or checksum:
//   version 2: the header's payload fields zeroed and its checksum
//     recomputed; when the file has room for a trailer (at least 80 bytes)
//     its last 32 bytes are rewritten as the trailer of bytes [48, size-32):
//     magic, payload_bytes, payload checksum, trailer checksum.
//   any other version: as version 1: payload_bytes = size - 48, the payload
//     checksum of bytes [48, size), the header checksum.
// Magic, version and header size are left as they are (so that damage to
// them still reaches those checks). Bit 1, with bit 0 and version 2: keep
// the input's trailer magic too.
//
// Properties:
//  - ReadNewestSnapshot agrees with ReadSnapshotFile; a refusal is
//    DataLoss and the file is reported skipped.
//  - The reader accepts exactly the files that are well formed by
//    FORMAT.md's rules (written again below, independently of the reader),
//    and then returns the seq of the header and the payload those rules
//    give: version 1 file[48, size), version 2 file[48, size - 32). A file
//    the fix made consistent is accepted.
//  - A payload that does not decode is DataLoss. One that decodes had no
//    byte that is not a header, count, block header or record (version 1:
//    exactly its records' bytes; version 2: its records plus 16-byte block
//    headers, ending with an empty end block).
//  - What decodes re-encodes as version 1 (SnapshotEncoder, the canonical
//    form) to bytes that decode to the same records and re-encode
//    identically; re-encoded as version 2 (SnapshotHeaderV2 and one
//    SnapshotBlockBuilder block per kind, then the end block) it decodes to
//    the same records too, and re-encodes identically.
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/snapshot_codec.h"
#include "tests/fuzz/fuzz_bodies.h"
#include "tests/fuzz/memory_storage.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"
#include "xxhash.h"

namespace coffer::fuzz {
namespace {

using internal::SnapshotBlockBuilder;
using internal::SnapshotBlockKind;

constexpr char kDir[] = "/fuzz/snap";
constexpr size_t kHeader = wal::kSnapshotHeaderBytes;    // 48
constexpr size_t kTrailer = wal::kSnapshotTrailerBytes;  // 32
constexpr size_t kHeaderChecksummed = 40;
constexpr size_t kTrailerChecksummed = 24;
constexpr size_t kPayloadHeader = 24;  // u32 version, u32, u64 seq, u64 ts
constexpr size_t kBlockHeader = 16;    // u32 kind, u32 source, u64 n
constexpr size_t kV1Counts = 4 * 8;    // the four sections' counts
constexpr uint32_t kPayloadVersion1 = 1;

struct Decoded {
  uint64_t seq = 0;
  uint64_t last_timestamp_ns = 0;
  std::vector<internal::SnapshotAccount> accounts;
  std::vector<internal::SnapshotHold> holds;
  std::vector<HistoryEntry> history;
  std::vector<internal::OpIdTable::Record> op_ids;
};

absl::Status Decode(std::string_view payload, Decoded* d) {
  internal::SnapshotVisitor v;
  v.header = [&](uint64_t seq, uint64_t ts) {
    d->seq = seq;
    d->last_timestamp_ns = ts;
  };
  v.account = [&](const internal::SnapshotAccount& a) {
    d->accounts.push_back(a);
  };
  v.hold = [&](const internal::SnapshotHold& h) { d->holds.push_back(h); };
  v.history = [&](const HistoryEntry& e) { d->history.push_back(e); };
  v.op_id = [&](const internal::OpIdTable::Record& r) {
    d->op_ids.push_back(r);
  };
  return internal::DecodeSnapshot(payload, v);
}

// Payload version 1, the canonical form the round trip compares.
std::string EncodeV1(const Decoded& d) {
  internal::SnapshotEncoder out(d.seq, d.last_timestamp_ns);
  out.BeginSection();
  for (const auto& a : d.accounts) out.Account(a);
  out.EndSection();
  out.BeginSection();
  for (const auto& h : d.holds) out.Hold(h);
  out.EndSection();
  out.BeginSection();
  for (const auto& e : d.history) out.History(e);
  out.EndSection();
  out.BeginSection();
  for (const auto& r : d.op_ids) out.OpId(r);
  out.EndSection();
  return out.bytes();
}

// Payload version 2: one block per kind (from made-up sources), then the
// end block.
std::string EncodeV2(const Decoded& d) {
  std::string out = internal::SnapshotHeaderV2(d.seq, d.last_timestamp_ns);
  SnapshotBlockBuilder accounts(SnapshotBlockKind::kAccounts, 0);
  for (const auto& a : d.accounts) accounts.Account(a);
  out += accounts.Take();
  SnapshotBlockBuilder holds(SnapshotBlockKind::kHolds, 1);
  for (const auto& h : d.holds) holds.Hold(h);
  out += holds.Take();
  SnapshotBlockBuilder history(SnapshotBlockKind::kHistory, 0);
  for (const auto& e : d.history) history.History(e);
  out += history.Take();
  SnapshotBlockBuilder op_ids(SnapshotBlockKind::kOpIds,
                              internal::kSnapshotSourceSequencer);
  for (const auto& r : d.op_ids) op_ids.OpId(r);
  out += op_ids.Take();
  out += SnapshotBlockBuilder(SnapshotBlockKind::kEnd,
                              internal::kSnapshotSourceSequencer)
             .Take();
  return out;
}

uint32_t FileVersion(std::string_view file) {
  return file.size() >= 12 ? wal::GetU32(file.data() + 8) : 0;
}

uint64_t Hash(std::string_view bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

void Fix(std::string& file, bool keep_trailer_magic) {
  if (file.size() < kHeader) return;
  char* p = file.data();
  if (FileVersion(file) == wal::kSnapshotVersion2) {
    wal::PutU64(p + 24, 0);
    wal::PutU64(p + 32, 0);
    if (file.size() >= kHeader + kTrailer) {
      const size_t payload_bytes = file.size() - kHeader - kTrailer;
      char* t = p + kHeader + payload_bytes;
      if (!keep_trailer_magic) {
        std::memcpy(t, wal::kSnapshotTrailerMagic.data(), 8);
      }
      wal::PutU64(t + 8, payload_bytes);
      wal::PutU64(t + 16, XXH3_64bits(p + kHeader, payload_bytes));
      wal::PutU64(t + kTrailerChecksummed, XXH3_64bits(t, kTrailerChecksummed));
    }
  } else {
    const size_t payload_bytes = file.size() - kHeader;
    wal::PutU64(p + 24, payload_bytes);
    wal::PutU64(p + 32, XXH3_64bits(p + kHeader, payload_bytes));
  }
  wal::PutU64(p + kHeaderChecksummed, XXH3_64bits(p, kHeaderChecksummed));
}

// FORMAT.md ("Snapshot file"), independently of wal/snapshot_file.cc: the
// payload of `f` if it is a well-formed version 1 or 2 snapshot file (its
// name always agrees with its seq here).
std::optional<std::string_view> WellFormedPayload(std::string_view f) {
  if (f.size() < kHeader) return std::nullopt;
  const char* p = f.data();
  if (f.substr(0, 8) != wal::kSnapshotMagic ||
      wal::GetU64(p + kHeaderChecksummed) !=
          Hash(f.substr(0, kHeaderChecksummed)) ||
      wal::GetU32(p + 12) != kHeader) {
    return std::nullopt;
  }
  switch (wal::GetU32(p + 8)) {
    case wal::kSnapshotVersion1: {
      const std::string_view payload = f.substr(kHeader);
      if (wal::GetU64(p + 24) != payload.size() ||
          wal::GetU64(p + 32) != Hash(payload)) {
        return std::nullopt;
      }
      return payload;
    }
    case wal::kSnapshotVersion2: {
      if (wal::GetU64(p + 24) != 0 || wal::GetU64(p + 32) != 0 ||
          f.size() < kHeader + kTrailer) {
        return std::nullopt;
      }
      const std::string_view payload =
          f.substr(kHeader, f.size() - kHeader - kTrailer);
      const std::string_view trailer = f.substr(f.size() - kTrailer);
      const char* t = trailer.data();
      if (trailer.substr(0, 8) != wal::kSnapshotTrailerMagic ||
          wal::GetU64(t + 8) != payload.size() ||
          wal::GetU64(t + 16) != Hash(payload) ||
          wal::GetU64(t + kTrailerChecksummed) !=
              Hash(trailer.substr(0, kTrailerChecksummed))) {
        return std::nullopt;
      }
      return payload;
    }
    default:
      return std::nullopt;
  }
}

// What Fix cannot repair: magic, version, header size, a version 2 file
// too short for a trailer, or a trailer magic it was told to keep.
bool Fixable(std::string_view f, bool keep_trailer_magic) {
  if (f.size() < kHeader || f.substr(0, 8) != wal::kSnapshotMagic ||
      wal::GetU32(f.data() + 12) != kHeader) {
    return false;
  }
  switch (FileVersion(f)) {
    case wal::kSnapshotVersion1:
      return true;
    case wal::kSnapshotVersion2:
      return f.size() >= kHeader + kTrailer &&
             (!keep_trailer_magic ||
              f.substr(f.size() - kTrailer, 8) == wal::kSnapshotTrailerMagic);
    default:
      return false;
  }
}

// The payload's records, as its canonical (version 1) bytes count them.
size_t RecordBytes(const std::string& canonical) {
  return canonical.size() - kPayloadHeader - kV1Counts;
}

bool SameCounts(const Decoded& a, const Decoded& b) {
  return a.seq == b.seq && a.last_timestamp_ns == b.last_timestamp_ns &&
         a.accounts.size() == b.accounts.size() &&
         a.holds.size() == b.holds.size() &&
         a.history.size() == b.history.size() &&
         a.op_ids.size() == b.op_ids.size();
}

}  // namespace

void FuzzSnapshot(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const bool fix = (data[0] & 1) != 0;
  const bool keep_trailer_magic = (data[0] & 2) != 0;
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
  if (fix) Fix(file, keep_trailer_magic);
  const uint64_t name_seq = file.size() >= 24 ? wal::GetU64(&file[16]) : 0;
  const std::string path = wal::JoinPath(kDir, wal::SnapshotFileName(name_seq));
  MemoryStorage storage;
  storage.Put(path, file);

  absl::StatusOr<wal::SnapshotFile> snap =
      wal::ReadSnapshotFile(&storage, path);
  std::vector<std::string> skipped;
  absl::StatusOr<wal::SnapshotFile> newest =
      wal::ReadNewestSnapshot(&storage, kDir, &skipped);
  FuzzCheck(snap.ok() == newest.ok(),
            "ReadNewestSnapshot and ReadSnapshotFile disagree");
  const std::optional<std::string_view> expected = WellFormedPayload(file);
  FuzzCheck(snap.ok() == expected.has_value(),
            snap.ok() ? "a snapshot file FORMAT.md calls damaged was read"
                      : "a well-formed snapshot file was refused");
  FuzzCheck(!fix || !Fixable(file, keep_trailer_magic) || snap.ok(),
            "a snapshot file with fixed lengths and checksums was refused");
  if (!snap.ok()) {
    FuzzCheck(absl::IsDataLoss(snap.status()), "damage that is not DataLoss");
    FuzzCheck(skipped.size() == 1 && skipped[0] == path,
              "damaged snapshot not reported skipped");
    return;
  }
  FuzzCheck(skipped.empty(), "a good snapshot reported skipped");
  FuzzCheck(snap->seq == name_seq && newest->seq == snap->seq, "snapshot seq");
  FuzzCheck(snap->path == path && newest->path == path, "snapshot path");
  FuzzCheck(snap->payload == *expected && newest->payload == snap->payload,
            "snapshot payload differs from the file's");

  const std::string_view payload = snap->payload;
  Decoded first;
  if (absl::Status s = Decode(payload, &first); !s.ok()) {
    FuzzCheck(absl::IsDataLoss(s), "a payload refused without DataLoss");
    return;
  }
  const std::string bytes1 = EncodeV1(first);
  const size_t records = RecordBytes(bytes1);
  if (wal::GetU32(payload.data()) == kPayloadVersion1) {
    FuzzCheck(payload.size() == bytes1.size(),
              "version 1 payload has bytes that are not records");
  } else {
    const size_t end = payload.size() - kBlockHeader;
    FuzzCheck(
        payload.size() >= kPayloadHeader + records + kBlockHeader &&
            (payload.size() - kPayloadHeader - records) % kBlockHeader == 0 &&
            wal::GetU32(payload.data() + end) ==
                static_cast<uint32_t>(SnapshotBlockKind::kEnd) &&
            wal::GetU64(payload.data() + end + 8) == 0,
        "version 2 payload has bytes that are not blocks of records");
  }

  Decoded second;
  FuzzCheck(Decode(bytes1, &second).ok(),
            "re-encoded snapshot does not decode");
  FuzzCheck(SameCounts(first, second), "re-encoded snapshot has other records");
  FuzzCheck(EncodeV1(second) == bytes1,
            "encode(decode(encode(s))) != encode(s)");

  const std::string bytes2 = EncodeV2(first);
  Decoded third;
  FuzzCheck(Decode(bytes2, &third).ok(),
            "snapshot re-encoded as version 2 blocks does not decode");
  FuzzCheck(SameCounts(first, third) && EncodeV1(third) == bytes1,
            "snapshot re-encoded as version 2 blocks has other records");
  FuzzCheck(EncodeV2(third) == bytes2,
            "version 2: encode(decode(encode(s))) != encode(s)");
  FuzzCheck(
      bytes2.size() == kPayloadHeader + 5 * kBlockHeader + RecordBytes(bytes1),
      "version 2 blocks of other size than their records");
}

}  // namespace coffer::fuzz
