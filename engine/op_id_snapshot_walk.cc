#include "engine/op_id_snapshot_walk.h"

#include <algorithm>
#include <utility>

#include "common/assert.h"

namespace coffer::internal {
namespace {

constexpr uint32_t kWalkRecordsPerStep = 4096;
constexpr size_t kUnsentBlocksMax = 2;

}  // namespace

void OpIdSnapshotWalk::Begin(const OpIdTable& table, uint64_t seq,
                             SnapshotWriter* writer, uint32_t producer) {
  COFFER_ASSERT(!active());
  writer_ = writer;
  producer_ = producer;
  last_seq_ = seq;
  // The oldest seq the ring can hold.
  next_seq_ = seq >= table.capacity() ? seq - table.capacity() + 1 : 1;
  block_.emplace(SnapshotBlockKind::kOpIds, kSnapshotSourceSequencer);
  unsent_.clear();
}

bool OpIdSnapshotWalk::WriteNext(const OpIdTable& table) {
  const OpIdTable::Record* r = table.AtSeq(next_seq_);
  if (r != nullptr && !r->done) return false;  // still at a shard
  if (r != nullptr) block_->OpId(*r);
  ++next_seq_;
  if (block_->bytes() >= kSnapshotBlockBytes) unsent_.push_back(block_->Take());
  return true;
}

void OpIdSnapshotWalk::CloseIfWalked() {
  if (next_seq_ > last_seq_ && block_->records() > 0) {
    unsent_.push_back(block_->Take());
  }
}

void OpIdSnapshotWalk::MakeRoom(const OpIdTable& table, uint64_t last_seq) {
  if (!active() || next_seq_ > last_seq_) return;
  while (next_seq_ <= last_seq_ && last_seq >= next_seq_ + table.capacity()) {
    if (!WriteNext(table)) return;
  }
  CloseIfWalked();
}

bool OpIdSnapshotWalk::Walk(const OpIdTable& table) {
  bool progress = false;
  const size_t unsent_before = unsent_.size();
  for (uint32_t n = 0; n < kWalkRecordsPerStep && next_seq_ <= last_seq_ &&
                       unsent_.size() == unsent_before;
       ++n) {
    if (!WriteNext(table)) break;
    progress = true;
  }
  CloseIfWalked();
  return progress;
}

bool OpIdSnapshotWalk::Send() {
  bool progress = false;
  while (!unsent_.empty() &&
         writer_->TryPush(producer_, std::move(unsent_.front()))) {
    unsent_.pop_front();
    progress = true;
  }
  return progress;
}

bool OpIdSnapshotWalk::Step(const OpIdTable& table) {
  if (!active()) return false;
  bool progress = Send();
  if (next_seq_ <= last_seq_ && unsent_.size() < kUnsentBlocksMax) {
    progress |= Walk(table);
    progress |= Send();
  }
  if (next_seq_ > last_seq_ && unsent_.empty()) {
    writer_->Finish(producer_);
    writer_ = nullptr;
    block_.reset();
    return true;
  }
  return progress;
}

bool OpIdSnapshotWalk::HaveWork(const OpIdTable& table) const {
  if (!active()) return false;
  if (!unsent_.empty()) return writer_->HasRoom(producer_);
  if (next_seq_ > last_seq_) return true;
  const OpIdTable::Record* r = table.AtSeq(next_seq_);
  return r == nullptr || r->done;
}

}  // namespace coffer::internal
