// Connection, handle: frames to engine requests, and their completions.
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "net/auth.h"
#include "net/connection.h"
#include "net/connection_internal.h"

namespace coffer::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using connection_internal::kDigestReplyEstimateBytes;
using connection_internal::kFreeSlotsKept;
using connection_internal::KindName;
using connection_internal::kRequestOverheadBytes;
using connection_internal::kRetryFirst;
using connection_internal::kRetryMax;
using connection_internal::ShrinkIfLarge;

bool Connection::HandleFrame(const FrameHeader& h,
                             std::span<const uint8_t> body) {
  if (BodyChecksum(body) != h.body_xxh3) {
    Fail(ErrorCode::kBadChecksum, h.request_id,
         absl::StrCat("body checksum 0x", absl::Hex(BodyChecksum(body)),
                      " differs from header's 0x", absl::Hex(h.body_xxh3)));
    return false;
  }
  const auto kind = static_cast<MessageKind>(h.kind);
  if (kind == MessageKind::kHello) {
    HandleHello(h, body);
    return state_ == State::kOpen;
  }
  if (h.request_id == 0) {
    Fail(ErrorCode::kInvalidField, 0, "request_id 0 is reserved");
    return false;
  }
  if (in_flight_ids_.contains(h.request_id)) {
    Fail(ErrorCode::kDuplicateRequestId, h.request_id,
         absl::StrCat("request_id ", h.request_id, " is already in flight"));
    return false;
  }
  switch (kind) {
    case MessageKind::kPing:
      EncodeFrame(h.request_id, Pong{}, out_, version_);
      shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
      MaybeWrite();
      return true;
    case MessageKind::kStats:
      HandleStats(h.request_id);
      return true;
    case MessageKind::kStages:
      HandleStages(h.request_id);
      return true;
    case MessageKind::kDisk:
      HandleDisk(h.request_id);
      return true;
    case MessageKind::kBackup:
      HandleBackup(h, body);
      return state_ == State::kOpen;
    default:
      HandleEngineRequest(h, body);
      return state_ == State::kOpen;
  }
}

