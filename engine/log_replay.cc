#include "engine/log_replay.h"

#include <algorithm>
#include <boost/lockfree/spsc_queue.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/log_codec.h"
#include "engine/request.h"

namespace coffer::internal {
namespace {

double SecondsBetween(std::chrono::steady_clock::time_point from,
                      std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

LogReplay::LogReplay(const EngineConfig& config,
                     std::function<void(Request*)> submit,
                     std::chrono::steady_clock::time_point started)
    : config_(config),
      submit_(std::move(submit)),
      started_(started),
      // Admission takes a request only if its ops fit ops_in_flight_max: a
      // replay request never holds more (a log record holds at most
      // request_ops_max <= ops_in_flight_max ops).
      ops_per_request_(std::min<size_t>(4096, config.ops_in_flight_max)) {}

void LogReplay::MaybeReport(RecoveryProgress::Phase phase, bool force) {
  if (!config_.on_recovery_progress) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force &&
      now - last_report_ <
          std::chrono::milliseconds(config_.recovery_progress_interval_ms)) {
    return;
  }
  progress_.phase = phase;
  progress_.seconds = SecondsBetween(started_, now);
  progress_.replay_seconds = SecondsBetween(replay_started_, now);
  const bool whole = phase == RecoveryProgress::Phase::kReplayed;
  const double interval_s =
      whole ? progress_.replay_seconds : SecondsBetween(last_report_, now);
  const uint64_t interval_ops =
      progress_.ops_replayed - (whole ? 0 : last_report_ops_);
  progress_.ops_per_s = interval_s > 0 ? interval_ops / interval_s : 0;
  last_report_ = now;
  last_report_ops_ = progress_.ops_replayed;
  config_.on_recovery_progress(progress_);
}

LogReplay::Pool::Pool() {
  for (uint32_t i = 0; i < kInFlight; ++i) {
    requests_.push_back(std::make_unique<Request>());
    Request* r = requests_.back().get();
    r->kind = RequestKind::kReplay;
    r->on_complete = [this](Request& done) {
      free_.push(&done);  // on the sequencer thread
    };
    free_.push(r);
  }
}

Request* LogReplay::Pool::Take() {
  Request* r = nullptr;
  while (!free_.pop(r)) std::this_thread::yield();
  r->ops.clear();
  r->internal.replay.clear();
  return r;
}

void LogReplay::Pool::WaitForAll() {
  // Taken for good: the sequencer is the queue's only producer.
  for (uint32_t i = 0; i < kInFlight; ++i) Take();
}

void LogReplay::Flush() {
  if (current_ != nullptr) submit_(current_);
  current_ = nullptr;
}

absl::Status LogReplay::Add(const wal::Record& record, RecoveryReport* report) {
  if (record.type != wal::RecordType::kTransactions) {
    return absl::DataLossError(
        absl::StrCat("log record at seq ", record.first_seq,
                     " has unknown type ", static_cast<int>(record.type)));
  }
  if (record.first_seq != expect_) {
    return absl::DataLossError(
        absl::StrCat("log record starts at seq ", record.first_seq,
                     " but the recovered state ends at seq ", expect_ - 1,
                     ": records are missing (snapshot or segments removed?)"));
  }
  if (absl::Status s = DecodeRequest(record.payload, record.first_seq,
                                     record.last_seq, &decoded_);
      !s.ok()) {
    return absl::DataLossError(absl::StrCat(
        "log record at seq ", record.first_seq, ": ", s.message()));
  }
  if (current_ != nullptr &&
      current_->ops.size() + decoded_.ops.size() > ops_per_request_) {
    Flush();
  }
  if (current_ == nullptr) current_ = pool_.Take();
  const auto base = static_cast<uint32_t>(current_->ops.size());
  current_->ops.insert(current_->ops.end(), decoded_.ops.begin(),
                       decoded_.ops.end());
  for (LoggedTxn t : decoded_.txns) {
    t.op_begin += base;
    current_->internal.replay.push_back(t);
  }
  expect_ = record.last_seq + 1;
  ++report->log_records;
  report->log_ops += decoded_.ops.size();
  if (current_->ops.size() >= ops_per_request_) Flush();
  // Handed to the pipeline: at most Pool::kInFlight requests ahead of what
  // is applied.
  progress_.ops_replayed = report->log_ops;
  MaybeReport(RecoveryProgress::Phase::kReplaying, /*force=*/false);
  return absl::OkStatus();
}

absl::StatusOr<wal::ReadReport> LogReplay::Run(uint64_t after_seq,
                                               RecoveryReport* report) {
  progress_.snapshot_seq = after_seq;
  // Only for the reports: a failure here is the replay's to find.
  absl::StatusOr<uint64_t> claimed =
      wal::EstimateLastSeq(config_.storage, config_.data_dir);
  if (claimed.ok() && *claimed > after_seq) {
    progress_.ops_total = *claimed - after_seq;
  }
  replay_started_ = last_report_ = std::chrono::steady_clock::now();
  MaybeReport(RecoveryProgress::Phase::kReplaying, /*force=*/true);

  expect_ = after_seq + 1;
  wal::ReadOptions options;
  options.repair = config_.wal_repair;
  options.storage = config_.storage;
  options.from_seq = expect_;
  options.skip_covered_segments = true;
  auto read = wal::ReadLog(config_.data_dir, options,
                           [&](const wal::Record& record) -> absl::Status {
                             return Add(record, report);
                           });
  Flush();
  // Every replay request answered: they live in the pool.
  pool_.WaitForAll();
  report->last_seq = expect_ - 1;
  if (read.ok()) {
    // The estimate may have been off (a torn tail): the end is exact.
    progress_.ops_total = report->log_ops;
    MaybeReport(RecoveryProgress::Phase::kReplayed, /*force=*/true);
  }
  return read;
}

}  // namespace coffer::internal
