#include "engine/lock_manager.h"

#include "common/assert.h"

namespace coffer::internal {

bool LockManager::Uncontended(std::span<const uint64_t> accounts) const {
  if (queues_.empty()) return true;  // the common case: skip the lookups
  for (uint64_t a : accounts) {
    if (queues_.contains(a)) return false;
  }
  return true;
}

bool LockManager::Enqueue(Key key, std::span<const uint64_t> accounts) {
  uint32_t waits = 0;
  for (uint64_t a : accounts) {
    auto& q = queues_[a];
    q.push_back(key);
    if (q.size() > 1) ++waits;
  }
  const bool inserted = waits_.try_emplace(key, waits).second;
  COFFER_ASSERT_MSG(inserted, "transaction admitted twice");
  return waits == 0;
}

void LockManager::Release(Key key, std::span<const uint64_t> accounts,
                          std::vector<Key>* now_ready) {
  for (uint64_t a : accounts) {
    // Only the head of every queue it waits in runs: releasing anything
    // else would let two transactions hold one account.
    auto it = queues_.find(a);
    COFFER_ASSERT_MSG(it != queues_.end(), "release of an unlocked key");
    auto& q = it->second;
    COFFER_ASSERT_MSG(q.front() == key, "release by a txn not at the head");
    q.erase(q.begin());
    if (q.empty()) {
      queues_.erase(it);
      continue;
    }
    // Everything queued was admitted, so it has a waits entry; find, not
    // operator[], so that a missing one is caught rather than created.
    auto next = waits_.find(q.front());
    COFFER_ASSERT(next != waits_.end());
    COFFER_ASSERT_MSG(next->second > 0, "lock waits below zero");
    if (--next->second == 0) now_ready->push_back(q.front());
  }
  const size_t erased = waits_.erase(key);
  COFFER_ASSERT_MSG(erased == 1, "released txn had no pending entry");
}

}  // namespace coffer::internal
