// The engine's payload inside a write-ahead-log record (wal/FORMAT.md,
// record type kTransactions): the transactions of one request exactly as the
// sequencer ordered them. Execution is deterministic, so these records are
// all a replay needs.
//
//   u32 txn_count, u32 reserved (0)
//   txn_count times:
//     u64 seq            seq of the transaction's first op
//     u64 timestamp_ns   engine time of the transaction
//     u32 op_count       1, or the length of a linked chain
//     u32 reserved (0)
//     op_count * Op      64 bytes each (engine/types.h layout)
// All little-endian.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/request_internal.h"
#include "engine/types.h"

namespace coffer::internal {

struct LoggedRequest {
  std::vector<LoggedTxn> txns;
  std::vector<Op> ops;
};

// Appends one txn header and its ops to `out` (call EncodeBegin first and
// EncodeEnd after the last txn).
size_t EncodeBegin(std::string& out);
void EncodeTxn(std::string& out, uint64_t seq, uint64_t timestamp_ns,
               const Op* ops, uint32_t op_count);
void EncodeEnd(std::string& out, size_t begin, uint32_t txn_count);

// Parses a payload; checks sizes, seq continuity and chain shape.
absl::Status DecodeRequest(std::string_view payload, uint64_t first_seq,
                           uint64_t last_seq, LoggedRequest* out);

}  // namespace coffer::internal
