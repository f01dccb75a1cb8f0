// Which ops the ledger remembers for exactly-once answers: the newest ones
// in memory (OpIdTable, a ring of op_ids_remembered_max records), every
// older one inside the retention on disk (OpIdIndex), when the engine has a
// data directory. One job of the sequencer's thread (engine/DESIGN.md
// "Exactly once").
//
// The rule that makes the two one memory: a record leaves the ring only
// after it is in the index. The feeder hands records to the index's writer
// thread (engine/op_id_index_writer.h) in seq order once they are done
// (result known) and durable in the log; the sequencer orders a request
// only if the ring slots it would reuse hold records the writer has
// written (HasRoom). So every remembered op is in the ring, in the index,
// or both. At the bound (the writer behind by a whole ring) ordering waits
// for the writer.
//
// Lookups beyond memory are batched per request: LookUp() asks the index
// once for every op of the request that the ring does not know, before the
// request is sequenced; Find() then answers from the ring or from what
// LookUp() found. Records leaving the ring while the request is sequenced
// were fed before LookUp() ran (HasRoom), so LookUp() saw them.
//
// An index error is fatal: config.on_fatal, then the process stops (a
// lookup that cannot be answered must never be guessed as "new").
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "engine/doorbell.h"
#include "engine/op_id_index.h"
#include "engine/op_id_index_writer.h"
#include "engine/op_id_table.h"
#include "engine/types.h"

namespace coffer::internal {

struct RememberedOpsCounters {
  std::atomic<uint64_t> index_lookups{0};     // ids asked of the index
  std::atomic<uint64_t> index_found{0};       // of which remembered there
  std::atomic<uint64_t> index_fed_seq{0};     // every op up to it is indexed
  std::atomic<uint64_t> index_queued_seq{0};  // handed to the writer
};

class RememberedOps {
 public:
  RememberedOps(uint64_t ring_capacity,
                std::function<void(const absl::Status&)> on_fatal);

  // Before the threads start: from now on, records leave memory only
  // through `index` (owned by the caller, outliving this). `bell` is the
  // sequencer's, rung by the writer after each batch.
  void AttachIndex(OpIdIndex* index, Doorbell* bell);
  bool has_index() const { return index_ != nullptr; }

  // Puts back the op-id section of a snapshot (sorted by seq, contiguous),
  // taken at `snapshot_seq`. With an index, records it lacks are added to
  // it first; an index that does not reach the snapshot's oldest record is
  // an error (its ops would be forgotten), unless the index is new.
  absl::Status Restore(std::span<const OpIdTable::Record> records,
                       uint64_t snapshot_seq, uint64_t now_ns);

  void Prefetch(uint64_t op_id, uint64_t seq) const {
    table_.Prefetch(op_id, seq);
  }
  // Before a request's ops are checked: copies what memory holds of `ops`
  // (it may leave the ring while the request is sequenced) and asks the
  // index about the rest, unless `memory_only` (the caller knows memory
  // holds every op the request could repeat). `now_ns`: engine time.
  void LookUp(std::span<const Op> ops, uint64_t now_ns, bool memory_only);
  // Memory holds every op ordered at engine time t_ns or later (none of
  // them has left the ring).
  bool HoldsEverySince(uint64_t t_ns) const { return t_ns > forgotten_ns_; }
  // The record of `op_id`, from memory or from the last LookUp(); nullptr
  // if the op is unknown. Valid until the next Insert or LookUp.
  const OpIdTable::Record* Find(uint64_t op_id) const;

  // Whether ops with seqs up to `last_seq` may be ordered now: the ring
  // slots they take hold records that are already indexed.
  bool HasRoom(uint64_t last_seq) const {
    return index_ == nullptr || last_seq <= fed_seq_ + table_.capacity();
  }
  // A request waits for HasRoom(last_seq): the records it needs written
  // are fed next, whether or not they make a batch of the usual size (a
  // request of more than half the ring would otherwise wait for a batch
  // that never fills).
  void WantRoom(uint64_t last_seq) {
    if (last_seq > table_.capacity()) {
      wanted_seq_ = std::max(wanted_seq_, last_seq - table_.capacity());
    }
  }
  void Insert(uint64_t op_id, uint64_t fingerprint, uint64_t seq,
              uint64_t timestamp_ns);
  void SetResult(uint64_t seq, const OpResult& result) {
    table_.SetResult(seq, result);
  }

  // Hands the writer the records that are done, durable (seq <=
  // durable_seq) and ordered (seq < next_seq), in seq order, at most a
  // bounded batch per call, and takes note of what it has written (only
  // here, between requests: LookUp relies on it). Returns progress.
  bool Feed(uint64_t durable_seq, uint64_t next_seq, uint64_t now_ns);
  bool CanFeed(uint64_t durable_seq, uint64_t next_seq) const;

  const OpIdTable& table() const { return table_; }
  const RememberedOpsCounters& counters() const { return counters_; }

 private:
  void Fatal(const absl::Status& status) const;
  bool BatchDue(uint64_t next_seq) const;

  OpIdTable table_;
  std::function<void(const absl::Status&)> on_fatal_;
  OpIdIndex* index_ = nullptr;
  Doorbell* bell_ = nullptr;
  std::unique_ptr<OpIdIndexWriter> writer_;  // started by the first Feed
  std::unique_ptr<OpIdIndexWriter::Batch> pending_;  // waiting for room
  // The newest engine time of an op that left the ring (after a restore:
  // the snapshot's time, since what left before it is not known).
  uint64_t forgotten_ns_ = 0;
  uint64_t fed_seq_ = 0;     // every op up to it is written to the index
  uint64_t queued_seq_ = 0;  // every op up to it is handed to the writer
  uint64_t ready_seq_ = 0;   // every op up to it is done and durable
  uint64_t wanted_seq_ = 0;  // a held request needs every op up to it fed
  // Records per batch: one table file each, so not too small; a quarter of
  // the ring, so that the writer has room to be behind.
  uint64_t batch_target_ = 1;
  RememberedOpsCounters counters_;
  // LookUp's answers for the request being sequenced.
  absl::flat_hash_map<uint64_t, OpIdTable::Record> found_;
  std::vector<uint64_t> ask_;
};

}  // namespace coffer::internal
