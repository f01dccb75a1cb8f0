#include "engine/remembered_ops.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/assert.h"
#include "engine/fail_stop.h"

namespace coffer::internal {
namespace {

// Records per table file of the index at most: a bound on the time one
// Feed call takes the sequencer's thread (copying them) and on the memory
// of a batch (about 4 MB).
constexpr size_t kFeedBatchMax = 65536;

template <typename T>
void Bump(std::atomic<T>& counter, T by = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + by,
                std::memory_order_relaxed);
}

}  // namespace

RememberedOps::RememberedOps(uint64_t ring_capacity,
                             std::function<void(const absl::Status&)> on_fatal)
    : table_(ring_capacity),
      on_fatal_(std::move(on_fatal)),
      batch_target_(std::clamp<uint64_t>(ring_capacity / 4, 1, kFeedBatchMax)) {
}

void RememberedOps::AttachIndex(OpIdIndex* index, Doorbell* bell) {
  index_ = index;
  bell_ = bell;
  fed_seq_ = index->covered_seq();
  queued_seq_ = fed_seq_;
  ready_seq_ = fed_seq_;
  counters_.index_fed_seq.store(fed_seq_, std::memory_order_relaxed);
}

void RememberedOps::Fatal(const absl::Status& status) const {
  FailStop(on_fatal_, status);
}

absl::Status RememberedOps::Restore(std::span<const OpIdTable::Record> records,
                                    uint64_t snapshot_seq, uint64_t now_ns) {
  // Every seq is an op with an id (ops without one take no seq), so the
  // window ends at the snapshot's own seq; a file that says otherwise
  // would leave ring slots unaccounted for, found only later by an assert.
  const uint64_t last = records.empty() ? 0 : records.back().seq;
  if (last != snapshot_seq) {
    return absl::DataLossError(absl::StrCat(
        "snapshot at seq ", snapshot_seq, " remembers ops up to seq ", last,
        " (its op ids must end at its seq)"));
  }
  // Ops older than the snapshot's window left memory at some time before
  // the snapshot: as far as memory can tell, at its time.
  if (records.empty() || records.front().seq > 1) forgotten_ns_ = now_ns;
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].seq != records[i - 1].seq + 1) {
      return absl::DataLossError(absl::StrCat(
          "snapshot at seq ", snapshot_seq, ": remembered ops jump from seq ",
          records[i - 1].seq, " to ", records[i].seq));
    }
  }
  if (index_ != nullptr && !records.empty()) {
    const uint64_t oldest = records.front().seq;
    const uint64_t covered = index_->covered_seq();
    if (covered + 1 < oldest && !index_->created()) {
      return absl::DataLossError(absl::StrCat(
          "the op-id index covers ops up to seq ", covered,
          " but the snapshot at seq ", snapshot_seq, " remembers ops from seq ",
          oldest, " on: ops ", covered + 1, "..", oldest - 1,
          " would be forgotten (is the index from another data directory?)"));
    }
    // A new index beside an older ledger starts at the snapshot's window:
    // what is older was forgotten before the index existed.
    for (size_t begin = 0; begin < records.size(); begin += kFeedBatchMax) {
      const size_t end = std::min(records.size(), begin + kFeedBatchMax);
      if (records[end - 1].seq <= index_->covered_seq()) continue;
      auto batch = records.subspan(begin, end - begin);
      if (absl::Status s = index_->Add(batch, batch.back().seq, now_ns);
          !s.ok()) {
        return s;
      }
    }
    fed_seq_ = std::max(fed_seq_, index_->covered_seq());
    queued_seq_ = fed_seq_;
    ready_seq_ = fed_seq_;
    counters_.index_fed_seq.store(fed_seq_, std::memory_order_relaxed);
  }
  table_.Reserve(records.size());
  // Each insert misses the cache in a map of millions: the slots of the
  // records a few ahead are loaded meanwhile.
  constexpr size_t kPrefetchAhead = 8;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i + kPrefetchAhead < records.size()) {
      const OpIdTable::Record& ahead = records[i + kPrefetchAhead];
      table_.Prefetch(ahead.op_id, ahead.seq);
    }
    OpIdTable::Record r = records[i];
    r.timestamp_ns = now_ns;  // not in the snapshot; at most its time
    table_.Restore(r);
  }
  return absl::OkStatus();
}

