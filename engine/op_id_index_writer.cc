#include "engine/op_id_index_writer.h"

#include "common/thread_name.h"
#include "engine/fail_stop.h"

namespace coffer::internal {

OpIdIndexWriter::OpIdIndexWriter(
    OpIdIndex* index, Doorbell* sequencer_bell,
    std::function<void(const absl::Status&)> on_fatal)
    : index_(index),
      sequencer_bell_(sequencer_bell),
      on_fatal_(std::move(on_fatal)) {
  written_seq_.store(index->covered_seq(), std::memory_order_relaxed);
  thread_ = std::thread([this] { Run(); });
  NameThread(thread_, "coffer-opidx");
}

OpIdIndexWriter::~OpIdIndexWriter() {
  stop_.store(true, std::memory_order_release);
  bell_.RingAlways();
  thread_.join();
}

bool OpIdIndexWriter::TryHand(std::unique_ptr<Batch>& batch) {
  if (!queue_.push(batch.get())) return false;
  (void)batch.release();  // the writer thread owns it now
  bell_.Ring();
  return true;
}

void OpIdIndexWriter::Run() {
  for (;;) {
    Batch* raw = nullptr;
    if (queue_.pop(raw)) {
      std::unique_ptr<Batch> batch(raw);
      absl::Status s =
          index_->Add(batch->records, batch->covered_seq, batch->now_ns);
      if (!s.ok()) FailStop(on_fatal_, s);
      written_seq_.store(batch->covered_seq, std::memory_order_release);
      sequencer_bell_->Ring();
      continue;
    }
    // Everything handed over is written: stop now if asked.
    if (stop_.load(std::memory_order_acquire)) return;
    const uint32_t token = bell_.PrepareSleep();
    if (queue_.read_available() == 0 &&
        !stop_.load(std::memory_order_acquire)) {
      bell_.Sleep(token);
    }
    bell_.Awake();
  }
}

}  // namespace coffer::internal
