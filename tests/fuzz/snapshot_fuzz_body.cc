// The snapshot reader: wal::ReadSnapshotFile and ReadNewestSnapshot over a
// file made from the input in an in-memory Storage, then the engine's
// DecodeSnapshot on the payload.
//
// Input: one flags byte, then the snapshot file. Flags bit 0: recompute
// payload_bytes and both checksums first (so mutations reach the payload
// decoder instead of dying at the checksums). The file is named after the
// seq in its header (bytes 16..23), as the writer names it.
//
// Properties: a file that verifies has the payload the header describes;
// ReadNewestSnapshot agrees with ReadSnapshotFile; a payload that decodes
// re-encodes (SnapshotEncoder) to bytes that decode and re-encode to the
// same bytes, with the same records.
#include <cstring>
#include <string>
#include <vector>

#include "engine/snapshot_codec.h"
#include "tests/fuzz/fuzz_bodies.h"
#include "tests/fuzz/memory_storage.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"
#include "xxhash.h"

namespace coffer::fuzz {
namespace {

constexpr char kDir[] = "/fuzz/snap";
constexpr size_t kHeaderChecksummed = 40;

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

std::string Encode(const Decoded& d) {
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

void FixHeader(std::string& file) {
  if (file.size() < wal::kSnapshotHeaderBytes) return;
  const size_t payload_bytes = file.size() - wal::kSnapshotHeaderBytes;
  wal::PutU64(&file[24], payload_bytes);
  wal::PutU64(&file[32], XXH3_64bits(file.data() + wal::kSnapshotHeaderBytes,
                                     payload_bytes));
  wal::PutU64(&file[kHeaderChecksummed],
              XXH3_64bits(file.data(), kHeaderChecksummed));
}

}  // namespace

void FuzzSnapshot(const uint8_t* data, size_t size) {
  if (size < 1) return;
  std::string file(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) != 0) FixHeader(file);
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
  if (!snap.ok()) {
    FuzzCheck(absl::IsDataLoss(snap.status()), "damage that is not DataLoss");
    FuzzCheck(skipped.size() == 1, "damaged snapshot not reported skipped");
    return;
  }
  FuzzCheck(snap->seq == name_seq && newest->seq == snap->seq, "snapshot seq");
  FuzzCheck(snap->payload ==
                    std::string_view(file).substr(wal::kSnapshotHeaderBytes) &&
                newest->payload == snap->payload,
            "snapshot payload differs from the file's");

  Decoded first;
  if (!Decode(snap->payload, &first).ok()) return;
  const std::string bytes1 = Encode(first);
  Decoded second;
  FuzzCheck(Decode(bytes1, &second).ok(),
            "re-encoded snapshot does not decode");
  FuzzCheck(second.accounts.size() == first.accounts.size() &&
                second.holds.size() == first.holds.size() &&
                second.history.size() == first.history.size() &&
                second.op_ids.size() == first.op_ids.size() &&
                second.seq == first.seq,
            "re-encoded snapshot has other records");
  FuzzCheck(Encode(second) == bytes1, "encode(decode(encode(s))) != encode(s)");
}

}  // namespace coffer::fuzz