void Connection::HandleHello(const FrameHeader& h,
                             std::span<const uint8_t> body) {
  Message m;
  Problem problem;
  if (!DecodeBody(h, body, &m, &problem)) {
    Fail(problem.code, h.request_id, std::move(problem.message));
    return;
  }
  const Hello& hello = std::get<Hello>(m);
  const uint16_t server_min = shared_.config.protocol_version_min;
  const uint16_t low = std::max(hello.min_version, server_min);
  const uint16_t high = std::min(hello.max_version, kVersionMax);
  if (low > high) {
    Fail(ErrorCode::kUnsupportedVersion, h.request_id,
         absl::StrCat("client speaks versions ", hello.min_version, "..",
                      hello.max_version, ", server ", server_min, "..",
                      kVersionMax));
    return;
  }
  if (!shared_.config.auth_token.empty() &&
      !ConstantTimeEquals(hello.auth_token, shared_.config.auth_token)) {
    Fail(ErrorCode::kAuthFailed, h.request_id, "wrong auth token");
    return;
  }
  version_ = high;
  state_ = State::kOpen;
  HelloOk ok = shared_.hello_ok;
  ok.version = version_;
  EncodeFrame(h.request_id, ok, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleStats(uint64_t request_id) {
  StatsReply reply;
  reply.engine = shared_.engine->Stats();
  reply.server = shared_.Counters();
  EncodeFrame(request_id, reply, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleStages(uint64_t request_id) {
  StagesReply reply;
  for (const StageSnapshot& s : shared_.Stages()) {
    const HistogramSnapshot& h = s.histogram;
    reply.stages.push_back({static_cast<uint16_t>(s.stage), h.count,
                            h.Quantile(0.50), h.Quantile(0.99),
                            h.Quantile(0.999), h.max});
  }
  EncodeFrame(request_id, reply, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleDisk(uint64_t request_id) {
  // A directory listing and a stat per file, here on the io thread rather
  // than handed to the engine: the data directory holds a few hundred files
  // at most (segments of 64 MiB), and this is an operator's request.
  absl::StatusOr<std::vector<DiskAreaUsage>> usage =
      shared_.engine->MeasureDisk();
  if (usage.ok()) {
    EncodeFrame(request_id, DiskReply{std::move(usage).value()}, out_,
                version_);
  } else {
    EncodeError(request_id, ErrorCode::kInternal, 0,
                absl::StrCat("measuring the data directory: ",
                             usage.status().message()),
                out_, version_);
  }
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleBackup(const FrameHeader& h,
                              std::span<const uint8_t> body) {
  Message m;
  Problem problem;
  if (!DecodeBody(h, body, &m, &problem)) {
    Fail(problem.code, h.request_id, std::move(problem.message));
    return;
  }
  const uint64_t id = h.request_id;
  const uint64_t cost = kHeaderBytes + h.body_bytes + kBackupReplyBytes;
  // The reference moves into the posted handler: the backup's thread keeps
  // none, so the connection is never destroyed there, after the io
  // context it belongs to (ASan saw that once when a shutdown's pool was
  // destroyed while the thread was ending).
  auto done = [self = shared_from_this(), id,
               cost](absl::StatusOr<BackupResult> result) mutable {
    auto executor = self->socket_.get_executor();
    asio::post(executor, [self = std::move(self), id, cost,
                          result = std::move(result)]() mutable {
      self->OnBackupDone(id, cost, std::move(result));
    });
  };
  const BackupRunner::Start started = shared_.backups.TryStart(
      std::move(std::get<BackupRequest>(m).dir), std::move(done));
  if (started != BackupRunner::Start::kStarted) {
    EncodeBackupAnswer(id, absl::FailedPreconditionError(
                               started == BackupRunner::Start::kBusy
                                   ? "another backup is running (one at a "
                                     "time); try again when it has ended"
                                   : "the server is shutting down"));
    MaybeWrite();
    return;
  }
  // In flight like an engine request until answered: draining waits for
  // it, and the idle timer does not close a connection waiting for a long
  // copy.
  ++in_flight_;
  in_flight_bytes_ += cost;
  in_flight_ids_.insert(id);
}

void Connection::OnBackupDone(uint64_t request_id, uint64_t cost,
                              absl::StatusOr<BackupResult> result) {
  --in_flight_;
  in_flight_bytes_ -= cost;
  in_flight_ids_.erase(request_id);
  if (state_ == State::kOpen || state_ == State::kDraining) {
    EncodeBackupAnswer(request_id, result);
  }
  if (state_ == State::kClosed) return;
  ProcessFrames();
  MaybeWrite();
  MaybeRead();
  TryFinish();
}

void Connection::EncodeBackupAnswer(
    uint64_t request_id, const absl::StatusOr<BackupResult>& result) {
  if (result.ok()) {
    BackupReply reply;
    reply.seq = result->seq;
    reply.snapshot_seq = result->snapshot_seq;
    reply.files = result->files;
    reply.bytes = result->bytes;
    reply.duration_us = static_cast<uint64_t>(result->seconds * 1e6);
    EncodeFrame(request_id, reply, out_, version_);
  } else {
    EncodeError(request_id, ErrorCode::kBackupFailed, 0,
                std::string(result.status().message()), out_, version_);
  }
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
}

void Connection::HandleEngineRequest(const FrameHeader& h,
                                     std::span<const uint8_t> body) {
  const auto kind = static_cast<MessageKind>(h.kind);
  uint64_t reply_bytes = kHeaderBytes;
  Slot* slot = nullptr;
  switch (kind) {
    case MessageKind::kOps:
    case MessageKind::kLookup: {
      if (h.count > shared_.ops_max) {
        Fail(ErrorCode::kInvalidField, h.request_id,
             absl::StrCat(KindName(h.kind), " count ", h.count,
                          " above max_ops_per_request ", shared_.ops_max));
        return;
      }
      slot = TakeSlot();
      if (kind == MessageKind::kOps) {
        slot->request.kind = RequestKind::kOps;
        // Version 1 carries no issue time: issued_ns is 0 (unknown).
        DecodeOpsBody(version_, body, &slot->request.ops,
                      &slot->request.issued_ns);
        reply_bytes += uint64_t{h.count} * kOpResultBytes;
      } else {
        slot->request.kind = RequestKind::kLookup;
        DecodeAccountIds(body, &slot->request.lookup_ids);
        reply_bytes +=
            kLookupReplyFixedBytes + uint64_t{h.count} * kAccountInfoBytes;
      }
      break;
    }
    case MessageKind::kHistory: {
      Message m;
      Problem problem;
      if (!DecodeBody(h, body, &m, &problem)) {
        Fail(problem.code, h.request_id, std::move(problem.message));
        return;
      }
      const HistoryRequest& q = std::get<HistoryRequest>(m);
      if (q.limit > shared_.history_limit_max) {
        Fail(ErrorCode::kInvalidField, h.request_id,
             absl::StrCat("history limit ", q.limit, " above ",
                          shared_.history_limit_max));
        return;
      }
      slot = TakeSlot();
      slot->request.kind = RequestKind::kHistory;
      slot->request.history_account = q.account_id;
      slot->request.history_before = q.before;
      slot->request.history_limit = q.limit;
      slot->request.history_filter = q.filter;
      reply_bytes +=
          kHistoryReplyFixedBytes + uint64_t{q.limit} * kHistoryEntryBytes;
      break;
    }
    case MessageKind::kDigest:
      slot = TakeSlot();
      slot->request.kind = RequestKind::kDigest;
      reply_bytes += kDigestReplyFixedBytes + kDigestReplyEstimateBytes;
      break;
    default:
      Fail(ErrorCode::kUnknownKind, h.request_id,
           absl::StrCat("kind ", h.kind, " is not a request kind"));
      return;
  }
  slot->request_id = h.request_id;
  slot->request.received_ns = frame_received_ns_;
  slot->cost_bytes =
      kHeaderBytes + h.body_bytes + reply_bytes + kRequestOverheadBytes;
  slot->first_try = Clock::now();
  ++in_flight_;
  in_flight_bytes_ += slot->cost_bytes;
  in_flight_ids_.insert(h.request_id);
  ServerShared::RaiseTo(shared_.requests_in_flight_max, in_flight_);
  ServerShared::RaiseTo(shared_.bytes_in_flight_max, in_flight_bytes_);
  // Requests reach the engine in the order they arrived: a new one waits
  // behind any that are waiting for queue space.
  submit_queue_.push_back(slot);
  if (!retry_armed_) SubmitQueued();
}

// ---- Engine hand-off
// -------------------------------------------------------------

Connection::Slot* Connection::TakeSlot() {
  if (!free_slots_.empty()) {
    Slot* s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.push_back(std::make_unique<Slot>());
  Slot* s = slots_.back().get();
  // Runs on an engine thread: no I/O here, only a hand-off to this
  // connection's io thread, batched with the other completions of the same
  // pass (net/reply_inbox.h). The slot's keep_alive keeps the connection
  // alive until RunCompletion takes it.
  ReplyInbox* inbox = inbox_;
  s->request.on_complete = [s, inbox](Request&) {
    inbox->Push({&Connection::RunCompletion, s});
  };
  return s;
}

void Connection::RunCompletion(void* arg) {
  Slot* s = static_cast<Slot*>(arg);
  std::shared_ptr<Connection> self = std::move(s->keep_alive);
  self->OnEngineDone(s);
}

void Connection::ReleaseSlot(Slot* slot) {
  Request& r = slot->request;
  ShrinkIfLarge(r.ops);
  ShrinkIfLarge(r.results);
  ShrinkIfLarge(r.lookup_ids);
  ShrinkIfLarge(r.accounts);
  ShrinkIfLarge(r.history);
  ShrinkIfLarge(r.currency_totals);
  r.history_account = 0;
  r.history_before = 0;
  r.history_filter = {};
  r.history_next_before = 0;
  r.issued_ns = 0;
  r.history_found = false;
  r.digest = {};
  r.seq = 0;
  if (free_slots_.size() < kFreeSlotsKept) {
    free_slots_.push_back(slot);
    return;
  }
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [slot](const auto& s) { return s.get() == slot; });
  std::iter_swap(it, slots_.end() - 1);
  slots_.pop_back();
}

void Connection::SubmitQueued() {
  while (!submit_queue_.empty()) {
    Slot* slot = submit_queue_.front();
    slot->keep_alive = shared_from_this();
    const SubmitResult r = shared_.TrySubmit(&slot->request);
    if (r == SubmitResult::kAccepted) {
      inbox_->Expect();  // its on_complete pushes to inbox_
      submit_queue_.pop_front();
      retry_delay_ = std::chrono::microseconds(0);
      continue;
    }
    slot->keep_alive.reset();
    if (r == SubmitResult::kQueueFull) {
      shared_.submit_retries.fetch_add(1, std::memory_order_relaxed);
      if (Clock::now() - slot->first_try <
          std::chrono::milliseconds(shared_.config.submit_retry_ms)) {
        ArmRetry();
        return;
      }
    }
    // Answered here, not applied: busy (queue stayed full), shutting down
    // (engine closed), or internal (the engine refused the request's shape,
    // which the checks above should make impossible).
    submit_queue_.pop_front();
    --in_flight_;
    in_flight_bytes_ -= slot->cost_bytes;
    in_flight_ids_.erase(slot->request_id);
    const uint64_t id = slot->request_id;
    ReleaseSlot(slot);
    switch (r) {
      case SubmitResult::kQueueFull:
        shared_.busy_replies.fetch_add(1, std::memory_order_relaxed);
        EncodeError(id, ErrorCode::kBusy, 0,
                    absl::StrCat("engine queue full for ",
                                 shared_.config.submit_retry_ms,
                                 " ms; not applied, retry"),
                    out_, version_);
        break;
      case SubmitResult::kClosed:
        Fail(ErrorCode::kShuttingDown, id, "the engine is shutting down",
             /*protocol_error=*/false);
        return;
      default:
        EncodeError(id, ErrorCode::kInternal, 0,
                    absl::StrCat("engine refused the request (",
                                 static_cast<int>(r), "); not applied"),
                    out_, version_);
        break;
    }
    shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
    MaybeWrite();
  }
}

void Connection::ArmRetry() {
  retry_armed_ = true;
  retry_delay_ = retry_delay_.count() == 0
                     ? kRetryFirst
                     : std::min(retry_delay_ * 2, kRetryMax);
  retry_timer_.expires_after(retry_delay_);
  retry_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        self->retry_armed_ = false;
        if (ec || self->state_ == State::kClosed) return;
        self->SubmitQueued();
        self->ProcessFrames();
        self->MaybeWrite();
        self->MaybeRead();
        self->TryFinish();
      });
}

void Connection::OnEngineDone(Slot* slot) {
  --in_flight_;
  in_flight_bytes_ -= slot->cost_bytes;
  in_flight_ids_.erase(slot->request_id);
  if (state_ == State::kOpen || state_ == State::kDraining) {
    EncodeReply(*slot);
    shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
    if (stages_ != nullptr && slot->request.released_ns != 0) {
      out_stamps_.push_back(
          {slot->request.received_ns, slot->request.released_ns});
    }
  }
  ReleaseSlot(slot);
  if (state_ == State::kClosed) return;
  ProcessFrames();
  MaybeWrite();
  MaybeRead();
  TryFinish();
}

}  // namespace coffer::net
