#include "engine/snapshot_writer.h"

#include <utility>

#include "common/assert.h"
#include "common/thread_name.h"
#include "engine/snapshot_codec.h"

namespace coffer::internal {

SnapshotWriter::SnapshotWriter(wal::Storage* storage, std::string dir,
                               uint64_t seq, uint64_t last_timestamp_ns,
                               uint32_t shard_count,
                               std::vector<Doorbell*> producer_bells,
                               Doorbell* bell)
    : storage_(storage),
      dir_(std::move(dir)),
      seq_(seq),
      last_timestamp_ns_(last_timestamp_ns),
      shard_count_(shard_count),
      bell_(bell),
      producer_bells_(std::move(producer_bells)) {
  COFFER_ASSERT(!producer_bells_.empty());
  for (size_t p = 0; p < producer_bells_.size(); ++p) {
    lanes_.push_back(std::make_unique<Lane>());
  }
  thread_ = std::thread([this] { Run(); });
  NameThread(thread_, "coffer-snapshot");
}

SnapshotWriter::~SnapshotWriter() {
  if (thread_.joinable()) thread_.join();
  // Blocks pushed after a failure was reported cannot exist (Finish comes
  // last), but free whatever a lane still holds.
  for (auto& lane : lanes_) {
    std::string* block = nullptr;
    while (lane->queue.pop(block)) delete block;
  }
}

bool SnapshotWriter::TryPush(uint32_t producer, std::string&& block) {
  COFFER_ASSERT(producer < lanes_.size());
  Lane& lane = *lanes_[producer];
  COFFER_ASSERT_MSG(!lane.finished.load(std::memory_order_relaxed),
                    "a snapshot block after its producer finished");
  if (lane.queue.write_available() == 0) return false;
  auto* owned = new std::string(std::move(block));
  const bool pushed = lane.queue.push(owned);
  COFFER_ASSERT(pushed);  // one producer: room seen above stays
  wake_.Ring();
  return true;
}

void SnapshotWriter::Finish(uint32_t producer) {
  COFFER_ASSERT(producer < lanes_.size());
  Lane& lane = *lanes_[producer];
  Doorbell* owner = bell_;  // read now: after the release `this` may be gone
  lane.finished.store(true, std::memory_order_release);
  wake_.Ring();
  lane.released.store(true, std::memory_order_release);
  owner->Ring();
}

bool SnapshotWriter::released() const {
  for (const auto& lane : lanes_) {
    if (!lane->released.load(std::memory_order_acquire)) return false;
  }
  return true;
}

void SnapshotWriter::Write(std::string_view bytes) {
  if (file_ == nullptr) return;  // failed earlier: drop
  if (absl::Status s = file_->Append(bytes); !s.ok()) {
    status_ = s;
    file_.reset();  // removes the temporary file
    return;
  }
  bytes_written_.store(
      bytes_written_.load(std::memory_order_relaxed) + bytes.size(),
      std::memory_order_relaxed);
}

bool SnapshotWriter::Drain(bool* all_finished) {
  bool took = false;
  *all_finished = true;
  for (size_t p = 0; p < lanes_.size(); ++p) {
    Lane* lane = lanes_[p].get();
    // Read `finished` before the queue: a lane seen finished and then empty
    // has nothing more to come.
    const bool finished = lane->finished.load(std::memory_order_acquire);
    std::string* block = nullptr;
    bool took_here = false;
    while (lane->queue.pop(block)) {
      Write(*block);
      delete block;
      took_here = true;
    }
    if (took_here) {
      producer_bells_[p]->Ring();
      took = true;
    }
    if (!finished || lane->queue.read_available() > 0) *all_finished = false;
  }
  return took;
}

void SnapshotWriter::Run() {
  auto created = wal::SnapshotFileWriter::Create(storage_, dir_, seq_);
  if (created.ok()) {
    file_ = std::move(created).value();
    Write(SnapshotHeaderV2(seq_, last_timestamp_ns_, shard_count_));
  } else {
    status_ = created.status();
  }
  for (;;) {
    bool all_finished = false;
    if (Drain(&all_finished)) continue;
    if (all_finished) break;
    const uint32_t token = wake_.PrepareSleep();
    bool finished_now = false;
    if (!Drain(&finished_now) && !finished_now) wake_.Sleep(token);
    wake_.Awake();
  }
  if (file_ != nullptr) {
    SnapshotBlockBuilder end(SnapshotBlockKind::kEnd, kSnapshotSourceSequencer);
    Write(end.Take());
  }
  if (file_ != nullptr) {
    if (absl::Status s = file_->Finish(); !s.ok()) status_ = s;
    file_.reset();
  }
  done_.store(true, std::memory_order_release);
  bell_->Ring();
}

}  // namespace coffer::internal
