// The engine's payload inside a snapshot file (wal/snapshot_file.h wraps it
// with a header and checksum). Everything is keyed by account, hold or op
// id, never by shard, so a snapshot taken with N shards loads into any
// other shard count. Little-endian, fixed-size records. Two versions share
// a 24-byte header:
//
//   u32 version (1 or 2)
//   u32 shard_count         version 2: the writer's shard count (0: not
//                           known, as in files written before it was
//                           recorded); version 1: reserved, 0
//   u64 seq                 the state reflects ops 1..seq
//   u64 last_timestamp_ns   engine time of the last transaction
//
// Version 1 (a forked child writes it, with the state frozen): four
// sections in this order.
//   u64 n, n * AccountRecord   (56 bytes)
//   u64 n, n * HoldRecord      (48 bytes; open holds and remembered closed)
//   u64 n, n * HistoryEntry    (each shard's ring, oldest first)
//   u64 n, n * OpIdRecord      (56 bytes; remembered op ids, in the
//                              table's map order: the loader sorts by seq)
//
// Version 2 (written in process while the shards go on, engine/DESIGN.md
// "Snapshots"): blocks, each
//   u32 kind (SnapshotBlockKind), u32 source (the shard that wrote it, or
//   kSnapshotSourceSequencer), u64 n, n records of the kind's size;
// ending with one kEnd block (n = 0). Blocks come in any order; within a
// kind and source, records keep the order they were written in (an
// account's history oldest first, op ids in seq order).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/account.h"
#include "engine/op_id_table.h"
#include "engine/types.h"

namespace coffer::internal {

struct SnapshotAccount {
  uint64_t id;
  AccountFull account;  // history_head is meaningless here and ignored
};

struct SnapshotHold {
  uint64_t id;
  HoldState hold;
};

// Streams records out; sections must come in the order above.
class SnapshotEncoder {
 public:
  SnapshotEncoder(uint64_t seq, uint64_t last_timestamp_ns);
  void BeginSection();  // accounts, holds, history, op ids: in that order
  void Account(const SnapshotAccount& a);
  void Hold(const SnapshotHold& h);
  void History(const HistoryEntry& e);
  void OpId(const OpIdTable::Record& r);
  void EndSection();
  std::string& bytes() { return out_; }

 private:
  template <typename T>
  void Put(const T& v);
  std::string out_;
  size_t count_offset_ = 0;
  uint64_t count_ = 0;
};

enum class SnapshotBlockKind : uint32_t {
  kAccounts = 1,
  kHolds = 2,
  kHistory = 3,
  kOpIds = 4,
  kEnd = 5,
};
inline constexpr uint32_t kSnapshotSourceSequencer = 0xffffffffu;

// Version 2: the payload's header. `shard_count`: the writing engine's
// (its shards are the blocks' sources), so that a loader with as many
// shards reads each shard's blocks only; 0 if not known.
std::string SnapshotHeaderV2(uint64_t seq, uint64_t last_timestamp_ns,
                             uint32_t shard_count = 0);

// Version 2: one block of records of one kind from one source, built record
// by record. Take() hands out the finished block and starts the next one.
class SnapshotBlockBuilder {
 public:
  SnapshotBlockBuilder(SnapshotBlockKind kind, uint32_t source);
  void Account(const SnapshotAccount& a);
  void Hold(const SnapshotHold& h);
  void History(const HistoryEntry& e);
  void OpId(const OpIdTable::Record& r);
  uint64_t records() const { return count_; }
  size_t bytes() const { return out_.size(); }
  std::string Take();

 private:
  void Start();
  SnapshotBlockKind kind_;
  uint32_t source_;
  std::string out_;
  uint64_t count_ = 0;
};

struct SnapshotVisitor {
  std::function<void(uint64_t seq, uint64_t last_timestamp_ns)> header;
  std::function<void(const SnapshotAccount&)> account;
  std::function<void(const SnapshotHold&)> hold;
  std::function<void(const HistoryEntry&)> history;
  std::function<void(const OpIdTable::Record&)> op_id;
};

// Where one block's records lie in a payload (version 1's four sections
// are blocks too, of source kSnapshotSourceSequencer).
struct SnapshotBlockRef {
  SnapshotBlockKind kind = SnapshotBlockKind::kEnd;
  uint32_t source = 0;
  uint64_t n = 0;
  std::string_view records;  // n records of the kind's size
};

// A payload's header and blocks, in payload order; views into the payload.
struct SnapshotLayout {
  uint64_t seq = 0;
  uint64_t last_timestamp_ns = 0;
  uint32_t shard_count = 0;  // see SnapshotHeaderV2
  std::vector<SnapshotBlockRef> blocks;
  uint64_t Records(SnapshotBlockKind kind) const;
};

// Checks a payload's header and every block's size, without reading the
// records: what the parallel load (engine/snapshot_load.h) splits up.
absl::StatusOr<SnapshotLayout> IndexSnapshot(std::string_view payload);

// Calls the visitor's member for the block's kind on each of its records.
void VisitBlock(const SnapshotBlockRef& block, const SnapshotVisitor& visitor);

// Parses a payload, calling the visitor for every record; checks sizes.
// Every history entry is visited after every account and hold (version 2's
// blocks come in any order).
absl::Status DecodeSnapshot(std::string_view payload,
                            const SnapshotVisitor& visitor);

}  // namespace coffer::internal
