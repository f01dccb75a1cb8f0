// The sequencer's memory of op ids: which ids were ordered, with which
// fields (a 64-bit fingerprint) and which result. Bounded: it remembers the
// most recent `capacity` ordered ops (a ring indexed by seq, plus a hash map
// from op id to seq); older ids are forgotten (engine/DESIGN.md, "Exactly
// once"). About 70 bytes per remembered id.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engine/chunked_array.h"
#include "engine/types.h"

namespace coffer::internal {

class OpIdTable {
 public:
  struct Record {
    uint64_t op_id = 0;
    uint64_t fingerprint = 0;
    uint64_t seq = 0;
    // Engine time of its transaction (in a restored record: at most the
    // snapshot's time; the snapshot does not carry it).
    uint64_t timestamp_ns = 0;
    OpResult result;
    bool done = false;  // result known (false while the op is in flight)
  };

  explicit OpIdTable(uint64_t capacity);

  // The record of `op_id`, or nullptr if it was never ordered or is
  // forgotten. The pointer is valid until the next Insert.
  const Record* Find(uint64_t op_id) const;

  // Starts loading the cache lines that Find(op_id) and then
  // Insert(op_id, _, seq) will touch: the id's slot in the map and the slot
  // of the record that the insert would forget. Only a hint: `seq` may be
  // a guess, and nothing changes.
  void Prefetch(uint64_t op_id, uint64_t seq) const;
  // Remembers an op ordered at `seq` (seqs are inserted in increasing order,
  // one record each). Forgets the oldest record when full.
  void Insert(uint64_t op_id, uint64_t fingerprint, uint64_t seq,
              uint64_t timestamp_ns);

  // Makes room for `n` records in the map at once (a restore of millions
  // would otherwise rehash it several times).
  void Reserve(uint64_t n) { by_id_.reserve(n); }
  // Puts back a record saved in a snapshot (seqs in increasing order).
  void Restore(const Record& record) {
    Insert(record.op_id, record.fingerprint, record.seq, record.timestamp_ns);
    SetResult(record.seq, record.result);
  }
  // Calls fn(record) for every remembered record with seq <= upto.
  template <typename Fn>
  void ForEach(uint64_t upto, Fn&& fn) const {
    for (const auto& [id, seq] : by_id_) {
      if (seq <= upto) fn(*ring_.Get(seq % ring_.capacity()));
    }
  }

  // The record of the op ordered at `seq`, or nullptr if it is forgotten
  // (or was never ordered).
  const Record* AtSeq(uint64_t seq) const {
    const Record* r = ring_.Get(seq % ring_.capacity());
    return r != nullptr && r->op_id != 0 && r->seq == seq ? r : nullptr;
  }

  // Stores the final result of the op ordered at `seq`, if still remembered.
  void SetResult(uint64_t seq, const OpResult& result);

  uint64_t size() const { return by_id_.size(); }
  uint64_t capacity() const { return ring_.capacity(); }

 private:
  ChunkedArray<Record> ring_;                      // indexed by seq % capacity
  absl::flat_hash_map<uint64_t, uint64_t> by_id_;  // op id -> seq
};

// Fingerprint of every field of an op except its id.
uint64_t OpFingerprint(const Op& op);

}  // namespace coffer::internal
