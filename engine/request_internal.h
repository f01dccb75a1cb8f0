// Engine bookkeeping carried inside each Request. The sequencer fills it
// before handing the request to shards; afterwards each shard writes only
// the slots that belong to it (its shard_pending slot, its digest part, the
// snapshot records it owns, the results of transactions it coordinates),
// and hands the request on through a queue, which orders those writes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/account.h"
#include "engine/types.h"

namespace coffer::internal {

enum class TxnKind : uint8_t {
  kOps = 1,      // one op, or one linked chain
  kLookup = 2,   // one account of a lookup request
  kHistory = 3,  // one account's history page
  kDigest = 4,   // barrier: every shard's part of the digest
  // The current balance of ops[op_begin].account_id into
  // results[op_begin].balance_after, for an op refused before ordering.
  kRefusalBalance = 5,
};

// One record of a multi-shard transaction's snapshot exchange: the state of
// an account or hold as its owner shard saw it when the transaction reached
// the front of that account's lock queue.
struct SnapRecord {
  uint64_t id = 0;
  uint16_t owner_shard = 0;
  bool is_hold = false;
  bool exists = false;
  AccountFull account;
  HoldState hold;
};

// A unit of ordering: one op, one chain, or one read of one account.
struct Txn {
  uint64_t seq = 0;           // seq of its first op (op i: seq + i)
  uint64_t timestamp_ns = 0;  // engine time shared by all its ops
  uint64_t participants = 0;  // bitmask of shards taking part
  uint32_t op_begin = 0;      // kOps: first op; kLookup: index in lookup_ids
  uint32_t op_count = 0;
  uint32_t snap_begin = 0;  // multi-shard kOps only: records in snaps
  uint32_t snap_count = 0;
  uint16_t coordinator = 0;  // the participant that writes the results
  TxnKind kind = TxnKind::kOps;
  bool multi_shard() const { return (participants & (participants - 1)) != 0; }
};

// A transaction read back from the log: replayed at its recorded seq and
// time instead of being ordered anew.
struct LoggedTxn {
  uint64_t seq = 0;
  uint64_t timestamp_ns = 0;
  uint32_t op_begin = 0;  // index into the request's ops
  uint32_t op_count = 0;
};

// What the sequencer decided for an op of a kOps request.
enum class OpDisposition : uint8_t {
  kSequenced = 1,  // new: ordered and sent to shards
  kDuplicate = 2,  // waits for / copies the original's result
  kFinal = 3,      // refused before ordering; result already set
};

struct RequestState {
  std::vector<Txn> txns;
  std::vector<std::vector<uint32_t>> shard_txns;  // per shard, in seq order
  std::vector<SnapRecord> snaps;
  std::vector<uint32_t> shard_pending;  // slot s: touched by shard s only
  std::vector<StateDigest> digest_parts;
  std::vector<std::vector<CurrencyTotal>> digest_totals;  // per shard
  std::vector<OpDisposition> dispositions;
  std::vector<uint64_t> fingerprints;
  std::vector<LoggedTxn> replay;    // RequestKind::kReplay only
  uint64_t shards_mask = 0;         // shards the request was sent to
  uint32_t shards_outstanding = 0;  // sequencer only
  uint32_t duplicates_waiting = 0;  // sequencer only
  uint32_t cost = 0;                // sequencer only: ops it counts for
  bool completed = false;           // sequencer only
  // A history page that goes on in the store (engine/history_reader.h):
  // the entries to read are numbered below history_store_below (0: none),
  // and the page has examined history_examined entries in memory. Set by
  // the account's shard, cleared by the history reader.
  uint32_t history_store_below = 0;
  uint32_t history_examined = 0;
  // Stage stamps (SteadyNowNs): TrySubmit accepted it (0: an internal
  // request, not measured), the sequencer ordered it, every shard was done.
  uint64_t submitted_ns = 0;
  uint64_t ordered_ns = 0;  // sequencer only
  uint64_t applied_ns = 0;  // sequencer only
};

}  // namespace coffer::internal