void RememberedOps::LookUp(std::span<const Op> ops, uint64_t now_ns,
                           bool memory_only) {
  found_.clear();
  if (index_ == nullptr) return;
  ask_.clear();
  for (const Op& op : ops) {
    if (op.op_id == 0) continue;
    // A record in memory now may leave it while this request is sequenced
    // (its own ops push the oldest out): keep a copy. Also when memory
    // alone answers, or a record of the window judged could be lost.
    if (const OpIdTable::Record* r = table_.Find(op.op_id); r != nullptr) {
      found_.emplace(op.op_id, *r);
    } else if (!memory_only) {
      ask_.push_back(op.op_id);
    }
  }
  if (ask_.empty()) return;
  Bump(counters_.index_lookups, uint64_t{ask_.size()});
  uint64_t hits = 0;
  absl::Status s =
      index_->Find(ask_, now_ns, [&](size_t, const OpIdIndex::Entry& e) {
        found_.emplace(e.record.op_id, e.record);
        ++hits;
      });
  if (!s.ok()) Fatal(s);
  Bump(counters_.index_found, hits);
}

const OpIdTable::Record* RememberedOps::Find(uint64_t op_id) const {
  if (const OpIdTable::Record* r = table_.Find(op_id); r != nullptr) return r;
  auto it = found_.find(op_id);
  return it == found_.end() ? nullptr : &it->second;
}

void RememberedOps::Insert(uint64_t op_id, uint64_t fingerprint, uint64_t seq,
                           uint64_t timestamp_ns) {
  // The record this insert pushes out of the ring must be in the index.
  COFFER_ASSERT_MSG(HasRoom(seq), "op-id ring slot reused before indexing");
  if (seq > table_.capacity()) {
    if (const OpIdTable::Record* old = table_.AtSeq(seq - table_.capacity());
        old != nullptr) {
      forgotten_ns_ = std::max(forgotten_ns_, old->timestamp_ns);
    }
  }
  table_.Insert(op_id, fingerprint, seq, timestamp_ns);
}

bool RememberedOps::BatchDue(uint64_t next_seq) const {
  if (ready_seq_ <= queued_seq_) return false;
  // Enough for a table file, the ring half full of unwritten records, or a
  // request waiting for these records' slots.
  return ready_seq_ - queued_seq_ >= batch_target_ ||
         next_seq - 1 - fed_seq_ >= table_.capacity() / 2 ||
         queued_seq_ < wanted_seq_;
}

bool RememberedOps::CanFeed(uint64_t durable_seq, uint64_t next_seq) const {
  if (index_ == nullptr) return false;
  if (writer_ != nullptr && writer_->written_seq() > fed_seq_) return true;
  if (pending_ != nullptr) return writer_ != nullptr && !writer_->full();
  const uint64_t seq = ready_seq_ + 1;
  if (seq < next_seq && seq <= durable_seq) {
    const OpIdTable::Record* r = table_.AtSeq(seq);
    if (r != nullptr && r->done) return true;
  }
  return BatchDue(next_seq);
}

bool RememberedOps::Feed(uint64_t durable_seq, uint64_t next_seq,
                         uint64_t now_ns) {
  if (index_ == nullptr) return false;
  if (writer_ == nullptr) {
    writer_ = std::make_unique<OpIdIndexWriter>(index_, bell_, on_fatal_);
  }
  bool progress = false;
  if (const uint64_t written = writer_->written_seq(); written > fed_seq_) {
    fed_seq_ = written;
    counters_.index_fed_seq.store(fed_seq_, std::memory_order_relaxed);
    progress = true;
  }
  if (pending_ != nullptr) {
    if (!writer_->TryHand(pending_)) return progress;
    progress = true;
  }
  // Records become done out of order (shards answer independently): the
  // batch is the done prefix. Bounded per call by the batch size.
  const uint64_t limit = std::min(durable_seq, next_seq - 1);
  for (uint64_t n = 0; ready_seq_ < limit && n < kFeedBatchMax; ++n) {
    const OpIdTable::Record* r = table_.AtSeq(ready_seq_ + 1);
    // HasRoom keeps every ordered record that is not yet written in the
    // ring.
    COFFER_ASSERT_MSG(r != nullptr, "an unindexed op left the op-id ring");
    if (!r->done) break;
    ++ready_seq_;
    progress = true;
  }
  if (!BatchDue(next_seq)) return progress;
  auto batch = std::make_unique<OpIdIndexWriter::Batch>();
  const uint64_t last = std::min(ready_seq_, queued_seq_ + kFeedBatchMax);
  batch->records.reserve(last - queued_seq_);
  for (uint64_t seq = queued_seq_ + 1; seq <= last; ++seq) {
    batch->records.push_back(*table_.AtSeq(seq));
  }
  batch->covered_seq = last;
  batch->now_ns = now_ns;
  queued_seq_ = last;
  counters_.index_queued_seq.store(queued_seq_, std::memory_order_relaxed);
  if (!writer_->TryHand(batch)) pending_ = std::move(batch);
  return true;
}

}  // namespace coffer::internal
