#include "engine/log_thread.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/assert.h"
#include "common/thread_name.h"

namespace coffer::internal {

LogThread::LogThread(std::unique_ptr<wal::LogWriter> writer,
                     Doorbell* sequencer_bell,
                     std::function<void(const absl::Status&)> on_fatal)
    : writer_(std::move(writer)),
      sequencer_bell_(sequencer_bell),
      on_fatal_(std::move(on_fatal)) {
  durable_seq_.store(writer_->durable_seq(), std::memory_order_relaxed);
  for (uint32_t i = 0; i < kChunks; ++i) {
    chunks_.push_back(std::make_unique<LogChunk>());
    free_.push(chunks_.back().get());
  }
}

LogThread::~LogThread() {
  stop_.store(true, std::memory_order_release);
  bell_.RingAlways();
  if (thread_.joinable()) thread_.join();
}

void LogThread::Start() {
  thread_ = std::thread([this] { Run(); });
  NameThread(thread_, "coffer-log");
}

LogChunk* LogThread::TakeFree() {
  LogChunk* c = nullptr;
  return free_.pop(c) ? c : nullptr;
}

void LogThread::Submit(LogChunk* chunk) {
  // Counted before the push, so that the thread's count down never passes
  // it.
  unsynced_chunks_.fetch_add(1, std::memory_order_relaxed);
  const bool pushed = filled_.push(chunk);
  COFFER_ASSERT_MSG(pushed, "more than kChunks log chunks in flight");
  bell_.Ring();
}

void LogThread::Run() {
  std::vector<LogChunk*> batch;
  batch.reserve(kChunks);
  for (;;) {
    LogChunk* c;
    while (filled_.pop(c)) batch.push_back(c);
    if (batch.empty()) {
      if (stop_.load(std::memory_order_acquire)) return;
      const uint32_t token = bell_.PrepareSleep();
      if (filled_.read_available() == 0 &&
          !stop_.load(std::memory_order_acquire)) {
        bell_.Sleep(token);
      }
      bell_.Awake();
      continue;
    }
    const auto handed = static_cast<uint32_t>(batch.size());
    const bool synced = WriteAndSync(batch);
    // The writer is the submitter's again once this reaches 0 (release:
    // after this thread's last use of it), so the bell rings after it.
    COFFER_ASSERT(unsynced_chunks_.load(std::memory_order_relaxed) >= handed);
    unsynced_chunks_.fetch_sub(handed, std::memory_order_release);
    if (synced) sequencer_bell_->Ring();
  }
}

void LogThread::SyncNow(LogChunk* chunk) {
  COFFER_ASSERT_MSG(idle(), "inline log sync while the log thread has chunks");
  inline_batch_.assign(1, chunk);
  if (WriteAndSync(inline_batch_)) sequencer_bell_->Ring();
}

bool LogThread::WriteAndSync(std::vector<LogChunk*>& batch) {
  if (failed_.load(std::memory_order_relaxed)) {
    // Dead: keep recycling chunks so the sequencer never blocks, but
    // never write or acknowledge again.
    for (LogChunk* done : batch) {
      done->Clear();
      free_.push(done);
    }
    batch.clear();
    return false;
  }
  absl::Status status;
  uint64_t last = 0, count = 0, ops = 0;
  const uint64_t started_ns = SteadyNowNs();
  for (LogChunk* chunk : batch) {
    for (const LogChunk::Span& s : chunk->records) {
      if (!status.ok()) break;
      // The sequencer logs every ordered seq once, in order: a gap or an
      // overlap here would make recovery stop or replay twice. (The
      // writer refuses it too, but as an I/O error that only stops
      // acknowledging; this is a bug and stops the process.)
      COFFER_ASSERT_MSG(s.first_seq == writer_->appended_seq() + 1,
                        "log append out of seq order");
      COFFER_ASSERT(s.last_seq >= s.first_seq);
      status = writer_->Append(
          wal::RecordType::kTransactions, s.first_seq, s.last_seq,
          std::string_view(chunk->bytes).substr(s.offset, s.size));
      last = s.last_seq;
      ++count;
      ops += s.last_seq - s.first_seq + 1;
    }
  }
  if (status.ok()) status = writer_->Sync();
  if (!status.ok()) {
    failed_.store(true, std::memory_order_release);
    on_fatal_(absl::Status(
        status.code(), absl::StrCat("write-ahead log: ", status.message())));
  } else {
    // Recorded before durable_seq moves, so that whoever sees a request
    // released also sees the sync that covered it.
    fsync_ns_.RecordInterval(started_ns, SteadyNowNs());
    batch_ops_.Record(ops);
    durable_seq_.store(last, std::memory_order_release);
    syncs_.store(syncs_.load(std::memory_order_relaxed) + 1,
                 std::memory_order_relaxed);
    records_.store(records_.load(std::memory_order_relaxed) + count,
                   std::memory_order_relaxed);
  }
  for (LogChunk* done : batch) {
    done->Clear();
    free_.push(done);
  }
  batch.clear();
  return status.ok();
}

}  // namespace coffer::internal
