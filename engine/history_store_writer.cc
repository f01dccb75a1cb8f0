#include "engine/history_store_writer.h"

#include <algorithm>

#include "common/assert.h"
#include "common/thread_name.h"
#include "engine/fail_stop.h"

namespace coffer::internal {

HistoryStoreWriter::HistoryStoreWriter(
    HistoryStore* store, std::vector<Doorbell*> bells,
    std::function<void(const absl::Status&)> on_fatal)
    : store_(store), bells_(std::move(bells)), on_fatal_(std::move(on_fatal)) {
  for (size_t s = 0; s < bells_.size(); ++s) {
    lanes_.push_back(std::make_unique<Lane>());
    lanes_.back()->stored_through_seq = store_->covered_seq();
  }
  thread_ = std::thread([this] { Run(); });
  NameThread(thread_, "coffer-history");
}

HistoryStoreWriter::~HistoryStoreWriter() {
  stop_.store(true, std::memory_order_release);
  bell_.RingAlways();
  thread_.join();
}

bool HistoryStoreWriter::TryHand(uint32_t shard,
                                 std::unique_ptr<Batch>& batch) {
  COFFER_ASSERT(shard < lanes_.size());
  if (!lanes_[shard]->queue.push(batch.get())) return false;
  (void)batch.release();  // the writer thread owns it now
  bell_.Ring();
  return true;
}

bool HistoryStoreWriter::WriteOne(size_t s) {
  Batch* raw = nullptr;
  if (!lanes_[s]->queue.pop(raw)) return false;
  std::unique_ptr<Batch> batch(raw);
  absl::Status status =
      store_->Add(batch->entries, CoveredAfter(s, batch->through_seq));
  if (!status.ok()) FailStop(on_fatal_, status);
  lanes_[s]->stored_pos.store(batch->last_pos, std::memory_order_release);
  bells_[s]->Ring();
  return true;
}

uint64_t HistoryStoreWriter::CoveredAfter(size_t s, uint64_t through) {
  Lane& lane = *lanes_[s];
  lane.stored_through_seq = std::max(lane.stored_through_seq, through);
  uint64_t covered = UINT64_MAX;
  for (const auto& l : lanes_) {
    covered = std::min(covered, l->stored_through_seq);
  }
  return covered;
}

void HistoryStoreWriter::Run() {
  for (;;) {
    // One batch per lane per round, so that no shard waits behind another.
    bool wrote = false;
    for (size_t s = 0; s < lanes_.size(); ++s) wrote |= WriteOne(s);
    if (wrote) continue;
    // Everything handed over is written: stop now if asked.
    if (stop_.load(std::memory_order_acquire)) return;
    const uint32_t token = bell_.PrepareSleep();
    bool empty = true;
    for (const auto& lane : lanes_) empty &= lane->queue.read_available() == 0;
    if (empty && !stop_.load(std::memory_order_acquire)) bell_.Sleep(token);
    bell_.Awake();
  }
}

}  // namespace coffer::internal
