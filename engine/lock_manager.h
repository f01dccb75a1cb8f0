// The deterministic lock manager of a shard (as in Calvin): for each account
// in use by an unfinished transaction, a FIFO of the transactions that need
// it. Transactions enter the queues in seq order, so the one at the head of
// every queue it is in is the earliest that needs those accounts, and there
// is no deadlock (engine/DESIGN.md "Multi-shard transactions").
//
// Pure bookkeeping: it knows nothing of the shard's records, of what a
// request holds, of peers or of threads. A key only names a transaction; the
// shard decides what to run and when. Peer readiness (a multi-shard
// transaction's records arriving from the other participants) is not here:
// it can come before the transaction is admitted on this shard and has
// nothing to do with who holds an account, so the shard keeps it.
//
// Every invariant is an always-on COFFER_ASSERT: a broken lock queue would let
// two transactions hold one account, so it stops the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"

namespace coffer {
struct Request;
}  // namespace coffer

namespace coffer::internal {

// A transaction: the request it belongs to and its index in the request's
// transactions. Only compared and hashed here, never dereferenced.
struct Key {
  Request* request;
  uint32_t txn;
  bool operator==(const Key&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Key& k) {
    return H::combine(std::move(h), k.request, k.txn);
  }
};

class LockManager {
 public:
  // True when no queue holds any of `accounts`: a transaction on them that
  // needs nothing else may run at once, without entering the queues.
  bool Uncontended(std::span<const uint64_t> accounts) const;

  // Admits `key` on `accounts` (distinct): it joins the tail of each one's
  // queue, behind every earlier holder. Returns true when it is at the head
  // of all of them at once (it holds every lock and may start now); else it
  // becomes ready through a later Release. A key admitted twice is fatal.
  bool Enqueue(Key key, std::span<const uint64_t> accounts);

  // Releases `key`, which holds `accounts` (the same as it was admitted on):
  // pops it from the head of each queue (fatal if it is not the head) and
  // appends to *now_ready, in the order of `accounts`, each new head whose
  // last wait that was.
  void Release(Key key, std::span<const uint64_t> accounts,
               std::vector<Key>* now_ready);

  // No queue holds any account.
  bool empty() const { return queues_.empty(); }
  // Admitted keys not yet released.
  size_t admitted() const { return waits_.size(); }

 private:
  absl::flat_hash_map<uint64_t, absl::InlinedVector<Key, 2>> queues_;
  // Per admitted key: the queues where an earlier transaction is ahead.
  absl::flat_hash_map<Key, uint32_t> waits_;
};

}  // namespace coffer::internal
