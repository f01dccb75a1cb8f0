// A request to the engine: a batch of operations, or a read. The caller owns
// the Request; it must stay alive and untouched from submission until
// on_complete has been called. A Request can be reused after completion.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/request_internal.h"
#include "engine/types.h"

namespace coffer {

enum class RequestKind : uint8_t {
  kOps = 1,      // ops -> results
  kLookup = 2,   // lookup_ids -> accounts
  kHistory = 3,  // history_* -> history, history_next_before
  kDigest = 4,   // -> digest
  // Engine-internal: transactions read back from the log during recovery.
  // TrySubmit refuses it.
  kReplay = 100,
};

struct Request {
  RequestKind kind = RequestKind::kOps;

  // kOps: operations applied in order; consecutive ops joined by
  // kOpFlagLinked form a chain that applies all or nothing.
  std::vector<Op> ops;
  std::vector<OpResult> results;  // filled: one per op, same order
  // kOps: when the client first issued these ops (its clock, ns since the
  // Unix epoch; a retry sends the same value), or 0 if unknown (protocol
  // version 1). With an op-id index it bounds how old the ops can be:
  // requests older than the retention are refused rather than risk a second
  // application (op_expired), and a recent one needs no index lookup
  // (engine/DESIGN.md "Exactly once").
  uint64_t issued_ns = 0;

  // kLookup: one AccountInfo per id, same order; id 0 in the answer means
  // the account does not exist.
  std::vector<uint64_t> lookup_ids;
  std::vector<AccountInfo> accounts;

  // kHistory: entries of history_account, newest first, at most
  // history_limit of them, each with number < history_before (0: from the
  // newest) that history_filter passes. history_next_before is the cursor
  // for the next page (0: no more entries in memory). A filtered page may
  // be short, even empty, with a cursor: it examined
  // kHistoryScanEntriesMax entries. history_found is false for an unknown
  // account.
  uint64_t history_account = 0;
  uint32_t history_before = 0;
  uint32_t history_limit = 100;
  HistoryFilter history_filter;
  std::vector<HistoryEntry> history;
  uint32_t history_next_before = 0;
  bool history_found = false;

  // kDigest: the digest of the whole state at `seq`, and the sum of
  // balances and holds per currency (sorted by currency).
  StateDigest digest;
  std::vector<CurrencyTotal> currency_totals;

  // Set on completion: the ledger sequence position this request was
  // ordered at. A read reflects exactly the operations ordered before it.
  uint64_t seq = 0;

  // Stage timestamps (SteadyNowNs, engine/latency_histogram.h) for the
  // per-stage latency breakdown. received_ns is the caller's: when the
  // request arrived (the network sets it when the whole frame is in its
  // buffer); 0 = not stamped, and the received_submitted stage skips it.
  // released_ns is set by the engine just before on_complete.
  uint64_t received_ns = 0;
  uint64_t released_ns = 0;

  // Called once, on an engine thread, when every answer is filled in. Keep
  // it short and non-blocking (post to an executor, fulfil a promise).
  std::function<void(Request&)> on_complete;

  internal::RequestState internal;  // engine bookkeeping, do not touch
};

}  // namespace coffer
