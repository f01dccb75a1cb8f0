// The engine's payload inside a snapshot file (wal/snapshot_file.h wraps it
// with a header and checksum). Everything is keyed by account, hold or op
// id, never by shard, so a snapshot taken with N shards loads into any
// other shard count. Little-endian, fixed-size records:
//
//   u32 version (1), u32 reserved
//   u64 seq                 the state reflects ops 1..seq
//   u64 last_timestamp_ns   engine time of the last transaction
//   u64 n, n * AccountRecord   (56 bytes)
//   u64 n, n * HoldRecord      (48 bytes; open holds and remembered closed)
//   u64 n, n * HistoryEntry    (each shard's ring, oldest first)
//   u64 n, n * OpIdRecord      (56 bytes; remembered op ids, in the
//                              table's map order: the loader sorts by seq)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
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

struct SnapshotVisitor {
  std::function<void(uint64_t seq, uint64_t last_timestamp_ns)> header;
  std::function<void(const SnapshotAccount&)> account;
  std::function<void(const SnapshotHold&)> hold;
  std::function<void(const HistoryEntry&)> history;
  std::function<void(const OpIdTable::Record&)> op_id;
};

// Parses a payload, calling the visitor for every record; checks sizes.
absl::Status DecodeSnapshot(std::string_view payload,
                            const SnapshotVisitor& visitor);

}  // namespace coffer::internal
