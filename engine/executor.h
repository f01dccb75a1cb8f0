// The deterministic heart of the ledger: applies one transaction (an op or a
// linked chain) to a small scratch view of the accounts and holds it names.
// It reads no clock and no global state: the same view and ops always give
// the same results, which is what makes replay and multi-shard agreement
// work (every participant of a multi-shard transaction runs this on the same
// view and reaches the same outcome).
#pragma once

#include <cstdint>

#include "absl/container/inlined_vector.h"
#include "engine/account.h"
#include "engine/types.h"

namespace coffer::internal {

struct AccountSlot {
  uint64_t id = 0;
  bool exists = false;
  bool local = false;  // owned by the shard running the executor
  bool dirty = false;  // changed by the transaction
  AccountFull account;
  AccountState* live = nullptr;  // the shard's record, if local and existing
};

struct HoldSlot {
  uint64_t id = 0;
  bool exists = false;
  bool local = false;
  bool dirty = false;
  HoldState hold;
  HoldState* live = nullptr;
};

// A history entry produced by the executor, for the account in `slot`; the
// owner shard assigns its per-account number when it commits.
struct PendingEntry {
  uint32_t slot = 0;
  HistoryEntry entry;
};

struct View {
  absl::InlinedVector<AccountSlot, 4> accounts;
  absl::InlinedVector<HoldSlot, 2> holds;
  absl::InlinedVector<PendingEntry, 4> entries;

  void Clear() {
    accounts.clear();
    holds.clear();
    entries.clear();
  }
  AccountSlot* FindAccount(uint64_t id);
  HoldSlot* FindHold(uint64_t id);
};

// Which accounts and holds a transaction needs in its view: every account
// an op names, and for holds, captures and releases the hold id (for a hold
// op its own op_id, which must not exist yet). Calls fn(id, is_hold,
// owner_account) once per distinct record; owner_account is the account
// whose shard stores the record.
template <typename Fn>
void ForEachRecord(const Op* ops, uint32_t n, Fn&& fn);

// Applies ops[0..n) as one all-or-nothing unit with sequence numbers
// seq..seq+n-1 and timestamp ts_ns. On success every op's result is kOk and
// the view holds the new state plus history entries; on failure the view is
// exactly as before (entries cleared), the first failing op carries its
// code and every other op kLinkedOpFailed.
void ExecuteTxn(View& view, const Op* ops, uint32_t n, uint64_t seq,
                uint64_t ts_ns, OpResult* results);

// The money invariant of an existing account, checked after every op and
// every commit in every build: balance - held >= floor (-overdraft_limit
// with the overdraft flag, else 0) and balance <= balance_cap with the cap
// flag. A violation stops the process (common/assert.h).
void CheckAccountInvariant(const AccountFull& a);

// --- implementation of the template ---------------------------------------

template <typename Fn>
void ForEachRecord(const Op* ops, uint32_t n, Fn&& fn) {
  // Chains are at most kChainOpsMax long: a quadratic de-duplication over a
  // handful of ids is cheaper than hashing.
  absl::InlinedVector<std::pair<uint64_t, bool>, 8> seen;
  auto visit = [&](uint64_t id, bool is_hold, uint64_t owner_account) {
    if (id == 0) return;  // refused by the executor; needs no record
    for (const auto& s : seen) {
      if (s.first == id && s.second == is_hold) return;
    }
    seen.emplace_back(id, is_hold);
    fn(id, is_hold, owner_account);
  };
  for (uint32_t i = 0; i < n; ++i) {
    const Op& op = ops[i];
    visit(op.account_id, false, op.account_id);
    switch (op.kind) {
      case OpKind::kTransfer:
        visit(op.other_account_id, false, op.other_account_id);
        break;
      case OpKind::kHold:
        visit(op.op_id, true, op.account_id);
        break;
      case OpKind::kCapture:
        visit(op.other_account_id, false, op.other_account_id);
        visit(op.aux, true, op.account_id);
        break;
      case OpKind::kRelease:
        visit(op.aux, true, op.account_id);
        break;
      default:
        break;
    }
  }
}

}  // namespace coffer::internal
