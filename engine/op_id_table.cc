#include "engine/op_id_table.h"

#include <xxhash.h>

#include "common/assert.h"
#include "common/prefetch.h"

namespace coffer::internal {

OpIdTable::OpIdTable(uint64_t capacity) : ring_(capacity) {
  COFFER_ASSERT(capacity > 0);
}

const OpIdTable::Record* OpIdTable::Find(uint64_t op_id) const {
  auto it = by_id_.find(op_id);
  if (it == by_id_.end()) return nullptr;
  const Record& r = *ring_.Get(it->second % ring_.capacity());
  COFFER_ASSERT(r.op_id == op_id && r.seq == it->second);
  return &r;
}

// At -O3 (common/prefetch.h): GCC -O2 would drop the prefetches.
COFFER_PREFETCH_OPTIMIZE void OpIdTable::Prefetch(uint64_t op_id,
                                                  uint64_t seq) const {
  by_id_.prefetch(op_id);
  const Record* old = ring_.Get(seq % ring_.capacity());
  if (old != nullptr && old->op_id != 0) by_id_.prefetch(old->op_id);
}

void OpIdTable::Insert(uint64_t op_id, uint64_t fingerprint, uint64_t seq,
                       uint64_t timestamp_ns) {
  // Memory grows with use until the ring is full, then old records go.
  Record& r = ring_.Touch(seq % ring_.capacity());
  if (r.op_id != 0) {
    COFFER_ASSERT(r.seq < seq);
    auto it = by_id_.find(r.op_id);
    if (it != by_id_.end() && it->second == r.seq) by_id_.erase(it);
  }
  r = Record{};
  r.op_id = op_id;
  r.fingerprint = fingerprint;
  r.seq = seq;
  r.timestamp_ns = timestamp_ns;
  by_id_[op_id] = seq;
}

void OpIdTable::SetResult(uint64_t seq, const OpResult& result) {
  Record* slot = ring_.Get(seq % ring_.capacity());
  if (slot == nullptr) return;
  Record& r = *slot;
  if (r.seq != seq || r.op_id == 0) return;  // forgotten meanwhile
  r.result = result;
  r.done = true;
}

uint64_t OpFingerprint(const Op& op) {
  Op copy = op;
  copy.op_id = 0;
  return XXH3_64bits(&copy, sizeof(copy));
}

}  // namespace coffer::internal
