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
    : config_(config), submit_(std::move(submit)), started_(started) {}

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

absl::StatusOr<wal::ReadReport> LogReplay::Run(uint64_t after_seq,
                                               RecoveryReport* report) {
  wal::Storage* storage = config_.storage;
  progress_.snapshot_seq = after_seq;
  absl::StatusOr<uint64_t> claimed =
      wal::EstimateLastSeq(storage, config_.data_dir);
  if (!claimed.ok()) return claimed.status();
  progress_.ops_total = *claimed > after_seq ? *claimed - after_seq : 0;
  replay_started_ = last_report_ = std::chrono::steady_clock::now();
  MaybeReport(RecoveryProgress::Phase::kReplaying, /*force=*/true);

  // A few requests in flight, several log records merged into each.
  constexpr uint32_t kInFlight = 16;
  // Admission takes a request only if its ops fit ops_in_flight_max: a
  // replay request never holds more (a log record holds at most
  // request_ops_max <= ops_in_flight_max ops).
  const size_t ops_per_request =
      std::min<size_t>(4096, config_.ops_in_flight_max);
  std::vector<std::unique_ptr<Request>> requests;
  boost::lockfree::spsc_queue<Request*> free_requests(kInFlight);
  for (uint32_t i = 0; i < kInFlight; ++i) {
    requests.push_back(std::make_unique<Request>());
    Request* r = requests.back().get();
    r->kind = RequestKind::kReplay;
    r->on_complete = [&free_requests](Request& done) {
      free_requests.push(&done);  // on the sequencer thread
    };
    free_requests.push(r);
  }
  auto take = [&] {
    Request* r = nullptr;
    while (!free_requests.pop(r)) std::this_thread::yield();
    r->ops.clear();
    r->internal.replay.clear();
    return r;
  };
  Request* current = nullptr;
  auto flush = [&] {
    if (current != nullptr) submit_(current);
    current = nullptr;
  };

  uint64_t expect = after_seq + 1;
  LoggedRequest decoded;
  wal::ReadOptions options;
  options.repair = config_.wal_repair;
  options.storage = storage;
  options.from_seq = expect;
  options.skip_covered_segments = true;
  auto read = wal::ReadLog(
      config_.data_dir, options,
      [&](const wal::Record& record) -> absl::Status {
        if (record.type != wal::RecordType::kTransactions) {
          return absl::DataLossError(absl::StrCat(
              "log record at seq ", record.first_seq, " has unknown type ",
              static_cast<int>(record.type)));
        }
        if (record.first_seq != expect) {
          return absl::DataLossError(absl::StrCat(
              "log record starts at seq ", record.first_seq,
              " but the recovered state ends at seq ", expect - 1,
              ": records are missing (snapshot or segments removed?)"));
        }
        if (absl::Status s = DecodeRequest(record.payload, record.first_seq,
                                           record.last_seq, &decoded);
            !s.ok()) {
          return absl::DataLossError(absl::StrCat(
              "log record at seq ", record.first_seq, ": ", s.message()));
        }
        if (current != nullptr &&
            current->ops.size() + decoded.ops.size() > ops_per_request) {
          flush();
        }
        if (current == nullptr) current = take();
        const auto base = static_cast<uint32_t>(current->ops.size());
        current->ops.insert(current->ops.end(), decoded.ops.begin(),
                            decoded.ops.end());
        for (LoggedTxn t : decoded.txns) {
          t.op_begin += base;
          current->internal.replay.push_back(t);
        }
        expect = record.last_seq + 1;
        ++report->log_records;
        report->log_ops += decoded.ops.size();
        if (current->ops.size() >= ops_per_request) flush();
        // Handed to the pipeline: at most kInFlight requests ahead of what
        // is applied.
        progress_.ops_replayed = report->log_ops;
        MaybeReport(RecoveryProgress::Phase::kReplaying, /*force=*/false);
        return absl::OkStatus();
      });
  flush();
  // Wait until every replay request is answered (they reference locals).
  for (uint32_t i = 0; i < kInFlight; ++i) take();
  report->last_seq = expect - 1;
  if (read.ok()) {
    // The estimate may have been off (a torn tail): the end is exact.
    progress_.ops_total = report->log_ops;
    MaybeReport(RecoveryProgress::Phase::kReplayed, /*force=*/true);
  }
  return read;
}

}  // namespace coffer::internal
